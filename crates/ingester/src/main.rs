//! `ingester`: relays' firehoses, labelers' labels and relays' repo lists into Redis Streams.
//! See the library documentation; `ingester --help` lists every setting.

use std::process::ExitCode;

use ingester::config::{Args, ENV_ALIASES};

// Frames become many short-lived allocations on several threads; glibc's allocator spent about a
// quarter of the firehose path's CPU in profiles, mimalloc a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = runtime::parse_args(ENV_ALIASES);
    let settings = match args.settings() {
        Ok(settings) => settings,
        Err(e) => runtime::usage_error::<Args>(e),
    };
    let mut supervisor = match runtime::start_stage("ingester", &args.common).await {
        Ok(supervisor) => supervisor.with_drain_timeout(settings.drain_timeout),
        Err(code) => return code,
    };
    if let Err(e) = ingester::app::spawn_tasks(&settings, &mut supervisor).await {
        tracing::error!("cannot start: {e}");
        return ExitCode::FAILURE;
    }
    let relays: Vec<String> = settings.relays.iter().map(|h| h.key()).collect();
    let labelers: Vec<String> = settings.labelers.iter().map(|h| h.key()).collect();
    tracing::info!(mode = ?settings.mode, ?relays, ?labelers, list_hosts = settings.list_hosts,
        "ingester started");
    let ended = supervisor.run().await;
    tracing::info!(?ended, "ingester exiting");
    ended.into()
}
