//! Why a frame could not be decoded, or a commit's ops could not be resolved.

use cid::Cid;

use crate::car::CarError;
use crate::data_model::DataModelError;
use crate::syntax::SyntaxError;

/// A frame that is malformed, over its bounds, or inconsistent with its blocks.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The frame is larger than the limit.
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Frame length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The header is not valid DAG-CBOR.
    #[error("frame header: {0}")]
    Header(#[source] Box<DataModelError>),
    /// The header is DAG-CBOR but not `{op, t?}` with a known op.
    #[error("bad frame header: {reason}")]
    BadHeader {
        /// What is wrong with it.
        reason: String,
    },
    /// The body is not valid DAG-CBOR.
    #[error("body of {t:?} frame: {source}")]
    Body {
        /// The header's message type.
        t: String,
        /// The data-model violation.
        #[source]
        source: Box<DataModelError>,
    },
    /// Bytes follow the body.
    #[error("{count} trailing bytes after the frame body")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// The body is DAG-CBOR but not the shape its message type requires.
    #[error("bad {t} body: {reason}")]
    BadBody {
        /// The message type.
        t: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A `#commit` carries more blocks or ops than the protocol allows.
    #[error("#commit seq {seq} has {what} {actual}, over the limit of {max}")]
    CommitTooBig {
        /// The frame's sequence number.
        seq: i64,
        /// Which bound (`blocks bytes` or `ops`).
        what: &'static str,
        /// What the frame has.
        actual: usize,
        /// The limit.
        max: usize,
    },
    /// The `blocks` CAR slice is malformed or a block does not hash to its CID.
    #[error("#commit seq {seq}: blocks: {source}")]
    Car {
        /// The frame's sequence number.
        seq: i64,
        /// What the CAR reader found.
        #[source]
        source: Box<CarError>,
    },
    /// An op's path is not `collection/rkey`.
    #[error("#commit seq {seq}: op path {path:?}: {reason}")]
    BadPath {
        /// The frame's sequence number.
        seq: i64,
        /// The path (truncated).
        path: String,
        /// Which part is wrong.
        reason: String,
    },
    /// A create or update op without a CID.
    #[error("#commit seq {seq}: {action} of {path} has no CID")]
    MissingCid {
        /// The frame's sequence number.
        seq: i64,
        /// The op's action.
        action: &'static str,
        /// The op's path.
        path: String,
    },
    /// A create or update op whose record block is not in `blocks`.
    #[error("#commit seq {seq}: record {cid} of {path} is not in the frame's blocks")]
    MissingBlock {
        /// The frame's sequence number.
        seq: i64,
        /// The op's path.
        path: String,
        /// The record CID the op names.
        cid: Box<Cid>,
    },
    /// A record block that does not hash to its op's CID.
    #[error("#commit seq {seq}: record of {path}: {source}")]
    RecordHash {
        /// The frame's sequence number.
        seq: i64,
        /// The op's path.
        path: String,
        /// The hash check's verdict.
        #[source]
        source: Box<DataModelError>,
    },
    /// Encoding a frame failed (only on allocation failure).
    #[error("encoding a frame: {reason}")]
    Encode {
        /// The encoder's message.
        reason: String,
    },
}

impl FrameError {
    /// A path error from a syntax error.
    pub(crate) fn bad_path(seq: i64, path: &str, err: &SyntaxError) -> Self {
        let path = path.chars().take(128).collect();
        FrameError::BadPath {
            seq,
            path,
            reason: err.to_string(),
        }
    }
}
