//! The reader task: turns Redis entries into deliveries for the scheduler (contract rules 1 and 3).
//!
//! It first re-reads this consumer's own pending entries (history from `0`), then reads new ones
//! (`>`) with a blocking XREADGROUP; every `claim_interval` it claims entries idle longer than
//! `claim_idle` on any consumer (XAUTOCLAIM). Every entry takes a slot in [`Held`] before it is read,
//! and the delivery count of re-read or claimed entries comes from XPENDING.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::commands::{self, RawEntry};
use super::delivery::Delivery;
use super::held::Held;
use super::options::ConsumerOptions;
use crate::error::{Result, StreamsError};

/// Consecutive failed reads after which the reader gives up (and the runner stops).
const MAX_READ_FAILURES: u32 = 10;

pub(crate) struct Reader {
    pub(crate) blocking: ConnectionManager,
    pub(crate) command: ConnectionManager,
    pub(crate) options: Arc<ConsumerOptions>,
    pub(crate) held: Arc<Held>,
    pub(crate) tx: mpsc::Sender<Vec<Delivery>>,
    pub(crate) stop: CancellationToken,
    pub(crate) streams: Vec<Arc<str>>,
    pub(crate) claim_cursors: HashMap<Arc<str>, String>,
}

impl Reader {
    pub(crate) fn new(
        blocking: ConnectionManager,
        command: ConnectionManager,
        options: Arc<ConsumerOptions>,
        held: Arc<Held>,
        tx: mpsc::Sender<Vec<Delivery>>,
        stop: CancellationToken,
    ) -> Self {
        let streams: Vec<Arc<str>> = options
            .streams
            .iter()
            .map(|s| Arc::from(s.as_str()))
            .collect();
        Self {
            blocking,
            command,
            options,
            held,
            tx,
            stop,
            claim_cursors: streams
                .iter()
                .map(|s| (s.clone(), "0-0".to_owned()))
                .collect(),
            streams,
        }
    }

    pub(crate) async fn run(mut self) -> Result<()> {
        let mut failures = 0u32;
        while let Err(e) = self.read_own_pending().await {
            self.recover(e, "reading own pending entries", &mut failures)
                .await?;
        }
        let mut next_claim = Instant::now();
        while !self.stop.is_cancelled() {
            if Instant::now() >= next_claim {
                match self.claim_idle().await {
                    Ok(()) => next_claim = Instant::now() + self.options.claim_interval,
                    Err(e) => {
                        self.recover(e, "claiming idle entries", &mut failures)
                            .await?;
                        continue;
                    }
                }
            }
            match self.read_new(next_claim).await {
                Ok(()) => failures = 0,
                Err(e) => {
                    self.recover(e, "reading new entries", &mut failures)
                        .await?
                }
            }
        }
        Ok(())
    }

    /// After a failed step: recreates a vanished group, then waits with backoff before the retry.
    /// Gives the error back after [`MAX_READ_FAILURES`] failures in a row.
    async fn recover(&mut self, err: StreamsError, what: &str, failures: &mut u32) -> Result<()> {
        if commands::is_nogroup(&err) {
            // The stream was deleted (and its groups with it): recreate, never reset (rule 1).
            tracing::warn!(error = %err, "consumer group missing; recreating it");
            for stream in self.streams.clone() {
                let created =
                    commands::ensure_group(&mut self.command, &stream, &self.options.group).await;
                if let Err(e) = created {
                    tracing::warn!(stream = &*stream, error = %e, "recreating group failed");
                }
            }
        }
        *failures += 1;
        if *failures >= MAX_READ_FAILURES {
            return Err(err);
        }
        tracing::warn!(error = %err, failures = *failures, "{what} failed; retrying");
        let backoff = Duration::from_millis(100)
            .saturating_mul(1 << (*failures).min(6))
            .min(Duration::from_secs(5));
        tokio::select! {
            () = self.stop.cancelled() => {}
            () = tokio::time::sleep(backoff) => {}
        }
        Ok(())
    }

    async fn read_own_pending(&mut self) -> Result<()> {
        let group = self.options.group.clone();
        let consumer = self.options.consumer.clone();
        let page = self.options.read_count.min(self.options.max_buffered);
        for stream in self.streams.clone() {
            let mut after = "0".to_owned();
            loop {
                let reserved = tokio::select! {
                    () = self.stop.cancelled() => return Ok(()),
                    n = self.held.reserve(1, page) => n,
                };
                let read = commands::read_group(
                    &mut self.command,
                    &group,
                    &consumer,
                    reserved,
                    None,
                    &[(&stream, &after)],
                )
                .await;
                let entries: Vec<RawEntry> = match read {
                    Ok(r) => r.into_iter().flat_map(|(_, e)| e).collect(),
                    Err(e) => {
                        self.held.unreserve(reserved);
                        return Err(e);
                    }
                };
                let Some(last) = entries.last() else {
                    self.held.unreserve(reserved);
                    break;
                };
                after = last.id.clone();
                tracing::info!(
                    stream = &*stream,
                    count = entries.len(),
                    "re-reading own pending entries"
                );
                let deliveries = self.with_counts(&stream, entries, reserved).await?;
                if !self.send(deliveries).await {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn claim_idle(&mut self) -> Result<()> {
        let min_idle = u64::try_from(self.options.claim_idle.as_millis()).unwrap_or(u64::MAX);
        for stream in self.streams.clone() {
            loop {
                let reserved = self.held.try_reserve(self.options.read_count);
                if reserved == 0 {
                    // Full: claim on a later round rather than wait here and stall new reads.
                    break;
                }
                let start = self
                    .claim_cursors
                    .get(&stream)
                    .cloned()
                    .unwrap_or_else(|| "0-0".to_owned());
                let claimed = match commands::autoclaim(
                    &mut self.command,
                    &stream,
                    &self.options.group,
                    &self.options.consumer,
                    min_idle,
                    &start,
                    reserved,
                )
                .await
                {
                    Ok(c) => c,
                    Err(e) => {
                        self.held.unreserve(reserved);
                        return Err(e);
                    }
                };
                let wrapped = claimed.next == "0-0";
                self.claim_cursors
                    .insert(stream.clone(), claimed.next.clone());
                // Entries deleted while pending: Redis dropped them from the group; leave a trace
                // (a dead letter, through the scheduler).
                for id in &claimed.deleted {
                    tracing::warn!(
                        stream = &*stream,
                        id,
                        "pending entry was deleted from its stream"
                    );
                }
                let mut entries: Vec<RawEntry> = claimed
                    .deleted
                    .into_iter()
                    .map(|id| RawEntry {
                        id,
                        fields: Vec::new(),
                    })
                    .collect();
                entries.extend(claimed.entries);
                // Never more than the slots taken; what is cut stays pending and is claimed later.
                entries.truncate(reserved);
                if !entries.is_empty() {
                    tracing::info!(
                        stream = &*stream,
                        count = entries.len(),
                        "claimed idle entries"
                    );
                    metrics::counter!("streams_entries_claimed_total", "stream" => stream.to_string())
                        .increment(entries.len() as u64);
                }
                let deliveries = self.with_counts(&stream, entries, reserved).await?;
                if !self.send(deliveries).await || wrapped {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn read_new(&mut self, until: Instant) -> Result<()> {
        let k = self.streams.len();
        let want = self
            .options
            .read_count
            .max(k)
            .min(self.options.max_buffered);
        let reserved = tokio::select! {
            () = self.stop.cancelled() => return Ok(()),
            () = tokio::time::sleep_until(until) => return Ok(()),
            n = self.held.reserve(k, want) => n,
        };
        let per_stream = (reserved / k).max(1);
        let block_ms = until
            .saturating_duration_since(Instant::now())
            .min(self.options.block)
            .as_millis()
            .clamp(1, u128::from(u32::MAX)) as u64;
        let ids: Vec<(&str, &str)> = self.streams.iter().map(|s| (&**s, ">")).collect();
        let read = tokio::select! {
            () = self.stop.cancelled() => {
                self.held.unreserve(reserved);
                return Ok(());
            }
            r = commands::read_group(
                &mut self.blocking,
                &self.options.group,
                &self.options.consumer,
                per_stream,
                Some(block_ms),
                &ids,
            ) => r,
        };
        let replies = match read {
            Ok(r) => r,
            Err(e) => {
                self.held.unreserve(reserved);
                return Err(e);
            }
        };
        let mut out = Vec::new();
        let mut used = 0;
        for (stream, entries) in replies {
            let Some(stream) = self.streams.iter().find(|s| ***s == *stream).cloned() else {
                continue;
            };
            metrics::counter!("streams_entries_read_total", "stream" => stream.to_string())
                .increment(entries.len() as u64);
            for entry in entries {
                if self.held.hold(&stream, &entry.id) {
                    used += 1;
                    out.push(Delivery::new(stream.clone(), entry.id, entry.fields, 1));
                }
            }
        }
        self.held.unreserve(reserved.saturating_sub(used));
        self.send(out).await;
        Ok(())
    }

    /// Builds deliveries with their delivery counts from XPENDING, skipping entries no longer pending
    /// and entries already held; gives back the unused part of `reserved` slots.
    async fn with_counts(
        &mut self,
        stream: &Arc<str>,
        entries: Vec<RawEntry>,
        reserved: usize,
    ) -> Result<Vec<Delivery>> {
        let fresh: Vec<RawEntry> = entries
            .into_iter()
            .filter(|e| !self.held.is_held(stream, &e.id))
            .collect();
        let ids: Vec<&str> = fresh.iter().map(|e| e.id.as_str()).collect();
        let counts =
            match commands::delivery_counts(&mut self.command, stream, &self.options.group, &ids)
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    self.held.unreserve(reserved);
                    return Err(e);
                }
            };
        let mut out = Vec::with_capacity(fresh.len());
        for (entry, count) in fresh.into_iter().zip(counts) {
            // Deleted entries are no longer pending but still deserve a dead-letter trace.
            let count = match count {
                Some(c) => c,
                None if entry.fields.is_empty() => 0,
                None => continue,
            };
            if self.held.hold(stream, &entry.id) {
                out.push(Delivery::new(stream.clone(), entry.id, entry.fields, count));
            }
        }
        self.held.unreserve(reserved.saturating_sub(out.len()));
        Ok(out)
    }

    /// Hands deliveries to the scheduler; false when the runner is stopping.
    async fn send(&mut self, deliveries: Vec<Delivery>) -> bool {
        if deliveries.is_empty() {
            return !self.stop.is_cancelled();
        }
        tokio::select! {
            () = self.stop.cancelled() => false,
            r = self.tx.send(deliveries) => r.is_ok(),
        }
    }
}
