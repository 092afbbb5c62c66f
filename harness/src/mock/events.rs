//! [`EventLog`]: the sequenced frames a relay, PDS or labeler serves on its stream.
//!
//! Frames are kept as the bytes that go on the wire, with their seq. The log retains at most
//! `max_retained` events (older ones are evicted, as a relay's window moves on), remembers the
//! newest seq ever appended (for `FutureCursor`) and the newest seq evicted (for
//! `OutdatedCursor`), and wakes stream connections when events are appended.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use protocol::frames::Frame;
use tokio::sync::watch;

use super::MockError;

#[derive(Debug)]
struct Inner {
    events: VecDeque<(i64, Bytes)>,
    max_retained: usize,
    /// The newest seq appended (0 before any).
    head: i64,
    /// The newest seq evicted (0 before any).
    evicted_through: i64,
}

/// A sequenced, bounded event log; cheap to clone (clones share the log).
#[derive(Debug, Clone)]
pub struct EventLog {
    inner: Arc<Mutex<Inner>>,
    head: watch::Sender<i64>,
}

/// Events after a cursor.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// Up to the requested number of events, oldest first.
    pub(crate) events: Vec<(i64, Bytes)>,
    /// True if some events after the cursor were already evicted.
    pub(crate) gap: bool,
}

impl EventLog {
    /// An empty log that keeps at most `max_retained` events (at least 1).
    pub fn new(max_retained: usize) -> Self {
        let (head, _) = watch::channel(0);
        Self {
            inner: Arc::new(Mutex::new(Inner {
                events: VecDeque::new(),
                max_retained: max_retained.max(1),
                head: 0,
                evicted_through: 0,
            })),
            head,
        }
    }

    /// Appends a frame's bytes under `seq`, which must be above every seq appended before
    /// (gaps are fine: real streams have them).
    pub fn append(&self, seq: i64, frame: impl Into<Bytes>) -> Result<(), MockError> {
        {
            let mut inner = self.lock();
            if seq <= inner.head {
                return Err(MockError::SeqNotIncreasing {
                    seq,
                    head: inner.head,
                });
            }
            inner.events.push_back((seq, frame.into()));
            inner.head = seq;
            while inner.events.len() > inner.max_retained {
                if let Some((evicted, _)) = inner.events.pop_front() {
                    inner.evicted_through = evicted;
                }
            }
        }
        self.head.send_replace(seq);
        Ok(())
    }

    /// Encodes and appends a frame under its own seq; returns the seq.
    pub fn append_frame(&self, frame: &Frame) -> Result<i64, MockError> {
        let seq = frame.seq().ok_or(MockError::FrameWithoutSeq {
            kind: frame_kind(frame),
        })?;
        let bytes = frame.encode().map_err(|e| MockError::Frame(Box::new(e)))?;
        self.append(seq, bytes)?;
        Ok(seq)
    }

    /// The newest seq appended (0 before any).
    pub fn head_seq(&self) -> i64 {
        self.lock().head
    }

    /// The oldest seq still retained.
    pub fn oldest_seq(&self) -> Option<i64> {
        self.lock().events.front().map(|(seq, _)| *seq)
    }

    /// Events retained.
    pub fn len(&self) -> usize {
        self.lock().events.len()
    }

    /// True when no event is retained.
    pub fn is_empty(&self) -> bool {
        self.lock().events.is_empty()
    }

    /// Changes the retention; evicts at once if the log is over it.
    pub fn set_max_retained(&self, max_retained: usize) {
        let mut inner = self.lock();
        inner.max_retained = max_retained.max(1);
        while inner.events.len() > inner.max_retained {
            if let Some((evicted, _)) = inner.events.pop_front() {
                inner.evicted_through = evicted;
            }
        }
    }

    /// Up to `max` events with seq above `cursor`.
    pub(crate) fn after(&self, cursor: i64, max: usize) -> Batch {
        let inner = self.lock();
        let start = inner.events.partition_point(|(seq, _)| *seq <= cursor);
        Batch {
            events: inner.events.range(start..).take(max).cloned().collect(),
            gap: inner.evicted_through > cursor,
        }
    }

    /// How many retained events have seq above `cursor`.
    pub(crate) fn count_after(&self, cursor: i64) -> usize {
        let inner = self.lock();
        let start = inner.events.partition_point(|(seq, _)| *seq <= cursor);
        inner.events.len() - start
    }

    /// A receiver woken whenever an event is appended.
    pub(crate) fn watch(&self) -> watch::Receiver<i64> {
        self.head.subscribe()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update leaves the log consistent between statements that could panic.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Default for EventLog {
    /// Retains 100,000 events.
    fn default() -> Self {
        Self::new(100_000)
    }
}

fn frame_kind(frame: &Frame) -> &'static str {
    match frame {
        Frame::Commit(_) => "#commit",
        Frame::Sync(_) => "#sync",
        Frame::Identity(_) => "#identity",
        Frame::Account(_) => "#account",
        Frame::Info(_) => "#info",
        Frame::Labels(_) => "#labels",
        Frame::Error(_) => "error",
        Frame::Unknown { .. } => "unknown",
    }
}
