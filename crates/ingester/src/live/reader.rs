//! The socket side of a subscription: connect, read frames, convert them, hand them to the writer;
//! reconnect from the last seq handed over whenever the connection ends.
//!
//! Every frame read is either handed over as entries, or handed over as a skip record (a frame that
//! cannot be decoded or converted is counted, logged and recorded, never silently dropped), so the
//! seq held here is always safe to resume from: everything up to it is in the writer's hands.
//! Server messages: `#info OutdatedCursor` is logged (events between the cursor and the relay's
//! backlog are gone); the `FutureCursor` error restarts live; `ConsumerTooSlow` and any other end
//! of the connection reconnect from the seq held here, after a jittered, growing delay.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::FuturesOrdered;
use protocol::frames::MAX_FRAME_BYTES;
use streams::ServiceHost;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::LiveOptions;
use super::decode::{Decoded, decode};
use super::feed::Feed;
use super::queue::{QueueSender, SkippedFrame, WriterGone};
use crate::backoff::Backoff;

/// Slack over the largest frame for the WebSocket message limit.
const MESSAGE_SLACK: usize = 64 * 1024;
/// Frames decoded at once per connection (bounds the raw bytes held before hand-over).
const MAX_IN_FLIGHT: usize = 32;

/// Why a reader stopped for good.
#[derive(Debug, thiserror::Error)]
pub enum ReaderError {
    /// The writer is gone (it failed; the supervisor reports why).
    #[error(transparent)]
    WriterGone(#[from] WriterGone),
    /// A decoding task panicked: a bug, not bad input (bad input is a skip record).
    #[error("a frame decoder failed: {0}")]
    Decoder(String),
}

/// How a connection ended.
#[derive(Debug)]
enum SessionEnd {
    /// Shutdown was requested.
    Cancelled,
    /// Reconnect after a delay; `progress` tells whether any frame was read.
    Reconnect { reason: String, progress: bool },
}

/// What to do after one frame.
enum Next {
    Continue,
    Reconnect(String),
    Cancelled,
}

/// Reads one host's subscription until cancelled.
pub struct Reader {
    feed: Arc<Feed>,
    host: ServiceHost,
    cursor: Option<i64>,
    options: LiveOptions,
    queue: QueueSender,
    cancel: CancellationToken,
}

impl Reader {
    /// A reader starting after `cursor` (live when `None`).
    pub fn new(
        feed: Feed,
        host: ServiceHost,
        cursor: Option<i64>,
        options: LiveOptions,
        queue: QueueSender,
        cancel: CancellationToken,
    ) -> Reader {
        Reader {
            feed: Arc::new(feed),
            host,
            cursor,
            options,
            queue,
            cancel,
        }
    }

    /// Connects and reads until cancelled; fails only when the writer is gone or a decoding task
    /// panics.
    pub async fn run(mut self) -> Result<(), ReaderError> {
        let mut backoff = Backoff::new(self.options.reconnect_base, self.options.reconnect_max);
        loop {
            match self.session().await? {
                SessionEnd::Cancelled => {
                    tracing::info!(host = %self.host.key(), cursor = ?self.cursor, "reader stopped");
                    return Ok(());
                }
                SessionEnd::Reconnect { reason, progress } => {
                    if progress {
                        backoff.reset();
                    }
                    metrics::counter!("ingester_reconnects_total",
                        "feed" => self.feed.name(), "host" => self.host.key())
                    .increment(1);
                    tracing::warn!(host = %self.host.key(), cursor = ?self.cursor,
                        "{} connection ended: {reason}; reconnecting", self.feed.name());
                }
            }
            if !backoff.wait(&self.cancel).await {
                return Ok(());
            }
        }
    }

    fn url(&self) -> String {
        let base = format!("{}/xrpc/{}", self.host.ws_base(), self.feed.endpoint());
        match self.cursor {
            Some(cursor) => format!("{base}?cursor={cursor}"),
            None => base,
        }
    }

    /// One connection, from connect to its end.
    async fn session(&mut self) -> Result<SessionEnd, ReaderError> {
        let url = self.url();
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_FRAME_BYTES + MESSAGE_SLACK))
            .max_frame_size(Some(MAX_FRAME_BYTES + MESSAGE_SLACK));
        let connect =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true);
        let connected = tokio::select! {
            () = self.cancel.cancelled() => return Ok(SessionEnd::Cancelled),
            r = tokio::time::timeout(self.options.connect_timeout, connect) => r,
        };
        let mut ws = match connected {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => return Ok(reconnect(format!("connecting to {url}: {e}"), false)),
            Err(_) => return Ok(reconnect(format!("connecting to {url} timed out"), false)),
        };
        tracing::info!(host = %self.host.key(), cursor = ?self.cursor, "{} connected", self.feed.name());
        let mut progress = false;
        // Frames being decoded, oldest first; their results are used in read order.
        let mut pending: FuturesOrdered<JoinHandle<Decoded>> = FuturesOrdered::new();
        // Set when the socket has ended: the frames already read are still used, then we reconnect.
        let mut ended: Option<String> = None;
        loop {
            if pending.is_empty()
                && let Some(reason) = ended.take()
            {
                return Ok(reconnect(reason, progress));
            }
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => {
                    // A polite close; the connection is being dropped either way.
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    return Ok(SessionEnd::Cancelled);
                }
                Some(joined) = pending.next(), if !pending.is_empty() => {
                    let decoded = joined.map_err(|e| ReaderError::Decoder(e.to_string()))?;
                    match self.handle(decoded).await? {
                        Next::Continue => progress = true,
                        Next::Reconnect(reason) => return Ok(reconnect(reason, progress)),
                        Next::Cancelled => return Ok(SessionEnd::Cancelled),
                    }
                }
                next = tokio::time::timeout(self.options.stall_timeout, ws.next()),
                    if ended.is_none() && pending.len() < MAX_IN_FLIGHT =>
                {
                    let message = match next {
                        Err(_) => {
                            ended = Some(format!("no message for {:?}", self.options.stall_timeout));
                            continue;
                        }
                        Ok(None) => {
                            ended = Some("the server closed the stream".into());
                            continue;
                        }
                        Ok(Some(Err(e))) => {
                            ended = Some(format!("read error: {e}"));
                            continue;
                        }
                        Ok(Some(Ok(message))) => message,
                    };
                    match message {
                        Message::Binary(bytes) => {
                            let (feed, host) = (self.feed.clone(), self.host.key());
                            pending.push_back(tokio::spawn(async move { decode(&feed, &host, bytes) }));
                        }
                        Message::Close(frame) => {
                            ended = Some(match frame {
                                Some(f) => format!("closed by the server ({} {})", f.code, f.reason),
                                None => "closed by the server".to_owned(),
                            });
                        }
                        Message::Text(text) => {
                            metrics::counter!("ingester_text_messages_total",
                                "feed" => self.feed.name(), "host" => self.host.key())
                            .increment(1);
                            tracing::warn!(host = %self.host.key(), len = text.len(),
                                "ignoring a text message: the protocol sends binary frames only");
                        }
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
            }
        }
    }

    /// Acts on one decoded frame: hands its entries (or its skip record) to the writer, or reacts
    /// to a server message.
    async fn handle(&mut self, decoded: Decoded) -> Result<Next, WriterGone> {
        match decoded {
            Decoded::Entries { seq, payloads } => {
                let next = self.hand_over(seq, payloads, None).await?;
                if seq.is_some() && matches!(next, Next::Continue) {
                    self.cursor = seq;
                }
                Ok(next)
            }
            Decoded::Skip { seq, error, frame } => {
                let next = self.skip(seq, error, &frame).await?;
                if seq.is_some() && matches!(next, Next::Continue) {
                    self.cursor = seq;
                }
                Ok(next)
            }
            Decoded::Info(info) => {
                if info.name == "OutdatedCursor" {
                    tracing::warn!(host = %self.host.key(), cursor = ?self.cursor, message = ?info.message,
                        "OutdatedCursor: the cursor is older than the server's backlog; \
                         events between it and the oldest replayed event are missed");
                } else {
                    tracing::info!(host = %self.host.key(), name = %info.name, message = ?info.message,
                        "info message from the server");
                }
                Ok(Next::Continue)
            }
            Decoded::Error(error) => Ok(self.server_error(&error.error, error.message.as_deref())),
            Decoded::Unknown(t) => {
                tracing::debug!(host = %self.host.key(), t = %t, "ignoring a frame of unknown type");
                Ok(Next::Continue)
            }
        }
    }

    /// Reacts to an error frame (the server closes after it).
    fn server_error(&mut self, name: &str, message: Option<&str>) -> Next {
        match name {
            "FutureCursor" => {
                tracing::warn!(host = %self.host.key(), cursor = ?self.cursor, ?message,
                    "FutureCursor: the server has no events after our cursor; restarting live");
                self.cursor = None;
                Next::Reconnect("FutureCursor".into())
            }
            "ConsumerTooSlow" => {
                Next::Reconnect("ConsumerTooSlow: resuming from our cursor".into())
            }
            other => Next::Reconnect(format!("error frame {other}: {message:?}")),
        }
    }

    /// Records a frame that cannot be used, and steps past it.
    async fn skip(
        &mut self,
        seq: Option<i64>,
        error: String,
        bytes: &[u8],
    ) -> Result<Next, WriterGone> {
        metrics::counter!("ingester_frames_skipped_total",
            "feed" => self.feed.name(), "host" => self.host.key())
        .increment(1);
        tracing::error!(host = %self.host.key(), ?seq, after_seq = ?self.cursor, len = bytes.len(),
            "skipping a frame that cannot be used (recorded in the skipped stream): {error}");
        let record = SkippedFrame::new(seq, self.cursor, error, bytes);
        // Serialising a struct of strings and numbers cannot fail; fall back to the bare error.
        let json = serde_json::to_string(&record)
            .unwrap_or_else(|e| format!("{{\"error\":\"unrecordable skip: {e}\"}}"));
        self.hand_over(seq, Vec::new(), Some(json)).await
    }

    /// Hands one frame's work to the writer, unless shutdown comes first (then the frame is not
    /// covered by any cursor and is read again on restart).
    async fn hand_over(
        &self,
        seq: Option<i64>,
        payloads: Vec<String>,
        skipped: Option<String>,
    ) -> Result<Next, WriterGone> {
        let sent = tokio::select! {
            biased;
            () = self.cancel.cancelled() => return Ok(Next::Cancelled),
            sent = self.queue.send(seq, payloads, skipped) => sent,
        };
        match sent {
            Ok(()) => Ok(Next::Continue),
            // The writer stops early only when shutdown interrupted its wait for room.
            Err(_) if self.cancel.is_cancelled() => Ok(Next::Cancelled),
            Err(gone) => Err(gone),
        }
    }
}

fn reconnect(reason: String, progress: bool) -> SessionEnd {
    SessionEnd::Reconnect { reason, progress }
}
