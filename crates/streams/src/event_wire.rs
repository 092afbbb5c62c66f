//! How a [`StreamEvent`] is read: one pass over the JSON into a flat set of fields, then the
//! fields its `type` needs.
//!
//! The derived reading of an internally tagged enum buffers the whole document first (every
//! string, and the record's whole tree) to find the tag, then reads the buffer again: on the
//! indexer, the largest single cost of its own CPU. The document's fields are few and their
//! names do not clash between types, so one flat struct reads any of them in a single pass.
//! What is accepted is unchanged: the fields a type requires, unknown fields ignored.

use serde::Deserialize;
use serde::de::Error as _;

use crate::payloads::{
    AccountEvent, CommitMarker, IdentityEvent, RecordDelete, RecordWrite, StreamEvent,
};

/// The `type` tag.
#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Create,
    Update,
    Delete,
    Identity,
    Account,
    Sync,
    Repo,
}

/// Every field any event type has.
#[derive(Deserialize)]
pub(crate) struct WireEvent {
    #[serde(rename = "type")]
    kind: Kind,
    seq: Option<i64>,
    time: Option<String>,
    did: Option<String>,
    commit: Option<String>,
    rev: Option<String>,
    collection: Option<String>,
    rkey: Option<String>,
    cid: Option<String>,
    /// `Some(Null)` for an explicit `null`, as the derived reading had it; `None` when absent.
    #[serde(default, deserialize_with = "present")]
    record: Option<serde_json::Value>,
    handle: Option<String>,
    active: Option<bool>,
    status: Option<String>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A required field, or the error the derived reading gave for its absence.
fn required<T>(field: Option<T>, name: &'static str) -> Result<T, serde_json::Error> {
    field.ok_or_else(|| serde_json::Error::missing_field(name))
}

impl TryFrom<WireEvent> for StreamEvent {
    type Error = serde_json::Error;

    fn try_from(w: WireEvent) -> Result<Self, Self::Error> {
        let seq = required(w.seq, "seq")?;
        let time = required(w.time, "time")?;
        let did = required(w.did, "did")?;
        Ok(match w.kind {
            Kind::Create | Kind::Update => {
                let write = RecordWrite {
                    seq,
                    time,
                    did,
                    commit: required(w.commit, "commit")?,
                    rev: required(w.rev, "rev")?,
                    collection: required(w.collection, "collection")?,
                    rkey: required(w.rkey, "rkey")?,
                    cid: required(w.cid, "cid")?,
                    record: required(w.record, "record")?,
                };
                if matches!(w.kind, Kind::Create) {
                    StreamEvent::Create(write)
                } else {
                    StreamEvent::Update(write)
                }
            }
            Kind::Delete => StreamEvent::Delete(RecordDelete {
                seq,
                time,
                did,
                commit: required(w.commit, "commit")?,
                rev: required(w.rev, "rev")?,
                collection: required(w.collection, "collection")?,
                rkey: required(w.rkey, "rkey")?,
            }),
            Kind::Identity => StreamEvent::Identity(IdentityEvent {
                seq,
                time,
                did,
                handle: w.handle,
            }),
            Kind::Account => StreamEvent::Account(AccountEvent {
                seq,
                time,
                did,
                active: required(w.active, "active")?,
                status: w.status,
            }),
            Kind::Sync | Kind::Repo => {
                let marker = CommitMarker {
                    seq,
                    time,
                    did,
                    commit: required(w.commit, "commit")?,
                    rev: required(w.rev, "rev")?,
                };
                if matches!(w.kind, Kind::Sync) {
                    StreamEvent::Sync(marker)
                } else {
                    StreamEvent::Repo(marker)
                }
            }
        })
    }
}
