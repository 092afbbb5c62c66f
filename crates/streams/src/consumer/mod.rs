//! The consumer runner every stage uses to read its streams through a consumer group.
//!
//! It keeps each numbered rule of the contract's "Consumer groups": groups are created, never reset
//! (1); a group ahead of its stream is healed (2, [`heal_group_if_ahead`]); own pending entries are
//! read first and idle ones claimed (3, the reader); entries are acknowledged only when the handler
//! says they are durable, many ids per XACK (4, the acker); failures are retried and dead-lettered
//! (5), into dead-letter streams capped at `dlq_max_len`; work is pipelined under a concurrency
//! limit (6) with per-key order (7, the scheduler); every stream read is trimmed to what all its
//! groups have handled, every `trim_interval` (8, the maintenance task with [`crate::trim`]).
//! Every queue is bounded: at most `max_buffered` entries are held.
//!
//! Tasks: reader → (bounded channel) → scheduler → (bounded channel) → acker, plus a maintenance
//! task. A task that fails stops the runner, which returns the error.

mod acker;
mod commands;
mod delivery;
mod group;
mod held;
mod maintenance;
mod options;
mod reader;
mod scheduler;

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub use delivery::{Delivery, Outcome, PayloadError, did_partition};
pub use group::heal_group_if_ahead;
pub use options::ConsumerOptions;

use crate::connection;
use crate::error::{Result, StreamsError};

/// Handles entries. The backfiller takes one entry per call; the indexer takes a batch per call and
/// writes it in one transaction. Return one outcome per delivery, in the same order.
pub trait Handler: Send + Sync + 'static {
    /// Handles a batch; `Done` only once everything the entry caused is durable.
    fn handle(&self, batch: Vec<Delivery>) -> impl Future<Output = Vec<Outcome>> + Send;
}

/// Extracts the partition key (a DID) of an entry; entries with the same key are handled in order.
pub type PartitionFn = Arc<dyn Fn(&Delivery) -> Option<String> + Send + Sync>;

/// A consumer of one or more streams through one group.
pub struct Consumer<H> {
    client: redis::Client,
    options: ConsumerOptions,
    handler: Arc<H>,
    partition: Option<PartitionFn>,
}

impl<H: Handler> Consumer<H> {
    /// A consumer with `options`, calling `handler`. Entries are not partitioned until
    /// [`Consumer::with_partition`].
    pub fn new(client: redis::Client, options: ConsumerOptions, handler: H) -> Self {
        Self {
            client,
            options,
            handler: Arc::new(handler),
            partition: None,
        }
    }

    /// Handles entries with the same key (e.g. [`did_partition`]) one at a time, in stream order.
    pub fn with_partition(
        mut self,
        partition: impl Fn(&Delivery) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.partition = Some(Arc::new(partition));
        self
    }

    /// Runs until `cancel` fires (then stops reading, finishes the handler calls in flight, flushes
    /// acknowledgements and returns `Ok`) or a task fails (then returns its error).
    pub async fn run(self, cancel: CancellationToken) -> Result<()> {
        self.options.validate()?;
        let options = Arc::new(self.options);
        let mut command = connection::command_connection(&self.client).await?;
        let blocking = connection::blocking_connection(&self.client, options.block).await?;
        for stream in &options.streams {
            if commands::ensure_group(&mut command, stream, &options.group).await? {
                tracing::info!(stream, group = options.group, "created consumer group");
            }
            heal_group_if_ahead(&mut command, stream, &options.group).await?;
        }

        let held = Arc::new(held::Held::new(options.max_buffered));
        let (entry_tx, entry_rx) = mpsc::channel(4);
        let (ack_tx, ack_rx) = mpsc::channel(options.max_buffered);
        let stop = cancel.child_token();
        let maintenance_stop = CancellationToken::new();
        // Dropping this set (an aborted runner) aborts every task with it.
        let mut tasks: JoinSet<(&'static str, Result<()>)> = JoinSet::new();
        let reader = reader::Reader::new(
            blocking,
            command.clone(),
            options.clone(),
            held.clone(),
            entry_tx,
            stop.clone(),
        );
        tasks.spawn(async move { ("reader", reader.run().await) });
        let acker = acker::run_acker(
            command.clone(),
            options.group.clone(),
            options.ack_batch,
            options.dlq_max_len,
            held.clone(),
            ack_rx,
        );
        tasks.spawn(async move { ("acker", acker.await) });
        let maintenance = maintenance::run_maintenance(
            command.clone(),
            options.clone(),
            held.clone(),
            maintenance_stop.clone(),
        );
        tasks.spawn(async move {
            maintenance.await;
            ("maintenance", Ok(()))
        });

        let scheduler = scheduler::Scheduler::new(
            self.handler,
            options.clone(),
            self.partition,
            held,
            ack_tx,
            command,
        );
        let scheduled = scheduler.run(entry_rx, stop.clone());
        tokio::pin!(scheduled);
        let mut first_error: Option<StreamsError> = None;
        let scheduled = loop {
            tokio::select! {
                r = &mut scheduled => break r,
                Some(joined) = tasks.join_next() => {
                    if let Some(e) = task_error(joined) {
                        first_error.get_or_insert(e);
                        stop.cancel();
                    }
                }
            }
        };
        // The scheduler has dropped its sender: the acker flushes and ends.
        maintenance_stop.cancel();
        stop.cancel();
        while let Some(joined) = tasks.join_next().await {
            if let Some(e) = task_error(joined) {
                first_error.get_or_insert(e);
            }
        }
        match (scheduled, first_error) {
            (Err(e), _) | (Ok(()), Some(e)) => Err(e),
            (Ok(()), None) => Ok(()),
        }
    }
}

fn task_error(
    joined: std::result::Result<(&'static str, Result<()>), tokio::task::JoinError>,
) -> Option<StreamsError> {
    match joined {
        Ok((_, Ok(()))) => None,
        Ok((task, Err(e))) => {
            tracing::error!(task, error = %e, "consumer task failed; stopping");
            Some(e)
        }
        Err(e) => {
            tracing::error!(error = %e, "consumer task died; stopping");
            Some(StreamsError::Task {
                task: "consumer",
                detail: e.to_string(),
            })
        }
    }
}
