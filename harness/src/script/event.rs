//! One event of the script: its frame, and what it changes.

use bytes::Bytes;
use cid::Cid;
use protocol::frames::{Label, OpAction};

use crate::network::AccountStatus;

/// Which stream an event is sent on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventSource {
    /// The relay's `subscribeRepos`.
    Relay,
    /// A labeler's `subscribeLabels`.
    Labeler {
        /// The labeler's DID.
        did: String,
        /// The labeler's host, e.g. `labeler1.test`.
        host: String,
    },
}

/// One event of the live script.
#[derive(Debug, Clone)]
pub struct ScriptEvent {
    /// Where it is sent.
    pub source: EventSource,
    /// Its seq on that stream.
    pub seq: i64,
    /// Its `time` (`cts` for labels), canonical RFC 3339.
    pub time: String,
    /// The account it is about (the labeler for labels).
    pub did: String,
    /// The frame exactly as the server sends it.
    pub frame: Bytes,
    /// What it changes.
    pub change: Change,
}

/// What an event changes; the ground truth the oracle replays.
#[derive(Debug, Clone)]
pub enum Change {
    /// A `#commit`: these ops at `rev`; the repository is now `repo`.
    Commit {
        /// The commit's rev.
        rev: String,
        /// The ops, with their record CIDs.
        ops: Vec<OpTruth>,
        /// The repository after the commit.
        repo: RepoSnapshot,
    },
    /// A `#sync`: the repository was reset to `repo`; `ops` says how it differs from before (the
    /// frame itself carries only the commit).
    Sync {
        /// The new commit's rev.
        rev: String,
        /// What the reset changed.
        ops: Vec<OpTruth>,
        /// The repository after the reset.
        repo: RepoSnapshot,
    },
    /// An `#identity`: the account's handle is now `handle` (maybe unchanged).
    Identity {
        /// The current handle.
        handle: String,
    },
    /// An `#account`: the account's status is now `status`.
    Account {
        /// The new status.
        status: AccountStatus,
    },
    /// A `#labels` frame: these labels (signed; `neg` ones remove earlier labels).
    Labels {
        /// The labels.
        labels: Vec<Label>,
    },
}

/// One record operation, as the ground truth knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpTruth {
    /// Create, update or delete.
    pub action: OpAction,
    /// The collection.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// The new record's CID (creates and updates).
    pub cid: Option<Cid>,
    /// The previous record's CID (updates and deletes).
    pub prev: Option<Cid>,
}

impl OpTruth {
    /// `collection/rkey`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.collection, self.rkey)
    }

    /// The record's AT-URI in `did`'s repository.
    pub fn uri(&self, did: &str) -> String {
        format!("at://{did}/{}/{}", self.collection, self.rkey)
    }
}

/// A repository as `getRepo` serves it after an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoSnapshot {
    /// The head commit's CID.
    pub commit: Cid,
    /// The head commit's rev.
    pub rev: String,
    /// The CAR, blocks in the reference PDS's order.
    pub car: Bytes,
}
