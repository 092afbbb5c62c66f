//! What every pipeline binary shares: command-line and environment configuration, logging, the
//! `/metrics` and `/healthz` endpoint, the task supervisor that turns any task's death into a
//! non-zero exit, and the process-wide TLS crypto provider.
//!
//! A binary's `main` is expected to look like this:
//!
//! ```no_run
//! # use clap::Parser;
//! #[derive(Parser)]
//! struct Args {
//!     #[command(flatten)]
//!     common: runtime::CommonArgs,
//! }
//!
//! #[tokio::main]
//! async fn main() -> std::process::ExitCode {
//!     let args: Args = runtime::parse_args(&[]);
//!     let mut supervisor = match runtime::start_stage("worker", &args.common).await {
//!         Ok(supervisor) => supervisor,
//!         Err(code) => return code,
//!     };
//!     let token = supervisor.token();
//!     supervisor.spawn("worker", async move {
//!         token.cancelled().await;
//!         Ok(())
//!     });
//!     supervisor.run().await.into()
//! }
//! ```

mod aliases;
mod config;
mod crypto;
mod health;
pub mod healthcheck;
mod identity;
mod logging;
mod metrics_server;
mod startup;
mod supervisor;
mod units;

pub use aliases::{EnvAlias, apply_env_aliases};
pub use config::{CommonArgs, LogFormat, parse_args, usage_error};
pub use crypto::install_crypto_provider;
pub use health::Health;
pub use identity::default_consumer_name;
pub use logging::{LoggingError, init_logging};
pub use metrics_server::{MetricsError, MetricsServer, prometheus_handle};
pub use startup::start_stage;
pub use supervisor::{Ended, Supervisor, SupervisorError};
pub use units::{parse_byte_size, parse_duration};

/// Re-exported so binaries name the same token type the supervisor hands out.
pub use tokio_util::sync::CancellationToken;
