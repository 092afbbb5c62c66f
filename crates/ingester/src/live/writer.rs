//! The Redis side of a subscription: batches what the reader hands over and writes each batch's
//! entries, its skip records and the cursor covering it in one MULTI/EXEC.
//!
//! A batch is written as soon as the reader has nothing more to hand over, or when it holds
//! `batch_size` entries or `max_batch_bytes` bytes: under light traffic a frame goes to Redis at
//! once, and under load batches grow by themselves with what arrived during the previous write.
//! Before each write the stream's unhandled backlog is checked against the high-water mark and,
//! over it, the writer waits holding its batch (the reader, out of budget, stops reading the
//! socket). The cursor is the seq of the batch's last frame, so Redis never holds a cursor past
//! entries it does not hold. Skip records go to a capped stream ([`streams::capped`]).

use std::time::Duration;

use redis::aio::ConnectionManager;
use streams::{Producer, StreamsError};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::LiveOptions;
use super::queue::{Item, QueueReceiver};
use crate::backoff::Backoff;

/// Attempts at writing one batch before the writer gives up and the process exits (with the
/// default retry delays, 1 s doubling to 60 s, that is several minutes: a Redis restart is ridden
/// out, a Redis that refuses the data is not).
const WRITE_ATTEMPTS: u32 = 10;
/// How often progress is logged.
const PROGRESS_EVERY: Duration = Duration::from_secs(30);

/// A failed write.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The batch could not be written after every attempt.
    #[error(
        "writing {entries} entries to {stream} (cursor {cursor:?}) failed {attempts} times: {source}"
    )]
    Redis {
        /// The stream.
        stream: String,
        /// Entries in the batch.
        entries: usize,
        /// The cursor the batch would have set.
        cursor: Option<i64>,
        /// Attempts made.
        attempts: u32,
        /// The last error.
        #[source]
        source: StreamsError,
    },
}

/// Where one subscription's batches go.
#[derive(Debug, Clone)]
pub struct Target {
    /// The stream receiving entries.
    pub stream: String,
    /// The entry field.
    pub field: String,
    /// The cursor key (`{stream}:cursor:{host}`).
    pub cursor_key: String,
    /// The skip-record stream (`{stream}:skipped:{host}`).
    pub skipped_key: String,
    /// The host's key, for logs and metrics.
    pub host: String,
}

/// Writes one subscription's batches.
pub struct Writer {
    target: Target,
    rx: QueueReceiver,
    conn: ConnectionManager,
    producer: Producer,
    options: LiveOptions,
    cancel: CancellationToken,
}

#[derive(Default)]
struct Batch {
    items: Vec<Item>,
    entries: usize,
    bytes: usize,
}

impl Batch {
    fn push(&mut self, item: Item) {
        self.entries += item.payloads.len();
        self.bytes += item.bytes();
        self.items.push(item);
    }

    fn is_full(&self, options: &LiveOptions) -> bool {
        self.entries >= options.batch_size || self.bytes >= options.max_batch_bytes
    }

    fn cursor(&self) -> Option<i64> {
        self.items.iter().rev().find_map(|item| item.seq)
    }
}

/// Whether a flush happened or shutdown cut it short.
enum Flushed {
    Written,
    Cancelled,
}

impl Writer {
    /// A writer for `target`, reading `rx`. `cancel` ends a wait at the high-water mark.
    pub fn new(
        target: Target,
        rx: QueueReceiver,
        conn: ConnectionManager,
        producer: Producer,
        options: LiveOptions,
        cancel: CancellationToken,
    ) -> Writer {
        Writer {
            target,
            rx,
            conn,
            producer,
            options,
            cancel,
        }
    }

    /// Writes until the reader is done (or shutdown interrupts a wait), then returns.
    pub async fn run(mut self) -> Result<(), WriteError> {
        let mut written_total: u64 = 0;
        let mut written_since: u64 = 0;
        let mut last_progress = Instant::now();
        let mut done = false;
        while !done {
            // Wait for the first item, then take whatever else is already waiting: nothing
            // waits for a batch to fill.
            let Some(first) = self.rx.recv().await else {
                break;
            };
            let mut batch = Batch::default();
            batch.push(first);
            while !batch.is_full(&self.options) {
                match self.rx.try_recv() {
                    Ok(item) => batch.push(item),
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        done = true;
                        break;
                    }
                }
            }
            let entries = batch.entries as u64;
            if let Flushed::Cancelled = self.flush(batch).await? {
                return Ok(());
            }
            written_total += entries;
            written_since += entries;
            if last_progress.elapsed() >= PROGRESS_EVERY {
                let secs = last_progress.elapsed().as_secs_f64();
                tracing::info!(stream = %self.target.stream, host = %self.target.host,
                    written_total, per_sec = (written_since as f64 / secs).round(), "progress");
                last_progress = Instant::now();
                written_since = 0;
            }
        }
        tracing::info!(stream = %self.target.stream, host = %self.target.host, written_total,
            "writer drained");
        Ok(())
    }

    /// Writes one batch, retrying transient failures.
    async fn flush(&mut self, batch: Batch) -> Result<Flushed, WriteError> {
        let cursor = batch.cursor();
        let skipped = batch.items.iter().filter(|i| i.skipped.is_some()).count();
        let mut backoff = Backoff::new(self.options.reconnect_base, self.options.reconnect_max);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.write(&batch, cursor).await {
                Ok(()) => break,
                Err(StreamsError::Cancelled(_)) => {
                    tracing::warn!(stream = %self.target.stream, host = %self.target.host,
                        entries = batch.entries, ?cursor,
                        "shutting down while waiting for room; these entries are not written and the \
                         cursor was not moved past them, so they are read again on restart");
                    return Ok(Flushed::Cancelled);
                }
                Err(source) if attempt >= WRITE_ATTEMPTS => {
                    return Err(WriteError::Redis {
                        stream: self.target.stream.clone(),
                        entries: batch.entries,
                        cursor,
                        attempts: attempt,
                        source,
                    });
                }
                Err(e) => {
                    tracing::warn!(stream = %self.target.stream, attempt, "batch write failed, retrying: {e}");
                    if !backoff.wait(&self.cancel).await {
                        return Ok(Flushed::Cancelled);
                    }
                }
            }
        }
        let host = self.target.host.clone();
        let stream = self.target.stream.clone();
        metrics::counter!("ingester_entries_written_total", "stream" => stream.clone(), "host" => host.clone())
            .increment(batch.entries as u64);
        if skipped > 0 {
            metrics::counter!("ingester_skip_records_written_total", "stream" => stream.clone(), "host" => host.clone())
                .increment(skipped as u64);
        }
        if let Some(seq) = cursor {
            metrics::gauge!("ingester_cursor", "stream" => stream, "host" => host).set(seq as f64);
        }
        // Dropping the batch returns its items' byte budget to the reader.
        drop(batch);
        Ok(Flushed::Written)
    }

    /// One MULTI/EXEC: the entries, the skip records, the cursor.
    async fn write(&mut self, batch: &Batch, cursor: Option<i64>) -> Result<(), StreamsError> {
        self.producer.wait_for_room(&self.target.stream).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for item in &batch.items {
            for payload in &item.payloads {
                pipe.cmd("XADD")
                    .arg(&self.target.stream)
                    .arg("*")
                    .arg(&self.target.field)
                    .arg(payload)
                    .ignore();
            }
            if let Some(record) = &item.skipped {
                pipe.cmd("XADD")
                    .arg(&self.target.skipped_key)
                    .arg("*")
                    .arg("skipped")
                    .arg(record)
                    .ignore();
            }
        }
        if let Some(seq) = cursor {
            pipe.cmd("SET")
                .arg(&self.target.cursor_key)
                .arg(seq)
                .ignore();
        }
        let skips = batch.items.iter().any(|item| item.skipped.is_some());
        if skips {
            streams::capped::push_trim(
                &mut pipe,
                &self.target.skipped_key,
                self.options.skipped_max_len,
            );
        }
        let dropped: Vec<u64> =
            pipe.query_async(&mut self.conn)
                .await
                .map_err(|source| StreamsError::Redis {
                    op: "MULTI XADD batch + SET cursor",
                    key: self.target.stream.clone(),
                    source,
                })?;
        if let Some(&removed) = dropped.first() {
            streams::capped::record_dropped(&self.target.skipped_key, removed);
        }
        Ok(())
    }
}
