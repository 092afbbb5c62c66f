//! The small frames: `#sync`, `#identity`, `#account`, `#info`, and error frames.

use serde::{Deserialize, Serialize};

use crate::syntax::{Datetime, Did, Handle, Tid};

/// The body of a `#sync` frame: the repo was reset to the commit in `blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFrame {
    /// The stream's sequence number.
    pub seq: i64,
    /// The repo's DID.
    pub did: Did,
    /// A CAR slice holding the commit block.
    #[serde(with = "serde_bytes")]
    pub blocks: Vec<u8>,
    /// The commit's revision.
    pub rev: Tid,
    /// When the event was sequenced.
    pub time: Datetime,
}

/// The body of an `#identity` frame: re-resolve the DID (and handle).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityFrame {
    /// The stream's sequence number.
    pub seq: i64,
    /// The account's DID.
    pub did: Did,
    /// When the event was sequenced.
    pub time: Datetime,
    /// The account's current handle, when the server states it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<Handle>,
}

/// The body of an `#account` frame: the account's hosting status changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountFrame {
    /// The stream's sequence number.
    pub seq: i64,
    /// The account's DID.
    pub did: Did,
    /// When the event was sequenced.
    pub time: Datetime,
    /// Whether the account's repo is served.
    pub active: bool,
    /// Why not, when inactive (`takendown`, `suspended`, `deleted`, `deactivated`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// The body of an `#info` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InfoFrame {
    /// The message's name, e.g. `OutdatedCursor`.
    pub name: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The body of an error frame (`op: -1`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    /// The error's name, e.g. `FutureCursor` or `ConsumerTooSlow`.
    pub error: String,
    /// A human-readable explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
