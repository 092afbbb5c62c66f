//! The run mode: checks the schema, then consumes the selected streams through the consumer
//! group with [`IndexHandler`] until cancelled (SIGTERM drains: batches in flight commit and are
//! acknowledged before the runner returns).

use anyhow::Context as _;
use sqlx::postgres::PgPoolOptions;
use streams::consumer::did_partition;
use streams::{Consumer, ConsumerOptions};
use tokio_util::sync::CancellationToken;
use xrpc::{ClientConfig, IdentityConfig, IdentityResolver, XrpcClient};

use crate::config::{Args, RunArgs};
use crate::handler::IndexHandler;
use crate::schema;
use crate::verify::ResolverVerifier;

/// Runs the indexer until `cancel` fires or something fails.
pub async fn run(args: &Args, cancel: CancellationToken) -> anyhow::Result<()> {
    let streams = args.run.selected_streams();
    anyhow::ensure!(
        !streams.is_empty(),
        "INDEXER_STREAMS has no stream for INDEXER_MODE {:?}",
        args.run.mode
    );
    let options = schema::connect_options(&args.database_url, &args.db_schema)?;
    let pool = PgPoolOptions::new()
        .max_connections(args.run.db_pool_max_size)
        .connect_with(options)
        .await
        .context("connecting to DATABASE_URL")?;
    schema::check_current(&pool, &args.db_schema).await?;

    let client = XrpcClient::new(ClientConfig {
        allow_private_hosts: args.run.allow_private_hosts,
        ..ClientConfig::default()
    })?;
    let mut identity = IdentityConfig::new(args.run.plc_url.clone());
    identity.allow_private_hosts = args.run.allow_private_hosts;
    identity.handle_resolver_url = args.run.handle_resolver_url.clone();
    let verifier = ResolverVerifier::new(IdentityResolver::new(client, identity));

    let redis = redis::Client::open(args.common.redis_url.as_str()).context("REDIS_URL")?;
    let resync = streams::connection::command_connection(&redis)
        .await
        .context("connecting to Redis")?;
    let consumer_name = args
        .run
        .consumer
        .clone()
        .unwrap_or_else(runtime::default_consumer_name);
    let options = consumer_options(&args.run, consumer_name, &streams);
    tracing::info!(
        streams = ?streams,
        group = options.group,
        consumer = options.consumer,
        calls = options.concurrency,
        held = options.max_buffered,
        "indexer starting"
    );
    let handler = IndexHandler::with_writers(
        pool.clone(),
        verifier,
        Some(resync),
        args.run.writers as usize,
        args.run.max_transaction as usize,
    );
    let result = Consumer::new(redis, options, handler)
        .with_partition(did_partition)
        .run(cancel)
        .await
        .context("indexer consumer stopped");
    pool.close().await;
    result
}

/// The consumer runner's settings, sized from the writers.
///
/// Throughput comes from full transactions: each of the `writers` takes whatever handler calls
/// are queued, up to `max_transaction` changes. Under a backlog the runner must therefore hold
/// enough entries to fill every writer's next transaction while the current ones commit (twice
/// `writers × max_transaction`); when idle the same settings hand a single event straight to a
/// writer, so transactions size themselves from what is waiting. `INDEXER_CONCURRENCY` is a floor:
/// with the contract's 50 entries per call, the runner makes as many calls as that hold needs.
pub fn consumer_options(run: &RunArgs, consumer: String, streams: &[String]) -> ConsumerOptions {
    let batch = run.batch_size as usize;
    let hold = (run.writers as usize)
        .saturating_mul(run.max_transaction as usize)
        .saturating_mul(2);
    let mut options = ConsumerOptions::new(&run.group, consumer, streams.iter().cloned());
    options.batch_size = batch;
    options.concurrency = (run.concurrency as usize).max(hold.div_ceil(batch));
    options.read_count = batch.saturating_mul(options.concurrency).max(1);
    // Held entries beyond those in calls only queue up, adding latency for live events waiting
    // behind a backlog: hold what the calls can take, no more.
    options.max_buffered = options.read_count.max(streams.len());
    // A repo's backfill events arrive back to back; one at a time per DID they would make tiny
    // transactions. Runs of a DID go to one call instead, in order (`apply::rounds` keep two
    // writes of one path in order within a batch; a failed entry's later ones are applied again
    // after it, which the rev guard makes a no-op or the same result).
    options.key_run = run.max_transaction as usize;
    options.dlq_max_len = run.dlq_max_len;
    options
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn options_for(args: &[&str]) -> ConsumerOptions {
        let args = Args::try_parse_from(args).expect("arguments parse");
        consumer_options(&args.run, "c".into(), &args.run.selected_streams())
    }

    #[test]
    fn defaults_hold_enough_to_fill_every_writer_twice() {
        // 4 writers × 1,000 changes × 2, in calls of the contract's 50 entries.
        let o = options_for(&["indexer"]);
        assert_eq!((o.batch_size, o.concurrency), (50, 160));
        assert_eq!(
            (o.read_count, o.max_buffered, o.key_run),
            (8_000, 8_000, 1_000)
        );
        o.validate().expect("valid options");
    }

    #[test]
    fn the_concurrency_setting_is_a_floor_and_the_hold_follows_the_writers() {
        let o = options_for(&["indexer", "--concurrency", "400"]);
        assert_eq!((o.concurrency, o.max_buffered), (400, 20_000));
        let o = options_for(&["indexer", "--writers", "1", "--max-transaction", "100"]);
        assert_eq!((o.concurrency, o.max_buffered), (20, 1_000));
    }
}
