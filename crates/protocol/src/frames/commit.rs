//! `#commit` frames: a repo's new commit, the ops it made, and the blocks that prove them.

use bytes::Bytes;
use cid::Cid;
use serde::{Deserialize, Serialize};

use super::FrameError;
use crate::car::{CarLimits, CarSlice, parse_slice};
use crate::data_model::verify_cid;
use crate::syntax::{Datetime, Did, Nsid, RecordKey, Tid};

/// The largest `blocks` field of a `#commit`, in bytes.
pub const MAX_COMMIT_BLOCKS_BYTES: usize = 2 * 1024 * 1024;

/// The most ops one `#commit` may carry.
pub const MAX_COMMIT_OPS: usize = 200;

/// The largest record, in bytes.
const MAX_RECORD_BYTES: usize = 1024 * 1024;

/// The body of a `#commit` frame. Field names and optionality follow the lexicon, so that
/// [`Frame::encode`](super::Frame::encode) reproduces the reference PDS's bytes. The serde impls
/// are for DAG-CBOR only: `serde_json` would write CIDs and `blocks` as arrays of integers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitFrame {
    /// The stream's sequence number.
    pub seq: i64,
    /// Deprecated; always false.
    #[serde(default)]
    pub rebase: bool,
    /// Deprecated; true if the commit was too big to carry its blocks.
    #[serde(default)]
    pub too_big: bool,
    /// The repo's DID.
    pub repo: Did,
    /// The CID of the new commit object.
    pub commit: Cid,
    /// The new commit's revision.
    pub rev: Tid,
    /// The revision of the previous commit, or null for a repo's first commit.
    #[serde(default)]
    pub since: Option<Tid>,
    /// A CAR slice: the commit block, changed MST nodes and new records.
    #[serde(with = "serde_bytes")]
    pub blocks: Vec<u8>,
    /// The record operations of this commit.
    pub ops: Vec<RepoOp>,
    /// Deprecated; blobs referenced by new records.
    #[serde(default)]
    pub blobs: Vec<Cid>,
    /// When the event was sequenced.
    pub time: Datetime,
    /// The MST root of the previous commit, for inversion proofs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_data: Option<Cid>,
}

/// One record operation as the frame states it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoOp {
    /// Create, update or delete.
    pub action: OpAction,
    /// `collection/rkey`.
    pub path: String,
    /// The new record's CID; null for a delete.
    #[serde(default)]
    pub cid: Option<Cid>,
    /// The previous record's CID, for updates and deletes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev: Option<Cid>,
}

/// What an op did to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OpAction {
    /// A new record.
    Create,
    /// A record replaced.
    Update,
    /// A record removed.
    Delete,
}

impl OpAction {
    /// The lexicon's name of the action.
    pub fn as_str(self) -> &'static str {
        match self {
            OpAction::Create => "create",
            OpAction::Update => "update",
            OpAction::Delete => "delete",
        }
    }
}

/// An op with its path split and validated, and its record's bytes (creates and updates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedOp {
    /// Create, update or delete.
    pub action: OpAction,
    /// The record's collection.
    pub collection: Nsid,
    /// The record's key.
    pub rkey: RecordKey,
    /// The new record's CID (creates and updates).
    pub cid: Option<Cid>,
    /// The previous record's CID, when the frame states it.
    pub prev: Option<Cid>,
    /// The record's DAG-CBOR bytes, verified against `cid` (creates and updates).
    pub record: Option<Bytes>,
}

impl CommitFrame {
    /// Refuses frames over the protocol's bounds on blocks and ops.
    pub(crate) fn check_bounds(&self) -> Result<(), FrameError> {
        if self.blocks.len() > MAX_COMMIT_BLOCKS_BYTES {
            return Err(FrameError::CommitTooBig {
                seq: self.seq,
                what: "blocks bytes",
                actual: self.blocks.len(),
                max: MAX_COMMIT_BLOCKS_BYTES,
            });
        }
        if self.ops.len() > MAX_COMMIT_OPS {
            return Err(FrameError::CommitTooBig {
                seq: self.seq,
                what: "ops",
                actual: self.ops.len(),
                max: MAX_COMMIT_OPS,
            });
        }
        Ok(())
    }

    /// Parses and hash-verifies the `blocks` CAR slice.
    pub fn car_slice(&self) -> Result<CarSlice, FrameError> {
        let limits = CarLimits {
            max_block_bytes: MAX_RECORD_BYTES.max(MAX_COMMIT_BLOCKS_BYTES),
            max_total_bytes: MAX_COMMIT_BLOCKS_BYTES as u64,
        };
        parse_slice(&self.blocks, &limits).map_err(|source| FrameError::Car {
            seq: self.seq,
            source: Box::new(source),
        })
    }

    /// Resolves every op: validates its path, and for creates and updates finds the record block
    /// its CID names in `blocks` and checks the bytes hash to that CID. A delete has no record.
    pub fn resolve_ops(&self) -> Result<Vec<ResolvedOp>, FrameError> {
        let needs_blocks = self.ops.iter().any(|op| op.action != OpAction::Delete);
        let slice = if needs_blocks {
            Some(self.car_slice()?)
        } else {
            None
        };
        self.ops
            .iter()
            .map(|op| self.resolve_op(op, slice.as_ref()))
            .collect()
    }

    fn resolve_op(&self, op: &RepoOp, slice: Option<&CarSlice>) -> Result<ResolvedOp, FrameError> {
        let seq = self.seq;
        let (collection, rkey) = op.path.split_once('/').ok_or_else(|| FrameError::BadPath {
            seq,
            path: op.path.chars().take(128).collect(),
            reason: "not collection/rkey".into(),
        })?;
        let collection: Nsid = collection
            .parse()
            .map_err(|e| FrameError::bad_path(seq, &op.path, &e))?;
        let rkey: RecordKey = rkey
            .parse()
            .map_err(|e| FrameError::bad_path(seq, &op.path, &e))?;
        let record = match (op.action, slice) {
            (OpAction::Delete, _) => None,
            (action, slice) => {
                let cid = op.cid.ok_or_else(|| FrameError::MissingCid {
                    seq,
                    action: action.as_str(),
                    path: op.path.clone(),
                })?;
                let bytes = slice.and_then(|s| s.blocks.get(&cid)).ok_or_else(|| {
                    FrameError::MissingBlock {
                        seq,
                        path: op.path.clone(),
                        cid: Box::new(cid),
                    }
                })?;
                verify_cid(&cid, bytes).map_err(|source| FrameError::RecordHash {
                    seq,
                    path: op.path.clone(),
                    source: Box::new(source),
                })?;
                Some(bytes.clone())
            }
        };
        Ok(ResolvedOp {
            action: op.action,
            collection,
            rkey,
            cid: if op.action == OpAction::Delete {
                None
            } else {
                op.cid
            },
            prev: op.prev,
            record,
        })
    }
}
