//! The `backfiller` binary: configuration, logging, metrics and the supervisor around
//! [`backfiller::Service`].

use std::process::ExitCode;

use anyhow::Context as _;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: backfiller::Args = runtime::parse_args(backfiller::ALIASES);
    let mut supervisor = match runtime::start_stage("backfiller", &args.common).await {
        Ok(supervisor) => supervisor,
        Err(code) => return code,
    };
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
