//! The `backfiller` binary: configuration, logging, metrics and the supervisor around
//! [`backfiller::Service`].

use std::process::ExitCode;

use anyhow::Context as _;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: backfiller::Args = runtime::parse_args(backfiller::ALIASES);
    runtime::install_crypto_provider();
    if let Err(e) = runtime::init_logging(&args.common) {
        eprintln!("backfiller: {e}");
        return ExitCode::from(2);
    }
    let mut supervisor = match runtime::Supervisor::new() {
        Ok(supervisor) => supervisor,
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(port) = args.common.metrics_port
        && let Err(e) = supervisor.serve_metrics(port).await
    {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    let settings = backfiller::Settings::from(args.backfill);
    let redis_url = args.common.redis_url;
    let token = supervisor.token();
    tracing::info!(
        consumer = settings.consumer,
        group = settings.group,
        "backfiller starting"
    );
    supervisor.spawn("backfiller", async move {
        let redis = redis::Client::open(redis_url.as_str()).context("REDIS_URL")?;
        let service = backfiller::Service::build(&settings, redis, token.clone())
            .await
            .context("starting the backfiller")?;
        service.run(token).await.context("backfiller stopped")?;
        Ok(())
    });
    supervisor.run().await.into()
}
