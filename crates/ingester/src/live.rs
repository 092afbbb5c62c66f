//! Live subscriptions: a relay's firehose into `firehose_live`, a labeler's labels into
//! `label_live`.
//!
//! Each configured host gets its own [`Subscription`]: a [`Reader`] task on the socket and a
//! [`Writer`] task on Redis, joined by a queue bounded in items and in bytes. The reader starts
//! after the host's stored cursor (`{stream}:cursor:{host}`), or live when there is none; the
//! writer moves that cursor only in the MULTI/EXEC that writes the entries it covers.
//!
//! Frames that cannot be used are stepped past but recorded, with their seq (when readable), the
//! seq before them, the error, and the frame itself when small, in the stream
//! `{stream}:skipped:{host}` (field `skipped`, JSON), written in the same MULTI/EXEC as the cursor
//! that passes them: `firehose_live:skipped:bsky.network`.

mod convert;
mod decode;
mod feed;
mod queue;
mod reader;
mod writer;

use std::time::Duration;

use redis::AsyncCommands;
use streams::names::cursor_key;
use streams::{Producer, ProducerOptions, ServiceHost, StreamsError};
use tokio_util::sync::CancellationToken;

pub use convert::{CollectionFilter, ConvertError};
pub use feed::Feed;
pub use queue::{SkippedFrame, WriterGone};
pub use reader::{Reader, ReaderError};
pub use writer::{Target, WriteError, Writer};

/// How a subscription batches, paces and reconnects.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Most entries per MULTI/EXEC (`INGESTER_BATCH_SIZE`); a batch is written as soon as the
    /// reader has nothing more to hand over, however small.
    pub batch_size: usize,
    /// Most records kept in each skip-record stream (`INGESTER_SKIPPED_MAX_LEN`).
    pub skipped_max_len: u64,
    /// A batch is written once it holds this many bytes, however few entries.
    pub max_batch_bytes: usize,
    /// Frames in flight between reader and writer.
    pub queue_items: usize,
    /// Bytes in flight between reader and writer.
    pub queue_bytes: u32,
    /// A connection that delivers nothing for this long is dropped and reopened.
    pub stall_timeout: Duration,
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// First delay before reconnecting.
    pub reconnect_base: Duration,
    /// Longest delay before reconnecting.
    pub reconnect_max: Duration,
    /// High-water mark and its polling (`INGESTER_HIGH_WATER_MARK`).
    pub producer: ProducerOptions,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            batch_size: 500,
            skipped_max_len: streams::capped::DEFAULT_MAX_LEN,
            max_batch_bytes: 16 * 1024 * 1024,
            queue_items: 8192,
            queue_bytes: 64 * 1024 * 1024,
            stall_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            reconnect_base: Duration::from_millis(500),
            reconnect_max: Duration::from_secs(60),
            producer: ProducerOptions::default(),
        }
    }
}

/// Why a subscription could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// Redis could not be reached.
    #[error(transparent)]
    Redis(#[from] StreamsError),
    /// The stored cursor is not a sequence number.
    #[error("cursor key {key} holds {value:?}, not a sequence number; fix or delete it")]
    BadCursor {
        /// The key.
        key: String,
        /// What it holds.
        value: String,
    },
}

/// The stream of skip records of `stream` for `host`: `firehose_live:skipped:bsky.network`.
pub fn skipped_key(stream: &str, host: &ServiceHost) -> String {
    format!("{stream}:skipped:{}", host.key())
}

/// One host's reader and writer, ready to be spawned as two tasks.
pub struct Subscription {
    /// The socket side.
    pub reader: Reader,
    /// The Redis side.
    pub writer: Writer,
}

impl Subscription {
    /// Reads the host's stored cursor and prepares its reader and writer. `cancel` stops the
    /// reader and interrupts the writer's waits; the writer drains what it was handed first.
    pub async fn open(
        feed: Feed,
        host: ServiceHost,
        options: LiveOptions,
        client: &redis::Client,
        cancel: CancellationToken,
    ) -> Result<Subscription, LiveError> {
        let mut conn = streams::connection::command_connection(client).await?;
        let key = cursor_key(feed.stream(), &host);
        let stored: Option<String> =
            conn.get(&key).await.map_err(|source| StreamsError::Redis {
                op: "GET cursor",
                key: key.clone(),
                source,
            })?;
        let cursor = match stored {
            None => None,
            Some(value) => match value.trim().parse::<i64>() {
                Ok(seq) if seq >= 0 => Some(seq),
                _ => return Err(LiveError::BadCursor { key, value }),
            },
        };
        match cursor {
            Some(seq) => {
                tracing::info!(host = %host.key(), cursor = seq, "{} resuming after the stored cursor", feed.name())
            }
            None => {
                tracing::info!(host = %host.key(), "{} has no stored cursor: starting live", feed.name())
            }
        }
        let target = Target {
            stream: feed.stream().to_owned(),
            field: feed.field().to_owned(),
            cursor_key: key,
            skipped_key: skipped_key(feed.stream(), &host),
            host: host.key(),
        };
        let producer = Producer::new(conn.clone(), options.producer.clone(), cancel.clone());
        let (tx, rx) = queue::queue(options.queue_items, options.queue_bytes);
        let writer = Writer::new(target, rx, conn, producer, options.clone(), cancel.clone());
        let reader = Reader::new(feed, host, cursor, options, tx, cancel);
        Ok(Subscription { reader, writer })
    }
}
