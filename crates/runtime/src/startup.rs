//! The start of every long-running stage, written once: the TLS crypto provider, logging, the
//! supervisor and its `/metrics` and `/healthz` endpoint. A binary's `main` then spawns its
//! tasks on the supervisor and returns what [`Supervisor::run`] ends with.

use std::process::ExitCode;

use crate::{CommonArgs, Supervisor, init_logging, install_crypto_provider};

/// Starts the stage `name` with its common settings. On failure the cause is already reported
/// (on stderr when logging could not start, in the log otherwise) and `Err` holds the exit code
/// to return: 2 for a logging setting, 1 for anything else.
pub async fn start_stage(name: &str, common: &CommonArgs) -> Result<Supervisor, ExitCode> {
    install_crypto_provider();
    if let Err(e) = init_logging(common) {
        eprintln!("{name}: {e}");
        return Err(ExitCode::from(2));
    }
    let mut supervisor = Supervisor::new().map_err(|e| {
        tracing::error!("{e}");
        ExitCode::FAILURE
    })?;
    if let Some(port) = common.metrics_port
        && let Err(e) = supervisor.serve_metrics(port).await
    {
        tracing::error!("{e}");
        return Err(ExitCode::FAILURE);
    }
    Ok(supervisor)
}
