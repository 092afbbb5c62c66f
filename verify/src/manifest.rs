//! The manifest: what a correct pipeline must end with, as the harness's oracle computes it.
//!
//! Written by the harness (`harness::oracle`), read by `verify --expect FILE`. JSON:
//!
//! ```json
//! {
//!   "version": 1,
//!   "records": [{"uri": "at://did:plc:…/app.bsky.feed.post/3k…", "cid": "bafyrei…", "rev": "3k…"}],
//!   "absent": ["at://did:plc:…/app.bsky.feed.like/3k…"],
//!   "actors": [{"did": "did:plc:…", "handle": "alice.test", "upstream_status": null}],
//!   "labels": [{"src": "did:plc:…", "uri": "at://…", "cid": "", "val": "spam"}],
//!   "dead_letters": [{"stream": "repo_backfill", "did": "did:plc:…", "reason": "RepoTakendown"}]
//! }
//! ```
//!
//! - `records`: every record that must be in the `record` table, with its CID and the rev that
//!   wrote it. Records of DIDs that appear nowhere in the manifest are not judged.
//! - `absent`: URIs that must not be in `record` (deleted, or authored by a deleted account).
//! - `actors`: the handle (`null`: none) and `upstreamStatus` (`null`: active) of each account.
//! - `labels`: the exact set of `label` rows (`cid` is `""` for account-level labels).
//! - `dead_letters`: repos that must end in `<stream>_dlq`, with the start of the reason.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// The manifest format version this code reads and writes.
pub const MANIFEST_VERSION: u32 = 1;

/// What the database (and the dead-letter streams) must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_VERSION`].
    pub version: u32,
    /// Records that must be present.
    pub records: Vec<ExpectedRecord>,
    /// URIs that must be absent.
    pub absent: Vec<String>,
    /// Account states.
    pub actors: Vec<ExpectedActor>,
    /// The exact label set.
    pub labels: Vec<ExpectedLabel>,
    /// Repos that must be dead-lettered.
    pub dead_letters: Vec<ExpectedDeadLetter>,
}

/// A record that must be present.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExpectedRecord {
    /// `at://did/collection/rkey`.
    pub uri: String,
    /// The record's CID.
    pub cid: String,
    /// The rev of the commit that wrote this version.
    pub rev: String,
}

/// An account's expected state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExpectedActor {
    /// The account.
    pub did: String,
    /// Its verified handle, lower case; `None` when it has none.
    pub handle: Option<String>,
    /// `takendown`, `suspended`, `deactivated`; `None` when active.
    pub upstream_status: Option<String>,
}

/// A label row.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExpectedLabel {
    /// The labeler's DID.
    pub src: String,
    /// The labelled subject (a record URI, or a bare DID).
    pub uri: String,
    /// The record's CID, `""` for account-level labels.
    pub cid: String,
    /// The label value.
    pub val: String,
}

/// A repo that must end in a dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExpectedDeadLetter {
    /// The stream whose DLQ holds it (`repo_backfill` for repos).
    pub stream: String,
    /// The repo's DID.
    pub did: String,
    /// How the reason must start (e.g. `RepoTakendown`, `bad signature`).
    pub reason: String,
}

/// Errors reading or writing a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read or written.
    #[error("manifest {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("manifest {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A manifest of another version.
    #[error("manifest {path} has version {found}; this verify reads version {MANIFEST_VERSION}")]
    Version {
        /// The file.
        path: String,
        /// Its version.
        found: u32,
    },
}

impl Manifest {
    /// An empty manifest of the current version.
    pub fn new() -> Manifest {
        Manifest { version: MANIFEST_VERSION, ..Manifest::default() }
    }

    /// Reads a manifest file.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let name = path.display().to_string();
        let text = std::fs::read(path).map_err(|source| ManifestError::Io { path: name.clone(), source })?;
        let manifest: Manifest =
            serde_json::from_slice(&text).map_err(|source| ManifestError::Parse { path: name.clone(), source })?;
        if manifest.version != MANIFEST_VERSION {
            return Err(ManifestError::Version { path: name, found: manifest.version });
        }
        Ok(manifest)
    }

    /// Writes the manifest, sorted so that equal manifests are byte-identical.
    pub fn write(&self, path: &Path) -> Result<(), ManifestError> {
        let mut sorted = self.clone();
        sorted.records.sort();
        sorted.absent.sort();
        sorted.actors.sort();
        sorted.labels.sort();
        sorted.dead_letters.sort();
        let name = path.display().to_string();
        let json = serde_json::to_vec_pretty(&sorted).map_err(|source| ManifestError::Parse { path: name.clone(), source })?;
        std::fs::write(path, json).map_err(|source| ManifestError::Io { path: name, source })
    }
}
