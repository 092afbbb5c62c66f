//! The scheduler: runs handler calls under a concurrency limit, keeps per-key order, retries and
//! dead-letters (contract rules 4 to 7).
//!
//! Entries are handed out as soon as a handler slot is free, in batches of up to `batch_size` from a
//! FIFO of ready entries, so a slow call holds up only its own batch. An entry whose partition key
//! (a DID) already has an entry in work waits behind it: one entry per key is in work at a time, in
//! stream order, including while it waits for a retry. With `key_run` set, the entries waiting
//! behind a key's entry go into the same call (up to `key_run`, in order; such a run may take the
//! call past `batch_size`), and the key is free again once all of them are settled; when one of
//! them fails, the run's later entries are handled again after it, so the last time each entry is
//! handled is still in stream order. Outcomes go to the acker; an entry is acknowledged only
//! when its handler says Done, or after it was dead-lettered.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::task::{Id, JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use super::acker::{DeadLetter, Finish};
use super::commands;
use super::delivery::{Delivery, Outcome};
use super::held::Held;
use super::options::ConsumerOptions;
use super::{Handler, PartitionFn};
use crate::error::{Result, StreamsError};

/// An entry in the scheduler, with its partition key.
struct Item {
    delivery: Delivery,
    key: Option<String>,
}

/// A partition key in work: how many of its entries are in work (ready, in a call, or waiting
/// for a retry), and the entries waiting behind them.
struct KeyState {
    in_work: usize,
    waiting: VecDeque<Item>,
}

/// What a retry task hands back: the item, and its fresh delivery (`None`: no longer pending).
type RetryResult = (Item, Result<Option<Delivery>>);

pub(crate) struct Scheduler<H> {
    handler: Arc<H>,
    options: Arc<ConsumerOptions>,
    partition: Option<PartitionFn>,
    held: Arc<Held>,
    acks: mpsc::Sender<Finish>,
    conn: ConnectionManager,
    ready: VecDeque<Item>,
    /// Keys with entries in work, and the entries waiting behind them.
    active: HashMap<String, KeyState>,
    running: JoinSet<Vec<Outcome>>,
    batches: HashMap<Id, Vec<Item>>,
    retries: JoinSet<RetryResult>,
}

impl<H: Handler> Scheduler<H> {
    pub(crate) fn new(
        handler: Arc<H>,
        options: Arc<ConsumerOptions>,
        partition: Option<PartitionFn>,
        held: Arc<Held>,
        acks: mpsc::Sender<Finish>,
        conn: ConnectionManager,
    ) -> Self {
        Self {
            handler,
            options,
            partition,
            held,
            acks,
            conn,
            ready: VecDeque::new(),
            active: HashMap::new(),
            running: JoinSet::new(),
            batches: HashMap::new(),
            retries: JoinSet::new(),
        }
    }

    /// Runs until the reader is done or `stop` fires, then finishes the handler calls in flight.
    /// Entries not started stay pending in Redis for the next run.
    pub(crate) async fn run(
        mut self,
        mut entries: mpsc::Receiver<Vec<Delivery>>,
        stop: CancellationToken,
    ) -> Result<()> {
        let mut reader_open = true;
        loop {
            let stopping = !reader_open || stop.is_cancelled();
            if stopping {
                if self.running.is_empty() {
                    break;
                }
            } else {
                self.dispatch();
            }
            tokio::select! {
                Some(joined) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                    self.on_batch_done(joined, stopping).await?;
                }
                Some(joined) = self.retries.join_next(), if !self.retries.is_empty() && !stopping => {
                    self.on_retry_ready(joined)?;
                }
                msg = entries.recv(), if !stopping => match msg {
                    Some(batch) => self.ingest(batch).await?,
                    None => reader_open = false,
                },
                () = stop.cancelled(), if !stopping => {}
                else => break,
            }
        }
        self.retries.abort_all();
        Ok(())
    }

    async fn ingest(&mut self, batch: Vec<Delivery>) -> Result<()> {
        for delivery in batch {
            if delivery.is_gone() {
                let reason = "entry was deleted from the stream while pending".to_owned();
                self.finish(&delivery, Some(reason)).await?;
                continue;
            }
            if delivery.deliveries() > self.options.max_deliveries {
                let reason = format!(
                    "delivered {} times without being handled (limit {}); its consumer died or timed out",
                    delivery.deliveries(),
                    self.options.max_deliveries
                );
                self.finish(&delivery, Some(reason)).await?;
                continue;
            }
            let key = self.partition.as_ref().and_then(|f| f(&delivery));
            let item = Item { delivery, key };
            match &item.key {
                Some(key) => match self.active.get_mut(key) {
                    Some(state) => state.waiting.push_back(item),
                    None => {
                        let state = KeyState {
                            in_work: 1,
                            waiting: VecDeque::new(),
                        };
                        self.active.insert(key.clone(), state);
                        self.ready.push_back(item);
                    }
                },
                None => self.ready.push_back(item),
            }
        }
        Ok(())
    }

    fn dispatch(&mut self) {
        while self.running.len() < self.options.concurrency && !self.ready.is_empty() {
            // Ready entries until the batch is full, each with its key's run (if any): a run
            // may take a batch past `batch_size`, up to `key_run` more entries.
            let mut items: Vec<Item> = Vec::with_capacity(self.options.batch_size);
            while items.len() < self.options.batch_size {
                let Some(item) = self.ready.pop_front() else {
                    break;
                };
                let key = item.key.clone();
                items.push(item);
                if let Some(key) = key {
                    self.add_run(&key, &mut items);
                }
            }
            let batch: Vec<Delivery> = items.iter().map(|i| i.delivery.clone()).collect();
            let handler = self.handler.clone();
            let task = self
                .running
                .spawn(async move { handler.handle(batch).await });
            self.batches.insert(task.id(), items);
        }
    }

    /// Adds the entries waiting behind `key` to `items`, in order, up to `key_run` of them.
    fn add_run(&mut self, key: &str, items: &mut Vec<Item>) {
        let Some(state) = self.active.get_mut(key) else {
            return;
        };
        let take = self.options.key_run.min(state.waiting.len());
        state.in_work += take;
        items.extend(state.waiting.drain(..take));
    }

    async fn on_batch_done(
        &mut self,
        joined: std::result::Result<(Id, Vec<Outcome>), JoinError>,
        stopping: bool,
    ) -> Result<()> {
        let (id, outcomes) = match joined {
            Ok((id, outcomes)) => (id, Ok(outcomes)),
            Err(e) => (e.id(), Err(e)),
        };
        let Some(items) = self.batches.remove(&id) else {
            return Ok(());
        };
        let outcomes = match outcomes {
            Ok(o) if o.len() == items.len() => o,
            Ok(o) => {
                let reason = format!(
                    "handler returned {} outcomes for {} entries",
                    o.len(),
                    items.len()
                );
                tracing::error!("{reason}");
                vec![Outcome::Retry(reason); items.len()]
            }
            Err(e) => {
                let reason = if e.is_panic() {
                    "handler panicked".to_owned()
                } else {
                    "handler task was cancelled".to_owned()
                };
                tracing::error!(error = %e, "{reason}");
                vec![Outcome::Retry(reason); items.len()]
            }
        };
        // An entry that failed holds back the later entries of its key in the same call, even
        // those handled: they go back to the front of the key's queue, in order, and are handled
        // again after it, so every key's entries are last applied in stream order. Handlers are
        // idempotent (entries are delivered at least once), so handling them twice is harmless.
        let mut failed: HashSet<String> = HashSet::new();
        let mut held_back: Vec<Item> = Vec::new();
        for (item, outcome) in items.into_iter().zip(outcomes) {
            if let Some(key) = &item.key {
                if failed.contains(key) && !matches!(outcome, Outcome::DeadLetter(_)) {
                    held_back.push(item);
                    continue;
                }
                if matches!(outcome, Outcome::Retry(_)) {
                    failed.insert(key.clone());
                }
            }
            self.settle(item, outcome, stopping).await?;
        }
        if !stopping {
            self.hold_back(held_back);
        }
        Ok(())
    }

    /// Puts `items` back at the front of their keys' queues, in order (see `on_batch_done`).
    fn hold_back(&mut self, items: Vec<Item>) {
        let mut keys = Vec::new();
        for item in items.into_iter().rev() {
            let Some(key) = item.key.clone() else {
                continue;
            };
            if let Some(state) = self.active.get_mut(&key) {
                tracing::debug!(
                    stream = item.delivery.stream(),
                    id = item.delivery.id(),
                    "an earlier entry of its key failed; handling it again after that one"
                );
                state.in_work = state.in_work.saturating_sub(1);
                state.waiting.push_front(item);
                keys.push(key);
            }
        }
        keys.dedup();
        for key in keys {
            self.wake(&key);
        }
    }

    async fn settle(&mut self, item: Item, outcome: Outcome, stopping: bool) -> Result<()> {
        let stream = item.delivery.stream().to_owned();
        let kind = match &outcome {
            Outcome::Done => "done",
            Outcome::Retry(_) => "retry",
            Outcome::DeadLetter(_) => "dead_letter",
        };
        metrics::counter!("streams_entries_handled_total", "stream" => stream.clone(), "outcome" => kind)
            .increment(1);
        match outcome {
            Outcome::Done => self.finish(&item.delivery, None).await?,
            Outcome::DeadLetter(reason) => self.finish(&item.delivery, Some(reason)).await?,
            Outcome::Retry(reason) if item.delivery.deliveries() >= self.options.max_deliveries => {
                let reason = format!(
                    "failed on delivery {} of {}: {reason}",
                    item.delivery.deliveries(),
                    self.options.max_deliveries
                );
                self.finish(&item.delivery, Some(reason)).await?;
            }
            Outcome::Retry(reason) => {
                if stopping {
                    // Left pending: the next run re-reads it (and counts the delivery).
                    return Ok(());
                }
                tracing::debug!(
                    stream,
                    id = item.delivery.id(),
                    deliveries = item.delivery.deliveries(),
                    reason,
                    "entry failed; will retry"
                );
                metrics::counter!("streams_entries_retried_total", "stream" => stream).increment(1);
                self.schedule_retry(item);
                return Ok(());
            }
        }
        self.release_key(item.key);
        Ok(())
    }

    fn schedule_retry(&mut self, item: Item) {
        let delay = self.options.retry_backoff(item.delivery.deliveries());
        let mut conn = self.conn.clone();
        let options = self.options.clone();
        self.retries.spawn(async move {
            tokio::time::sleep(delay).await;
            let fresh = reclaim(&mut conn, &options, &item.delivery).await;
            (item, fresh)
        });
    }

    fn on_retry_ready(
        &mut self,
        joined: std::result::Result<RetryResult, JoinError>,
    ) -> Result<()> {
        let (item, fresh) = joined.map_err(|e| StreamsError::Task {
            task: "retry",
            detail: e.to_string(),
        })?;
        match fresh {
            Ok(Some(delivery)) => {
                // The key stayed active, so entries of the same key still wait behind this one.
                self.ready.push_back(Item {
                    delivery,
                    key: item.key,
                });
            }
            Ok(None) => {
                tracing::info!(
                    stream = item.delivery.stream(),
                    id = item.delivery.id(),
                    "entry no longer pending here (claimed or acknowledged elsewhere)"
                );
                self.held
                    .release(item.delivery.stream_arc(), item.delivery.id_arc());
                self.release_key(item.key);
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not re-claim an entry for retry; trying later");
                self.schedule_retry(item);
            }
        }
        Ok(())
    }

    /// One entry of `key` is settled; when it was the key's last in work, the next one waiting
    /// becomes ready (or the key is free).
    fn release_key(&mut self, key: Option<String>) {
        let Some(key) = key else { return };
        let Some(state) = self.active.get_mut(&key) else {
            return;
        };
        state.in_work = state.in_work.saturating_sub(1);
        self.wake(&key);
    }

    /// When `key` has nothing in work, makes its next waiting entry ready, or frees the key.
    fn wake(&mut self, key: &str) {
        let Some(state) = self.active.get_mut(key) else {
            return;
        };
        if state.in_work > 0 {
            return;
        }
        match state.waiting.pop_front() {
            Some(next) => {
                state.in_work = 1;
                self.ready.push_back(next);
            }
            None => {
                self.active.remove(key);
            }
        }
    }

    async fn finish(&mut self, delivery: &Delivery, dead_letter: Option<String>) -> Result<()> {
        let finish = Finish {
            stream: delivery.stream_arc().clone(),
            id: delivery.id_arc().clone(),
            dead_letter: dead_letter.map(|reason| DeadLetter {
                reason,
                attempts: delivery.deliveries(),
                fields: delivery.fields_arc().clone(),
            }),
        };
        self.acks
            .send(finish)
            .await
            .map_err(|_| StreamsError::Task {
                task: "acker",
                detail: "stopped accepting acknowledgements".to_owned(),
            })
    }
}

/// Claims an entry back for its next delivery: fresh data and the delivery count from Redis.
async fn reclaim(
    conn: &mut ConnectionManager,
    options: &ConsumerOptions,
    delivery: &Delivery,
) -> Result<Option<Delivery>> {
    let stream = delivery.stream();
    let entries = commands::claim_for_retry(
        conn,
        stream,
        &options.group,
        &options.consumer,
        delivery.id(),
    )
    .await?;
    let Some(entry) = entries.into_iter().find(|e| e.id == delivery.id()) else {
        return Ok(None);
    };
    let counts = commands::delivery_counts(conn, stream, &options.group, &[delivery.id()]).await?;
    let count = counts
        .into_iter()
        .next()
        .flatten()
        .unwrap_or(delivery.deliveries() + 1);
    Ok(Some(Delivery::new(
        delivery.stream_arc().clone(),
        delivery.id_arc().clone(),
        entry.fields,
        count,
    )))
}
