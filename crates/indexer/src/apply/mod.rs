//! The write path: applies a batch of stream changes to the AppView schema in one PostgreSQL
//! transaction, with bulk statements, and says what became of each change.
//!
//! The rules are `docs/schema-notes.md`'s: newest wins by `rev`, with tombstones for deletes
//! and for deleted accounts; an update replaces the previous version's typed rows; duplicates go
//! to `duplicate_record` and the oldest is promoted when its original goes; aggregates are
//! moved by exact deltas once per key per batch; only live events notify, never twice; every DID
//! seen gets an `actor` row and `actor_sync` only moves forward.
//!
//! A batch is split into rounds ([`rounds`]) in which no two changes need ordering, and each
//! round is written with one statement per table. The batch first takes a transaction-scoped
//! advisory lock per DID (sorted, so concurrent batches cannot deadlock on them), which makes the
//! rev guard's read-then-write safe against other indexer processes. A malformed change is left
//! out before anything is written ([`Effect::Malformed`]); [`apply_isolated`] retries a batch
//! that PostgreSQL refuses one change at a time, so one poison change never blocks the others.

mod accounts;
mod aggregates;
mod bulk;
mod deduplicated;
mod error;
mod guard;
mod insert;
mod labels;
mod locks;
mod new_repos;
mod notify;
mod paths;
mod remove;
mod rounds;
mod touched;
mod validate;

pub use error::ApplyError;
pub use labels::label_lock_key;
pub use locks::LABEL_LOCKS;

use protocol::syntax::normalize_datetime;
use sqlx::PgPool;
use streams::payloads::{LabelsEntry, StreamEvent};

use crate::records::InvalidRecord;
use error::Step;
use new_repos::NewRepos;
use paths::PathOp;
use touched::Touched;

/// One change to apply.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A repo event from `firehose_live` or `firehose_backfill`. An `identity` event given
    /// here only makes sure the DID has an `actor` row; its handle must be verified first and
    /// passed as [`Change::Handle`].
    Event(StreamEvent),
    /// The outcome of verifying an `identity` event's handle.
    Handle(HandleChange),
    /// One `#labels` frame from `label_live`.
    Labels(LabelsEntry),
}

/// A DID's handle, verified both ways (or `None`: it has no valid handle now).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandleChange {
    /// The DID.
    pub did: String,
    /// The verified handle, lower-cased, or `None`.
    pub handle: Option<String>,
    /// The identity event's `time`.
    pub time: String,
}

/// What became of one change. Every variant but [`Effect::Malformed`] is durable once
/// [`apply_batch`] returns `Ok`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Written.
    Applied,
    /// Already written exactly so (a replay): nothing changed.
    Unchanged,
    /// Older than what is stored (a newer write, a delete's tombstone, a deleted account):
    /// ignored, by design.
    Stale,
    /// The record was stored in `record`, but fails validation, so it has no typed rows.
    Invalid(InvalidRecord),
    /// A `sync` event newer than what was indexed: the repo needs a fresh backfill.
    NeedsResync,
    /// Cannot be applied at all (bad DID, rev, CID, time, label): nothing was written.
    Malformed(String),
}

impl Effect {
    /// A short label for metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            Effect::Applied => "applied",
            Effect::Unchanged => "unchanged",
            Effect::Stale => "stale",
            Effect::Invalid(_) => "invalid",
            Effect::NeedsResync => "needs_resync",
            Effect::Malformed(_) => "malformed",
        }
    }
}

/// The canonical form of an event time (validated earlier); anything else as given, minus NUL.
pub(crate) fn indexed_at(time: &str) -> String {
    normalize_datetime(time).unwrap_or_else(|| time.replace('\0', ""))
}

/// Applies `changes` in one transaction; one outcome per change, in order. On `Err` nothing
/// was written.
pub async fn apply_batch(pool: &PgPool, changes: &[Change]) -> Result<Vec<Effect>, ApplyError> {
    let mut outcomes: Vec<Effect> = changes
        .iter()
        .map(|c| match validate::problem(c) {
            Some(problem) => Effect::Malformed(problem),
            None => Effect::Applied,
        })
        .collect();
    let valid = |i: usize| !matches!(outcomes.get(i), Some(Effect::Malformed(_)) | None);
    let rounds = rounds::rounds(changes, valid);
    if rounds.is_empty() {
        return Ok(outcomes);
    }
    let mut tx = pool.begin().await.step("beginning a transaction")?;
    let mut dids: Vec<&str> = rounds
        .iter()
        .flatten()
        .filter_map(|&i| match changes.get(i)? {
            Change::Event(e) => Some(e.did()),
            Change::Handle(h) => Some(h.did.as_str()),
            Change::Labels(_) => None,
        })
        .collect();
    dids.sort_unstable();
    dids.dedup();
    locks::lock(&mut tx, locks::DID_LOCKS, &dids, "locking DIDs").await?;
    // Every locked DID is asked about; only record events consult the answer.
    let mut new_repos = NewRepos::read(&mut tx, &dids).await?;

    let mut touched = Touched::default();
    let mut labels = Vec::new();
    for round in &rounds {
        let mut ops = Vec::new();
        for &i in round {
            let Some(change) = changes.get(i) else {
                continue;
            };
            let outcome = match change {
                Change::Event(event) => {
                    if let Some(op) = PathOp::of(i, event) {
                        ops.push(op);
                        continue;
                    }
                    // An account event may raise the DID's tombstone: later rounds must read it.
                    new_repos.written([event.did()]);
                    match event {
                        StreamEvent::Account(e) => {
                            accounts::account(&mut tx, e, &mut touched).await?
                        }
                        StreamEvent::Sync(m) => accounts::sync(&mut tx, m, &mut touched).await?,
                        StreamEvent::Repo(m) => accounts::repo(m, &mut touched),
                        other => {
                            touched.actor(other.did(), &indexed_at(&time_of(other)));
                            Effect::Applied
                        }
                    }
                }
                Change::Handle(h) => accounts::handle(&mut tx, h).await?,
                Change::Labels(entry) => {
                    labels.extend(entry.labels.iter());
                    Effect::Applied
                }
            };
            if let Some(slot) = outcomes.get_mut(i) {
                *slot = outcome;
            }
        }
        paths::apply(&mut tx, &ops, &mut new_repos, &mut outcomes, &mut touched).await?;
    }
    accounts::settle(&mut tx, &touched).await?;
    labels::apply(&mut tx, &labels).await?;
    aggregates::apply(&mut tx, &touched).await?;
    tx.commit().await.step("committing")?;
    for outcome in &outcomes {
        metrics::counter!("indexer_changes_total", "outcome" => outcome.as_str()).increment(1);
    }
    Ok(outcomes)
}

fn time_of(event: &StreamEvent) -> String {
    match event {
        StreamEvent::Create(w) | StreamEvent::Update(w) => w.time.clone(),
        StreamEvent::Delete(d) => d.time.clone(),
        StreamEvent::Identity(e) => e.time.clone(),
        StreamEvent::Account(e) => e.time.clone(),
        StreamEvent::Sync(m) | StreamEvent::Repo(m) => m.time.clone(),
    }
}

/// What became of one change under [`apply_isolated`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Durable (or malformed: see the outcome).
    Done(Effect),
    /// Not written. `transient`: trying again later may work.
    Failed {
        /// Whether the failure may pass (a lost connection, a deadlock).
        transient: bool,
        /// What failed.
        reason: String,
    },
}

/// Applies `changes` as one batch; if PostgreSQL refuses the batch for a reason that will not
/// pass, applies them one at a time (in order), so only the change that fails alone is failed.
pub async fn apply_isolated(pool: &PgPool, changes: &[Change]) -> Vec<Verdict> {
    let failed = |e: &ApplyError| Verdict::Failed {
        transient: e.is_transient(),
        reason: e.to_string(),
    };
    match apply_batch(pool, changes).await {
        Ok(outcomes) => outcomes.into_iter().map(Verdict::Done).collect(),
        Err(e) if e.is_transient() || changes.len() <= 1 => {
            tracing::warn!(error = %e, changes = changes.len(), "batch not written");
            changes.iter().map(|_| failed(&e)).collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, "batch refused; applying its changes one by one");
            let mut verdicts = Vec::with_capacity(changes.len());
            for change in changes {
                verdicts.push(
                    match apply_batch(pool, std::slice::from_ref(change)).await {
                        Ok(mut outcomes) => {
                            Verdict::Done(outcomes.pop().unwrap_or(Effect::Applied))
                        }
                        Err(e) => failed(&e),
                    },
                );
            }
            verdicts
        }
    }
}
