//! Writing batches of entries, with the cursor that covers them, under backpressure.
//!
//! A batch's XADDs and the SET of the cursor it covers go in one MULTI/EXEC, so Redis never holds a
//! cursor past data it does not hold (the cursor used to be saved before its data, and data lost).
//! Before each batch the producer measures what the stream's consumers have not yet handled
//! ([`crate::backlog`]); at or above the high-water mark it waits and measures again, holding its
//! batch: over the mark nothing is dropped and no cursor moves. Entries every group has
//! acknowledged never count, so the mark bounds the unhandled backlog, not the total ever written.

use std::time::Duration;

use redis::aio::ConnectionManager;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::error::{Result, StreamsError};

/// How a producer paces itself.
#[derive(Debug, Clone)]
pub struct ProducerOptions {
    /// Unhandled backlog (see [`crate::backlog`]) at or above which the producer waits before
    /// writing.
    pub high_water_mark: u64,
    /// First wait after finding the stream full.
    pub min_backoff: Duration,
    /// Longest wait between two length checks.
    pub max_backoff: Duration,
}

impl Default for ProducerOptions {
    fn default() -> Self {
        Self {
            high_water_mark: 1_000_000,
            min_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Writes batches to streams; cheap to clone (the connection is shared).
#[derive(Clone)]
pub struct Producer {
    conn: ConnectionManager,
    options: ProducerOptions,
    cancel: CancellationToken,
}

impl Producer {
    /// A producer on an existing connection (see [`crate::connection::command_connection`]).
    /// `cancel` ends a wait for room with [`StreamsError::Cancelled`], writing nothing.
    pub fn new(
        conn: ConnectionManager,
        options: ProducerOptions,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            conn,
            options,
            cancel,
        }
    }

    /// Opens a connection for a new producer.
    pub async fn connect(
        client: &redis::Client,
        options: ProducerOptions,
        cancel: CancellationToken,
    ) -> Result<Self> {
        let conn = crate::connection::command_connection(client).await?;
        Ok(Self::new(conn, options, cancel))
    }

    /// Waits until the unhandled backlog of `stream` is below the high-water mark.
    pub async fn wait_for_room(&self, stream: &str) -> Result<()> {
        let mut conn = self.conn.clone();
        let mut backoff = self.options.min_backoff;
        let mut waited = false;
        loop {
            let backlog = crate::backlog::unhandled_backlog(&mut conn, stream).await?;
            if backlog < self.options.high_water_mark {
                if waited {
                    tracing::info!(
                        stream,
                        backlog,
                        "backlog below its high-water mark again; writing"
                    );
                    metrics::gauge!("streams_producer_waiting", "stream" => stream.to_owned())
                        .set(0.0);
                }
                return Ok(());
            }
            if !waited {
                tracing::warn!(
                    stream,
                    backlog,
                    high_water_mark = self.options.high_water_mark,
                    "unhandled backlog at its high-water mark; holding the batch until consumers catch up"
                );
                metrics::gauge!("streams_producer_waiting", "stream" => stream.to_owned()).set(1.0);
                waited = true;
            }
            metrics::counter!("streams_producer_backpressure_waits_total", "stream" => stream.to_owned())
                .increment(1);
            tokio::select! {
                () = self.cancel.cancelled() => {
                    metrics::gauge!("streams_producer_waiting", "stream" => stream.to_owned()).set(0.0);
                    return Err(StreamsError::Cancelled("waiting for room in a stream"));
                }
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.options.max_backoff);
        }
    }

    /// Appends one entry `{field: payload}` per payload to `stream` and, in the same MULTI/EXEC, sets
    /// `cursor` (key, value) when given. Waits for room first. Returns the new entries' ids in order.
    pub async fn write_batch<P: AsRef<str>>(
        &self,
        stream: &str,
        field: &str,
        payloads: &[P],
        cursor: Option<(&str, &str)>,
    ) -> Result<Vec<String>> {
        if payloads.is_empty() && cursor.is_none() {
            return Ok(Vec::new());
        }
        self.wait_for_room(stream).await?;
        let mut pipe = redis::pipe();
        pipe.atomic();
        for payload in payloads {
            pipe.cmd("XADD")
                .arg(stream)
                .arg("*")
                .arg(field)
                .arg(payload.as_ref());
        }
        if let Some((key, value)) = cursor {
            pipe.cmd("SET").arg(key).arg(value).ignore();
        }
        let mut conn = self.conn.clone();
        let ids: Vec<String> = pipe
            .query_async(&mut conn)
            .await
            .map_err(StreamsError::redis("MULTI XADD batch", stream))?;
        if ids.len() != payloads.len() {
            return Err(StreamsError::reply(
                "MULTI XADD batch",
                stream,
                format!("{} ids for {} entries", ids.len(), payloads.len()),
            ));
        }
        metrics::counter!("streams_entries_written_total", "stream" => stream.to_owned())
            .increment(ids.len() as u64);
        Ok(ids)
    }

    /// [`Producer::write_batch`] for typed payloads, serialised as JSON.
    pub async fn write_json<T: Serialize>(
        &self,
        stream: &str,
        field: &str,
        items: &[T],
        cursor: Option<(&str, &str)>,
    ) -> Result<Vec<String>> {
        let payloads = items
            .iter()
            .map(serde_json::to_string)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|source| StreamsError::Encode {
                stream: stream.to_owned(),
                source,
            })?;
        self.write_batch(stream, field, &payloads, cursor).await
    }
}
