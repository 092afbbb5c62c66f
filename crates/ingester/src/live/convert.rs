//! Turning decoded frames into the JSON entries the live streams carry.
//!
//! A `#commit` becomes one `create`/`update`/`delete` event per op, each record taken from the
//! commit's own blocks after its bytes are checked against the op's CID (a record we cannot prove
//! is never passed on). `#identity`, `#account` and `#sync` become one event each, and a `#labels`
//! frame becomes one `label_live` entry. Anything that cannot be converted is a [`ConvertError`]
//! naming the frame's seq; the reader records it and steps past it.

use protocol::car::{CarLimits, parse_slice};
use protocol::data_model::{DataModelError, cbor_to_json};
use protocol::frames::{
    AccountFrame, CommitFrame, FrameError, IdentityFrame, LabelsFrame, OpAction, SyncFrame,
};
use streams::payloads::{
    AccountEvent, CommitMarker, IdentityEvent, RecordDelete, RecordWrite, StreamEvent,
};

/// The largest `blocks` of a `#sync` frame: it holds one commit block.
const MAX_SYNC_BLOCKS_BYTES: usize = 64 * 1024;

/// Why a frame could not become stream entries.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The frame's blocks or ops are inconsistent (bad CAR, missing or mismatched record, bad path).
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// A record block that is not valid atproto data.
    #[error("seq {seq}: record {path}: {source}")]
    Record {
        /// The frame's sequence number.
        seq: i64,
        /// The op's `collection/rkey`.
        path: String,
        /// What is wrong with the record.
        #[source]
        source: Box<DataModelError>,
    },
    /// A `#sync` whose blocks do not name a commit.
    #[error("#sync seq {seq}: blocks: {reason}")]
    SyncBlocks {
        /// The frame's sequence number.
        seq: i64,
        /// What is wrong with them.
        reason: String,
    },
    /// A frame type this feed does not carry (say `#labels` on a repo firehose).
    #[error("seq {seq}: unexpected {t} frame on this feed")]
    Unexpected {
        /// The frame's sequence number.
        seq: i64,
        /// The frame type.
        t: &'static str,
    },
    /// An entry could not be serialised (only on allocation failure).
    #[error("seq {seq}: encoding the entry: {source}")]
    Encode {
        /// The frame's sequence number.
        seq: i64,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

/// Which collections of repo events are kept: all, or those starting with one of the prefixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollectionFilter {
    prefixes: Vec<String>,
}

impl CollectionFilter {
    /// A filter keeping collections that start with any of `prefixes`; none keeps everything.
    pub fn new(prefixes: impl IntoIterator<Item = String>) -> CollectionFilter {
        CollectionFilter {
            prefixes: prefixes
                .into_iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
        }
    }

    /// Whether events of `collection` are kept.
    pub fn allows(&self, collection: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| collection.starts_with(p))
    }
}

/// The events of a `#commit`, one per op whose collection passes `filter`, as JSON strings.
pub fn commit_entries(
    frame: &CommitFrame,
    filter: &CollectionFilter,
) -> Result<Vec<String>, ConvertError> {
    let seq = frame.seq;
    let time = frame.time.normalized();
    let did = frame.repo.as_str();
    let commit = frame.commit.to_string();
    let rev = frame.rev.as_str();
    let ops = frame.resolve_ops()?;
    let mut entries = Vec::with_capacity(ops.len());
    for op in ops {
        if !filter.allows(op.collection.as_str()) {
            continue;
        }
        let event = match (op.action, op.cid, op.record) {
            (OpAction::Delete, _, _) => StreamEvent::Delete(RecordDelete {
                seq,
                time: time.clone(),
                did: did.to_owned(),
                commit: commit.clone(),
                rev: rev.to_owned(),
                collection: op.collection.into_string(),
                rkey: op.rkey.into_string(),
            }),
            (action, Some(cid), Some(bytes)) => {
                let record = cbor_to_json(&bytes).map_err(|source| ConvertError::Record {
                    seq,
                    path: format!("{}/{}", op.collection, op.rkey),
                    source: Box::new(source),
                })?;
                let write = RecordWrite {
                    seq,
                    time: time.clone(),
                    did: did.to_owned(),
                    commit: commit.clone(),
                    rev: rev.to_owned(),
                    collection: op.collection.into_string(),
                    rkey: op.rkey.into_string(),
                    cid: cid.to_string(),
                    record,
                };
                if action == OpAction::Create {
                    StreamEvent::Create(write)
                } else {
                    StreamEvent::Update(write)
                }
            }
            // resolve_ops guarantees a CID and a verified record for creates and updates.
            (action, _, _) => {
                return Err(ConvertError::Record {
                    seq,
                    path: format!("{}/{}", op.collection, op.rkey),
                    source: Box::new(DataModelError::Unsupported {
                        what: if action == OpAction::Create {
                            "create without a record"
                        } else {
                            "update without a record"
                        },
                        offset: 0,
                    }),
                });
            }
        };
        entries.push(encode(seq, &event)?);
    }
    Ok(entries)
}

/// The `sync` event of a `#sync` frame; its commit CID is the root of the frame's blocks.
pub fn sync_entry(frame: &SyncFrame) -> Result<String, ConvertError> {
    let limits = CarLimits {
        max_block_bytes: MAX_SYNC_BLOCKS_BYTES,
        max_total_bytes: MAX_SYNC_BLOCKS_BYTES as u64,
    };
    let slice = parse_slice(&frame.blocks, &limits).map_err(|e| ConvertError::SyncBlocks {
        seq: frame.seq,
        reason: e.to_string(),
    })?;
    let root = slice
        .roots
        .first()
        .ok_or_else(|| ConvertError::SyncBlocks {
            seq: frame.seq,
            reason: "no root".into(),
        })?;
    if !slice.blocks.contains_key(root) {
        return Err(ConvertError::SyncBlocks {
            seq: frame.seq,
            reason: format!("the root {root} is not among the blocks"),
        });
    }
    let event = StreamEvent::Sync(CommitMarker {
        seq: frame.seq,
        time: frame.time.normalized(),
        did: frame.did.as_str().to_owned(),
        commit: root.to_string(),
        rev: frame.rev.as_str().to_owned(),
    });
    encode(frame.seq, &event)
}

/// The `identity` event of an `#identity` frame.
pub fn identity_entry(frame: &IdentityFrame) -> Result<String, ConvertError> {
    let event = StreamEvent::Identity(IdentityEvent {
        seq: frame.seq,
        time: frame.time.normalized(),
        did: frame.did.as_str().to_owned(),
        handle: frame.handle.as_ref().map(|h| h.as_str().to_owned()),
    });
    encode(frame.seq, &event)
}

/// The `account` event of an `#account` frame (no status when active, as the contract says).
pub fn account_entry(frame: &AccountFrame) -> Result<String, ConvertError> {
    let event = StreamEvent::Account(AccountEvent {
        seq: frame.seq,
        time: frame.time.normalized(),
        did: frame.did.as_str().to_owned(),
        active: frame.active,
        status: if frame.active {
            None
        } else {
            frame.status.clone()
        },
    });
    encode(frame.seq, &event)
}

/// The `label_live` entry of a `#labels` frame: `{"seq", "labels": [...]}` in atproto JSON.
pub fn labels_entry(frame: &LabelsFrame) -> Result<String, ConvertError> {
    let value = frame.to_atproto_json()?;
    serde_json::to_string(&value).map_err(|source| ConvertError::Encode {
        seq: frame.seq,
        source,
    })
}

fn encode(seq: i64, event: &StreamEvent) -> Result<String, ConvertError> {
    serde_json::to_string(event).map_err(|source| ConvertError::Encode { seq, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matches_prefixes() {
        let all = CollectionFilter::new(Vec::new());
        assert!(all.allows("com.example.thing"));
        let bsky = CollectionFilter::new(vec!["app.bsky.".to_owned(), " ".to_owned()]);
        assert!(bsky.allows("app.bsky.feed.post"));
        assert!(!bsky.allows("com.example.thing"));
    }
}
