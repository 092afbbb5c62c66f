//! The indexer's `streams::Handler`: decodes deliveries of `firehose_live`, `firehose_backfill`
//! and `label_live`, applies them with [`crate::apply::apply_isolated`] through a
//! [`Coalescer`] (concurrent calls share transactions), and answers per entry: done once
//! committed, dead-letter when malformed, retry on database trouble.
//!
//! `identity` events have their handle verified (network I/O) before the transaction starts;
//! `sync` events that need a fresh backfill are queued to `repo_backfill` before they are
//! acknowledged.

use std::sync::Arc;

use redis::aio::ConnectionManager;
use sqlx::PgPool;
use streams::names;
use streams::payloads::{CommitMarker, LabelsEntry, RepoBackfillEntry, StreamEvent};
use streams::{Delivery, Handler, Outcome};

use crate::apply::{Change, Effect, HandleChange, Verdict};
use crate::coalesce::Coalescer;
use crate::verify::HandleVerifier;

/// Transactions written at once by default.
pub const DEFAULT_WRITERS: usize = 4;
/// Most changes merged into one transaction by default.
pub const DEFAULT_MAX_TRANSACTION: usize = 1000;

/// Applies deliveries to PostgreSQL.
pub struct IndexHandler<V> {
    writer: Coalescer,
    verifier: Arc<V>,
    resync: Option<ConnectionManager>,
}

impl<V: HandleVerifier> IndexHandler<V> {
    /// A handler writing to `pool`, verifying handles with `verifier`, and queueing repos that
    /// need a fresh backfill on `resync` (`repo_backfill`); without it they are only logged.
    /// Transactions: [`DEFAULT_WRITERS`] at once, of up to [`DEFAULT_MAX_TRANSACTION`] changes.
    pub fn new(pool: PgPool, verifier: V, resync: Option<ConnectionManager>) -> Self {
        Self::with_writers(
            pool,
            verifier,
            resync,
            DEFAULT_WRITERS,
            DEFAULT_MAX_TRANSACTION,
        )
    }

    /// Like [`IndexHandler::new`], with `writers` transactions at once, each merging the
    /// batches of concurrent calls up to `max_changes` changes.
    pub fn with_writers(
        pool: PgPool,
        verifier: V,
        resync: Option<ConnectionManager>,
        writers: usize,
        max_changes: usize,
    ) -> Self {
        Self {
            writer: Coalescer::new(pool, writers, max_changes),
            verifier: Arc::new(verifier),
            resync,
        }
    }

    /// Turns a delivery into a change, or says what to answer for it right away.
    async fn decode(&self, delivery: &Delivery) -> Result<Change, Outcome> {
        if delivery.stream() == names::LABEL_LIVE {
            return delivery
                .json::<LabelsEntry>()
                .map(Change::Labels)
                .map_err(|e| Outcome::DeadLetter(e.to_string()));
        }
        let event = delivery
            .json::<StreamEvent>()
            .map_err(|e| Outcome::DeadLetter(e.to_string()))?;
        let StreamEvent::Identity(identity) = &event else {
            return Ok(Change::Event(event));
        };
        match self.verifier.verified_handle(&identity.did).await {
            Ok(handle) => Ok(Change::Handle(HandleChange {
                did: identity.did.clone(),
                handle,
                time: identity.time.clone(),
            })),
            Err(e) => Err(Outcome::Retry(e.to_string())),
        }
    }

    /// Queues `did` for a fresh backfill; `Err` says why it could not be.
    async fn queue_resync(&self, sync: Option<&CommitMarker>) -> Result<(), String> {
        let Some(sync) = sync else {
            return Ok(());
        };
        let Some(conn) = &self.resync else {
            tracing::warn!(
                did = sync.did,
                rev = sync.rev,
                "repo needs a resync; no queue set"
            );
            return Ok(());
        };
        let entry = RepoBackfillEntry {
            did: sync.did.clone(),
            // The relay that sent the sync is not in the event; the backfiller resolves the
            // DID to find the PDS anyway.
            host: String::new(),
            rev: sync.rev.clone(),
            status: None,
            active: true,
        };
        let json = serde_json::to_string(&entry).map_err(|e| e.to_string())?;
        let mut conn = conn.clone();
        redis::cmd("XADD")
            .arg(names::REPO_BACKFILL)
            .arg("*")
            .arg(names::FIELD_REPO)
            .arg(json)
            .query_async::<String>(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| format!("queueing {} for resync: {e}", sync.did))
    }
}

impl<V: HandleVerifier> Handler for IndexHandler<V> {
    async fn handle(&self, batch: Vec<Delivery>) -> Vec<Outcome> {
        let mut answers: Vec<Option<Outcome>> = Vec::with_capacity(batch.len());
        let mut changes = Vec::new();
        let mut slots = Vec::new();
        for delivery in &batch {
            match self.decode(delivery).await {
                Ok(change) => {
                    slots.push(answers.len());
                    answers.push(None);
                    changes.push(change);
                }
                Err(outcome) => answers.push(Some(outcome)),
            }
        }
        // Only a sync event can need a resync: keep those (rare, small) and hand the rest over.
        let syncs: Vec<Option<CommitMarker>> = changes
            .iter()
            .map(|change| match change {
                Change::Event(StreamEvent::Sync(sync)) => Some(sync.clone()),
                _ => None,
            })
            .collect();
        let verdicts = self.writer.write(changes).await;
        for ((slot, sync), verdict) in slots.into_iter().zip(&syncs).zip(verdicts) {
            let answer = match verdict {
                Verdict::Done(Effect::Malformed(reason)) => Outcome::DeadLetter(reason),
                Verdict::Done(Effect::NeedsResync) => {
                    match self.queue_resync(sync.as_ref()).await {
                        Ok(()) => Outcome::Done,
                        Err(reason) => Outcome::Retry(reason),
                    }
                }
                Verdict::Done(_) => Outcome::Done,
                Verdict::Failed {
                    transient: true,
                    reason,
                } => Outcome::Retry(reason),
                Verdict::Failed { reason, .. } => Outcome::DeadLetter(reason),
            };
            if let Some(a) = answers.get_mut(slot) {
                *a = Some(answer);
            }
        }
        answers
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Outcome::Retry("no verdict".into())))
            .collect()
    }
}
