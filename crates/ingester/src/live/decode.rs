//! Decoding and converting one binary frame, apart from the socket so that several frames can be
//! decoded at once (on the runtime's worker threads) while their results are still used in order.

use bytes::Bytes;
use protocol::frames::{ErrorFrame, Frame, InfoFrame};

use super::feed::{Feed, frame_type};

/// What one binary message turned out to be.
#[derive(Debug)]
pub enum Decoded {
    /// A sequenced frame's entries (none when filtered out).
    Entries {
        /// The frame's seq.
        seq: Option<i64>,
        /// Its entries.
        payloads: Vec<String>,
    },
    /// A frame that cannot be used: to be recorded and stepped past.
    Skip {
        /// Its seq, when it could be read.
        seq: Option<i64>,
        /// Why.
        error: String,
        /// The frame, for the record.
        frame: Bytes,
    },
    /// An `#info` message.
    Info(InfoFrame),
    /// An error frame; the server closes after it.
    Error(ErrorFrame),
    /// A message type this code does not know.
    Unknown(String),
}

/// Decodes `bytes` and converts it for `feed`; `host` labels the metrics.
pub fn decode(feed: &Feed, host: &str, bytes: Bytes) -> Decoded {
    let frame = match Frame::decode(&bytes) {
        Ok(frame) => frame,
        Err(e) => {
            return Decoded::Skip {
                seq: None,
                error: e.to_string(),
                frame: bytes,
            };
        }
    };
    metrics::counter!("ingester_frames_total", "feed" => feed.name(),
        "host" => host.to_owned(), "type" => frame_type(&frame))
    .increment(1);
    match frame {
        Frame::Info(info) => Decoded::Info(info),
        Frame::Error(error) => Decoded::Error(error),
        Frame::Unknown { t } => Decoded::Unknown(t),
        sequenced => {
            let seq = sequenced.seq();
            match feed.entries(&sequenced) {
                Ok(payloads) => Decoded::Entries { seq, payloads },
                Err(e) => Decoded::Skip {
                    seq,
                    error: e.to_string(),
                    frame: bytes,
                },
            }
        }
    }
}
