//! The bounded hand-over from a subscription's reader to its writer.
//!
//! A channel bounded in items is not bounded in memory when one frame can be 5 MB, so every item
//! also holds permits of a byte budget for as long as it is in flight: the reader waits for budget
//! before it sends, the writer returns it only once the item is in Redis. When Redis is slow or the
//! stream is over its high-water mark, the reader stops reading the socket and the relay sees the
//! backpressure; nothing read is ever dropped.

use std::sync::Arc;

use serde::Serialize;
use streams::payloads::JsonBytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Frames whose bytes are kept in a skip record only up to this size.
pub const MAX_RECORDED_FRAME_BYTES: usize = 64 * 1024;

/// One frame's worth of work for the writer.
#[derive(Debug)]
pub struct Item {
    /// The frame's seq, when it has one (undecodable frames may not).
    pub seq: Option<i64>,
    /// Entries to append to the feed's stream.
    pub payloads: Vec<String>,
    /// A record of the frame, when it could not be used and is stepped past.
    pub skipped: Option<String>,
    /// This item's share of the byte budget, returned when the item is dropped after its write.
    pub permit: OwnedSemaphorePermit,
}

impl Item {
    /// Bytes the item holds.
    pub fn bytes(&self) -> usize {
        self.payloads.iter().map(String::len).sum::<usize>()
            + self.skipped.as_ref().map_or(0, String::len)
    }
}

/// What is recorded about a frame that was stepped past (the `{stream}:skipped:{host}` stream).
#[derive(Debug, Clone, Serialize)]
pub struct SkippedFrame {
    /// The frame's seq, when it could be read.
    pub seq: Option<i64>,
    /// The seq of the last frame read before it on this connection (where to replay from).
    pub after_seq: Option<i64>,
    /// Why it was skipped.
    pub error: String,
    /// When it was skipped (RFC 3339, milliseconds, `Z`).
    pub time: String,
    /// The frame's size in bytes.
    pub frame_len: usize,
    /// The frame itself, when at most [`MAX_RECORDED_FRAME_BYTES`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<JsonBytes>,
}

impl SkippedFrame {
    /// A record of `frame`, skipped for `error`.
    pub fn new(seq: Option<i64>, after_seq: Option<i64>, error: String, frame: &[u8]) -> Self {
        SkippedFrame {
            seq,
            after_seq,
            error,
            time: streams::payloads::event_time(time::OffsetDateTime::now_utc()),
            frame_len: frame.len(),
            frame: (frame.len() <= MAX_RECORDED_FRAME_BYTES).then(|| JsonBytes(frame.to_vec())),
        }
    }
}

/// The sending half: a channel plus the byte budget.
#[derive(Debug, Clone)]
pub struct QueueSender {
    tx: mpsc::Sender<Item>,
    budget: Arc<Semaphore>,
    budget_bytes: u32,
}

/// The receiving half.
pub type QueueReceiver = mpsc::Receiver<Item>;

/// The writer is gone; nothing more can be handed over.
#[derive(Debug, thiserror::Error)]
#[error("the writer task is gone")]
pub struct WriterGone;

/// A queue of at most `capacity` items and `budget_bytes` bytes in flight.
pub fn queue(capacity: usize, budget_bytes: u32) -> (QueueSender, QueueReceiver) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let budget_bytes = budget_bytes.max(1);
    let sender = QueueSender {
        tx,
        budget: Arc::new(Semaphore::new(budget_bytes as usize)),
        budget_bytes,
    };
    (sender, rx)
}

impl QueueSender {
    /// Waits for budget and room, then hands the frame's work to the writer. An item larger than
    /// the whole budget takes all of it.
    pub async fn send(
        &self,
        seq: Option<i64>,
        payloads: Vec<String>,
        skipped: Option<String>,
    ) -> Result<(), WriterGone> {
        let bytes = payloads.iter().map(String::len).sum::<usize>()
            + skipped.as_ref().map_or(0, String::len);
        let wanted = u32::try_from(bytes)
            .unwrap_or(u32::MAX)
            .clamp(1, self.budget_bytes);
        let permit = self
            .budget
            .clone()
            .acquire_many_owned(wanted)
            .await
            .map_err(|_| WriterGone)?;
        let item = Item {
            seq,
            payloads,
            skipped,
            permit,
        };
        self.tx.send(item).await.map_err(|_| WriterGone)
    }

    /// Budget currently free, in bytes (for tests and metrics).
    pub fn free_bytes(&self) -> usize {
        self.budget.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn budget_blocks_until_items_are_dropped() {
        let (tx, mut rx) = queue(100, 10);
        tx.send(Some(1), vec!["123456".into()], None).await.unwrap();
        assert_eq!(tx.free_bytes(), 4);
        // An item over the remaining budget waits until the first is written (dropped).
        let sender = tx.clone();
        let pending =
            tokio::spawn(async move { sender.send(Some(2), vec!["12345".into()], None).await });
        let first = rx.recv().await.unwrap();
        assert_eq!(first.seq, Some(1));
        assert!(!pending.is_finished());
        drop(first);
        pending.await.unwrap().unwrap();
        let second = rx.recv().await.unwrap();
        assert_eq!(second.bytes(), 5);
        // Larger than the whole budget: takes all of it rather than waiting forever.
        drop(second);
        tx.send(Some(3), vec!["x".repeat(50)], None).await.unwrap();
        assert_eq!(tx.free_bytes(), 0);
    }

    #[test]
    fn skip_records_keep_small_frames_only() {
        let small = SkippedFrame::new(Some(5), Some(4), "bad".into(), &[1, 2, 3]);
        let json = serde_json::to_value(&small).unwrap();
        assert_eq!(json["frame"]["$bytes"], "AQID");
        assert_eq!(json["seq"], 5);
        let big = vec![0u8; MAX_RECORDED_FRAME_BYTES + 1];
        let json =
            serde_json::to_value(SkippedFrame::new(None, Some(4), "bad".into(), &big)).unwrap();
        assert!(json.get("frame").is_none());
        assert_eq!(json["frame_len"], MAX_RECORDED_FRAME_BYTES + 1);
        assert!(json["seq"].is_null());
    }
}
