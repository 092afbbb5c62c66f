//! Wiring: the HTTP client, the identity resolver, the host gates, the producer and the consumer
//! runner, built from [`Settings`] and run until cancelled.

use std::sync::Arc;

use streams::{Consumer, ConsumerOptions, ProducerOptions};
use tokio_util::sync::CancellationToken;
use xrpc::{ClientConfig, IdentityConfig, IdentityResolver, XrpcClient};

use crate::config::Settings;
use crate::emit::Emitter;
use crate::fetch::{Fetcher, FetcherOptions};
use crate::handler::{Backfiller, Tally};
use crate::hosts::{HostLimits, Hosts};
use crate::requeue::Requeuer;

/// Why the backfiller could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The HTTP client could not be built.
    #[error("building the HTTP client: {0}")]
    Client(#[from] xrpc::XrpcError),
    /// Redis failed (connecting, or a task of the consumer runner).
    #[error("redis: {0}")]
    Streams(#[from] streams::StreamsError),
}

/// A backfiller ready to run.
pub struct Service {
    consumer: Consumer<Backfiller>,
    tally: Arc<Tally>,
}

impl Service {
    /// Builds every part from `settings`; `cancel` stops waits and the consumer.
    pub async fn build(
        settings: &Settings,
        redis: redis::Client,
        cancel: CancellationToken,
    ) -> Result<Self, RunError> {
        let client = XrpcClient::new(ClientConfig {
            read_timeout: settings.http_timeout,
            allow_private_hosts: settings.allow_private_hosts,
            pool_max_idle_per_host: settings.per_host_concurrency.max(1),
            ..ClientConfig::default()
        })?;
        let mut identity = IdentityConfig::new(settings.plc_url.clone());
        identity.allow_private_hosts = settings.allow_private_hosts;
        let resolver = IdentityResolver::new(client.clone(), identity);
        let hosts = Hosts::new(HostLimits {
            concurrency: settings.per_host_concurrency,
            rps: settings.per_host_rps,
            queue: settings.per_host_queue,
        });
        let fetcher = Fetcher::new(
            client,
            resolver,
            hosts,
            FetcherOptions {
                concurrency: settings.concurrency,
                max_repo_bytes: settings.max_repo_bytes,
                memory_budget: settings.repo_memory_budget,
                spill_dir: settings.spill_dir.clone(),
                verify_signatures: !settings.skip_signature_verification,
                overflow_wait: settings.overflow_wait,
                park_hold: settings.park_hold,
            },
        );
        let conn = streams::connection::command_connection(&redis).await?;
        let producer = streams::Producer::new(
            conn.clone(),
            ProducerOptions {
                high_water_mark: settings.high_water_mark,
                ..ProducerOptions::default()
            },
            cancel.clone(),
        );
        let emitter = Emitter::new(producer, &settings.output_stream, settings.emit_chunk);
        let requeuer = Requeuer::new(conn.clone(), &settings.group);
        let handler = Backfiller::new(fetcher, emitter, requeuer, cancel, settings.max_deliveries);
        let tally = handler.tally();
        let consumer = Consumer::new(redis, consumer_options(settings), handler)
            .with_partition(streams::consumer::did_partition);
        Ok(Self { consumer, tally })
    }

    /// What happened to entries so far.
    pub fn tally(&self) -> Arc<Tally> {
        self.tally.clone()
    }

    /// Runs until `cancel` fires (then drains and returns `Ok`) or a task fails. The consumer
    /// runner trims the input stream meanwhile: repos sent to the back of it add entries.
    pub async fn run(self, cancel: CancellationToken) -> Result<(), RunError> {
        self.consumer.run(cancel).await?;
        Ok(())
    }
}

/// The runner's settings. Handler calls are many and cheap (most wait on their host or on a slot
/// among the repos in flight, which the fetcher bounds), so the runner's own concurrency is the
/// number of entries held; that bound is what keeps memory flat.
fn consumer_options(settings: &Settings) -> ConsumerOptions {
    let held = (settings.concurrency * 4)
        .max(settings.batch_size * 2)
        .max(settings.per_host_queue * 2)
        .clamp(64, 10_000);
    let mut o = ConsumerOptions::new(
        settings.group.clone(),
        settings.consumer.clone(),
        [settings.input_stream.clone()],
    );
    o.batch_size = 1;
    o.concurrency = held;
    o.max_buffered = held;
    o.read_count = settings.batch_size;
    o.claim_idle = settings.claim_idle;
    o.claim_interval = (settings.claim_idle / 4).max(std::time::Duration::from_millis(50));
    o.max_deliveries = settings.max_deliveries;
    o.retry_delay = settings.retry_delay;
    o.dlq_max_len = settings.dlq_max_len;
    o
}
