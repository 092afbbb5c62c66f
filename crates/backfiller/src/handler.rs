//! The consumer handler: one `repo_backfill` entry in, one verdict out.
//!
//! Every entry ends as emitted, skipped (inactive account) or dead-lettered; on its way it may be
//! retried (a transient failure, counted by the runner) or sent to the back of the stream (its host
//! was busy, or shutdown began while it waited: not counted). [`Tally`] keeps the totals so that
//! operators (and tests) can check that the three outcomes add up to the repos read.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use streams::payloads::RepoBackfillEntry;
use streams::{Delivery, Handler, Outcome};
use tokio_util::sync::CancellationToken;

use crate::emit::{EmitError, Emitter};
use crate::failure::RepoFailure;
use crate::fetch::{FetchOutcome, Fetcher};
use crate::requeue::Requeuer;

/// Totals of what happened to entries, since start.
#[derive(Debug, Default)]
pub struct Tally {
    /// Repos fully emitted.
    pub emitted: AtomicU64,
    /// Entries of inactive accounts, acknowledged without a fetch.
    pub skipped_inactive: AtomicU64,
    /// Entries the handler dead-lettered (permanent failures, or the last delivery failing).
    pub dead_lettered: AtomicU64,
    /// Entries sent to the back of the stream (not final).
    pub requeued: AtomicU64,
    /// Transient failures that will be retried (not final).
    pub retried: AtomicU64,
    /// Records emitted.
    pub records: AtomicU64,
}

impl Tally {
    fn bump(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A consistent-enough snapshot: `(emitted, skipped_inactive, dead_lettered)`.
    pub fn finals(&self) -> (u64, u64, u64) {
        (
            self.emitted.load(Ordering::Relaxed),
            self.skipped_inactive.load(Ordering::Relaxed),
            self.dead_lettered.load(Ordering::Relaxed),
        )
    }
}

/// The backfiller's [`Handler`].
pub struct Backfiller {
    fetcher: Fetcher,
    emitter: Emitter,
    requeuer: Requeuer,
    cancel: CancellationToken,
    max_deliveries: u64,
    tally: Arc<Tally>,
}

impl Backfiller {
    /// A handler that stops waiting (and sends waiting repos back) when `cancel` fires.
    pub fn new(
        fetcher: Fetcher,
        emitter: Emitter,
        requeuer: Requeuer,
        cancel: CancellationToken,
        max_deliveries: u64,
    ) -> Self {
        Self {
            fetcher,
            emitter,
            requeuer,
            cancel,
            max_deliveries,
            tally: Arc::new(Tally::default()),
        }
    }

    /// The totals, shared.
    pub fn tally(&self) -> Arc<Tally> {
        self.tally.clone()
    }

    async fn handle_one(&self, delivery: Delivery) -> Outcome {
        let entry: RepoBackfillEntry = match delivery.json() {
            Ok(entry) => entry,
            Err(e) => return self.dead_letter(format!("malformed repo_backfill entry: {e}")),
        };
        if !entry.active {
            let status = entry.status.unwrap_or_else(|| "inactive".to_owned());
            metrics::counter!("backfiller_repos_total", "outcome" => "skipped_inactive", "status" => status)
                .increment(1);
            Tally::bump(&self.tally.skipped_inactive, 1);
            return Outcome::Done;
        }
        let did = entry.did.as_str();
        let started = std::time::Instant::now();
        let fetched = match self.fetcher.fetch(did, &self.cancel).await {
            FetchOutcome::Loaded(fetched) => fetched,
            FetchOutcome::Overflow { host } => {
                tracing::debug!(did, host, "host queue full; sending the repo to the back");
                return self.requeue(&delivery, "host_busy").await;
            }
            FetchOutcome::Cancelled => return self.requeue(&delivery, "shutdown").await,
            FetchOutcome::Failed(failure) => return self.failed(did, &delivery, failure),
        };
        let host = fetched.host.clone();
        let fetched = *fetched;
        let result = self.emitter.emit(fetched.repo, fetched.fetched_at).await;
        drop(fetched.permit);
        match result {
            Ok(emitted) => {
                metrics::counter!("backfiller_repos_total", "outcome" => "emitted").increment(1);
                // Resolve, fetch, verify and emit: one repo's latency through this stage.
                metrics::histogram!("backfiller_repo_seconds")
                    .record(started.elapsed().as_secs_f64());
                metrics::counter!("backfiller_records_total").increment(emitted.records);
                metrics::counter!("backfiller_host_records_total", "host" => host)
                    .increment(emitted.records);
                Tally::bump(&self.tally.emitted, 1);
                Tally::bump(&self.tally.records, emitted.records);
                tracing::debug!(did, records = emitted.records, "repo emitted");
                Outcome::Done
            }
            Err(EmitError::Cancelled) => self.requeue(&delivery, "shutdown").await,
            Err(EmitError::Failed(failure)) => self.failed(did, &delivery, failure),
        }
    }

    fn failed(&self, did: &str, delivery: &Delivery, failure: RepoFailure) -> Outcome {
        match failure {
            RepoFailure::Permanent(reason) => {
                tracing::info!(did, reason, "repo dead-lettered");
                self.dead_letter(reason)
            }
            RepoFailure::Transient(reason) => {
                if delivery.deliveries() >= self.max_deliveries {
                    // The runner dead-letters a failing entry on its last delivery.
                    Tally::bump(&self.tally.dead_lettered, 1);
                    metrics::counter!("backfiller_repos_total", "outcome" => "dead_lettered")
                        .increment(1);
                    tracing::info!(did, reason, "repo failed on its last delivery");
                } else {
                    Tally::bump(&self.tally.retried, 1);
                    metrics::counter!("backfiller_repo_retries_total").increment(1);
                    tracing::debug!(
                        did,
                        reason,
                        deliveries = delivery.deliveries(),
                        "repo failed; will retry"
                    );
                }
                Outcome::Retry(reason)
            }
        }
    }

    fn dead_letter(&self, reason: String) -> Outcome {
        Tally::bump(&self.tally.dead_lettered, 1);
        metrics::counter!("backfiller_repos_total", "outcome" => "dead_lettered").increment(1);
        Outcome::DeadLetter(reason)
    }

    async fn requeue(&self, delivery: &Delivery, why: &'static str) -> Outcome {
        match self.requeuer.requeue(delivery).await {
            Ok(_) => {
                Tally::bump(&self.tally.requeued, 1);
                metrics::counter!("backfiller_repos_requeued_total", "reason" => why).increment(1);
                Outcome::Done
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not send the entry to the back; retrying it");
                Outcome::Retry(e.to_string())
            }
        }
    }
}

impl Handler for Backfiller {
    async fn handle(&self, batch: Vec<Delivery>) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(batch.len());
        for delivery in batch {
            outcomes.push(self.handle_one(delivery).await);
        }
        outcomes
    }
}
