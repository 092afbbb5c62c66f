//! Event-stream frames: what `com.atproto.sync.subscribeRepos` and
//! `com.atproto.label.subscribeLabels` send over their WebSockets.
//!
//! A frame is two DAG-CBOR values back to back: a header `{op: 1, t: "#commit"}` (or `{op: -1}` for
//! an error) and a body whose shape the header's `t` names. [`Frame::decode`] checks both values
//! with the bounded data-model walker before serde sees them (serde's CBOR decoder has no depth
//! limit of its own), then decodes the body into its typed struct. [`Frame::encode`] writes the
//! same canonical bytes the reference PDS does, so the harness's mock relay and labeler are
//! indistinguishable from real ones. A `#commit`'s ops resolve to their record blocks with
//! [`CommitFrame::resolve_ops`].

mod commit;
mod error;
mod events;
mod labels;

use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::data_model::{DecodeLimits, check_prefix};

pub use commit::{CommitFrame, OpAction, RepoOp, ResolvedOp};
pub use error::FrameError;
pub use events::{AccountFrame, ErrorFrame, IdentityFrame, InfoFrame, SyncFrame};
pub use labels::{Label, LabelsFrame};

/// The largest frame accepted, in bytes.
pub const MAX_FRAME_BYTES: usize = 5 * 1024 * 1024;

/// Nesting allowed in a frame's header and body; real ones need four or five levels.
const MAX_FRAME_DEPTH: usize = 32;

/// One decoded event-stream frame.
// Frames are handled one at a time, never stored in bulk: boxing the commit would only add an
// allocation per event.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `#commit`: records created, updated or deleted in a repo.
    Commit(CommitFrame),
    /// `#sync`: the repo was reset to a new commit.
    Sync(SyncFrame),
    /// `#identity`: the account's handle or DID document may have changed.
    Identity(IdentityFrame),
    /// `#account`: the account's hosting status changed.
    Account(AccountFrame),
    /// `#info`: an informational message from the server (e.g. `OutdatedCursor`).
    Info(InfoFrame),
    /// `#labels`: labels from a labeler.
    Labels(LabelsFrame),
    /// An error frame (`op: -1`); the server closes the connection after it.
    Error(ErrorFrame),
    /// A message type this code does not know; skipped for forward compatibility.
    Unknown {
        /// The header's `t`.
        t: String,
    },
}

/// The first value of every frame.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    op: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<String>,
}

impl Frame {
    /// Decodes one frame (the payload of one binary WebSocket message).
    pub fn decode(bytes: &[u8]) -> Result<Frame, FrameError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(FrameError::TooLarge {
                len: bytes.len(),
                max: MAX_FRAME_BYTES,
            });
        }
        let limits = DecodeLimits {
            max_bytes: MAX_FRAME_BYTES,
            max_depth: MAX_FRAME_DEPTH,
        };
        let header_len =
            check_prefix(bytes, &limits).map_err(|e| FrameError::Header(Box::new(e)))?;
        let (header_bytes, body) = bytes.split_at(header_len);
        let header: Header =
            serde_ipld_dagcbor::from_slice(header_bytes).map_err(|e| FrameError::BadHeader {
                reason: e.to_string(),
            })?;
        let body_len = check_prefix(body, &limits).map_err(|source| FrameError::Body {
            t: header.t.clone().unwrap_or_default(),
            source: Box::new(source),
        })?;
        if body_len != body.len() {
            return Err(FrameError::TrailingBytes {
                count: body.len() - body_len,
            });
        }
        match (header.op, header.t.as_deref()) {
            (-1, _) => typed(body, "error").map(Frame::Error),
            (1, Some("#commit")) => {
                let commit: CommitFrame = typed(body, "#commit")?;
                commit.check_bounds()?;
                Ok(Frame::Commit(commit))
            }
            (1, Some("#sync")) => typed(body, "#sync").map(Frame::Sync),
            (1, Some("#identity")) => typed(body, "#identity").map(Frame::Identity),
            (1, Some("#account")) => typed(body, "#account").map(Frame::Account),
            (1, Some("#info")) => typed(body, "#info").map(Frame::Info),
            (1, Some("#labels")) => typed(body, "#labels").map(Frame::Labels),
            (1, Some(t)) => Ok(Frame::Unknown { t: t.to_owned() }),
            (1, None) => Err(FrameError::BadHeader {
                reason: "op 1 without a message type".into(),
            }),
            (op, _) => Err(FrameError::BadHeader {
                reason: format!("unknown op {op}"),
            }),
        }
    }

    /// Encodes the frame as canonical DAG-CBOR, byte for byte what the reference PDS sends for the
    /// same event. An `Unknown` frame encodes with an empty body.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        match self {
            Frame::Commit(body) => encode_pair(1, Some("#commit"), body),
            Frame::Sync(body) => encode_pair(1, Some("#sync"), body),
            Frame::Identity(body) => encode_pair(1, Some("#identity"), body),
            Frame::Account(body) => encode_pair(1, Some("#account"), body),
            Frame::Info(body) => encode_pair(1, Some("#info"), body),
            Frame::Labels(body) => encode_pair(1, Some("#labels"), body),
            Frame::Error(body) => encode_pair(-1, None, body),
            Frame::Unknown { t } => encode_pair(1, Some(t), &serde_json::Map::new()),
        }
    }

    /// The event's sequence number, for frames that have one.
    pub fn seq(&self) -> Option<i64> {
        match self {
            Frame::Commit(f) => Some(f.seq),
            Frame::Sync(f) => Some(f.seq),
            Frame::Identity(f) => Some(f.seq),
            Frame::Account(f) => Some(f.seq),
            Frame::Labels(f) => Some(f.seq),
            Frame::Info(_) | Frame::Error(_) | Frame::Unknown { .. } => None,
        }
    }
}

/// Decodes a checked body into its struct.
fn typed<T: DeserializeOwned>(body: &[u8], t: &'static str) -> Result<T, FrameError> {
    serde_ipld_dagcbor::from_slice(body).map_err(|e| FrameError::BadBody {
        t,
        reason: e.to_string(),
    })
}

/// Writes a header and a body.
fn encode_pair<B: Serialize>(op: i64, t: Option<&str>, body: &B) -> Result<Vec<u8>, FrameError> {
    let header = Header {
        op,
        t: t.map(str::to_owned),
    };
    let mut out = serde_ipld_dagcbor::to_vec(&header).map_err(|e| FrameError::Encode {
        reason: e.to_string(),
    })?;
    let body = serde_ipld_dagcbor::to_vec(body).map_err(|e| FrameError::Encode {
        reason: e.to_string(),
    })?;
    out.extend_from_slice(&body);
    Ok(out)
}
