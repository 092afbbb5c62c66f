//! The manifest: what a correct pipeline must end with, as the harness's oracle computes it.
//!
//! Written by the harness (`harness::oracle`), read by `verify --expect FILE`. The types live here
//! because `verify` must not depend on the harness; the harness depends on them instead.
//!
//! # Format (`format: "harness-manifest/1"`)
//!
//! One JSON object; every list is sorted (by `uri`, `did`, or label key) so manifests diff well.
//!
//! | field | meaning |
//! |---|---|
//! | `format` | `"harness-manifest/1"` |
//! | `network_seed`, `script_seed` | what generated the world (`script_seed` null without a script) |
//! | `events_applied` | how many script events (relay and labeler, timeline order) are in the truth |
//! | `relay_seq` | seq of the last relay event applied (null if none) |
//! | `labeler_seqs` | `{labeler DID: seq of its last event applied}` |
//! | `actors` | one per account: see below |
//! | `records` | `[{uri, cid, rev, required}]`: records that may be in `record` |
//! | `absent` | `[{uri, rev}]`: records that must **not** be in `record` |
//! | `labels` | `[{src, uri, cid, val, exp}]`: exactly the rows of `label` (`cid` is `""` for account labels) |
//! | `dead_letters` | `[{did, stream, reason, required}]`: `stream` is the dead-letter stream itself |
//!
//! `actors[]`: `{did, pds, handle, handle_from_event, status, status_from_event, head, rev,
//! head_from_event}`. `status` is null when active, else `deactivated`, `takendown` or `deleted`
//! (the upstream truth; the indexer can only know it from an `#account` event, which
//! `status_from_event` says happened). `handle` is the current handle (`handle_from_event`: an
//! `#identity` announced it). `head`/`rev` are the repository's current commit and rev (null for
//! deleted accounts).
//!
//! The rules `verify` applies are in [`crate::expect`].

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The format string this code writes and reads.
pub const MANIFEST_FORMAT: &str = "harness-manifest/1";

/// What the database must hold after a network and a script prefix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The network's seed.
    pub network_seed: u64,
    /// The script's seed, if a script was applied.
    pub script_seed: Option<u64>,
    /// How many script events the truth includes.
    pub events_applied: usize,
    /// Seq of the last relay event applied.
    pub relay_seq: Option<i64>,
    /// Seq of each labeler's last event applied.
    pub labeler_seqs: BTreeMap<String, i64>,
    /// One entry per account, by DID.
    pub actors: Vec<ActorExpectation>,
    /// Records that may (or, `required`, must) be in `record`, by URI.
    pub records: Vec<RecordExpectation>,
    /// Records that must not be in `record`, by URI.
    pub absent: Vec<AbsentRecord>,
    /// Exactly the rows of `label`.
    pub labels: Vec<LabelExpectation>,
    /// Repositories whose backfill ends (or may end) in a dead-letter stream.
    pub dead_letters: Vec<DeadLetterExpectation>,
}

/// An account's expected state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActorExpectation {
    /// The DID.
    pub did: String,
    /// Its PDS host name.
    pub pds: String,
    /// Its current handle.
    pub handle: String,
    /// Whether an `#identity` event announced that handle.
    pub handle_from_event: bool,
    /// Upstream status: null when active.
    pub status: Option<String>,
    /// Whether an `#account` event announced that status.
    pub status_from_event: bool,
    /// The repository's head commit (null once deleted).
    pub head: Option<String>,
    /// The repository's rev (null once deleted).
    pub rev: Option<String>,
    /// Whether a `#commit` or `#sync` announced that head.
    pub head_from_event: bool,
}

/// A record that may or must be in `record`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordExpectation {
    /// The AT-URI.
    pub uri: String,
    /// The CID of its current content.
    pub cid: String,
    /// The rev of the commit that wrote that content (the stored rev is at least this).
    pub rev: String,
    /// Whether it must be there (false: it may be missing, but not different).
    pub required: bool,
}

/// A record that must not be in `record`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AbsentRecord {
    /// The AT-URI.
    pub uri: String,
    /// The rev of the delete, when a commit deleted it (null when its account was deleted or its
    /// repository could never be fetched).
    pub rev: Option<String>,
}

/// A row of `label`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LabelExpectation {
    /// The labeler's DID.
    pub src: String,
    /// The subject: an AT-URI or a bare DID.
    pub uri: String,
    /// The subject's CID, `""` for account labels.
    pub cid: String,
    /// The value.
    pub val: String,
    /// The expiry, if any.
    pub exp: Option<String>,
}

/// A repository whose backfill ends (or may end) in a dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetterExpectation {
    /// The repository's DID.
    pub did: String,
    /// The dead-letter stream itself (`repo_backfill_dlq`).
    pub stream: String,
    /// A word or phrase the entry's reason contains (case-insensitive), e.g. `bad signature`.
    pub reason: String,
    /// Whether the entry must be there.
    pub required: bool,
}

/// Why a manifest could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be written or read.
    #[error("{doing} manifest {path}: {source}")]
    Io {
        /// What was being done.
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a manifest.
    #[error("manifest {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest's format is not this code's.
    #[error("manifest {path} has format {found:?}, expected {expected:?}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format string.
        found: String,
        /// The format this code reads.
        expected: &'static str,
    },
}

impl Manifest {
    /// An empty manifest: no accounts, no script, nothing expected.
    pub fn empty(network_seed: u64) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.to_owned(),
            network_seed,
            script_seed: None,
            events_applied: 0,
            relay_seq: None,
            labeler_seqs: BTreeMap::new(),
            actors: Vec::new(),
            records: Vec::new(),
            absent: Vec::new(),
            labels: Vec::new(),
            dead_letters: Vec::new(),
        }
    }

    /// Sorts every list the way the format says, so lookups work and equal manifests are
    /// byte-identical.
    pub fn sort(&mut self) {
        self.actors.sort_by(|a, b| a.did.cmp(&b.did));
        self.records.sort_by(|a, b| a.uri.cmp(&b.uri));
        self.absent.sort_by(|a, b| a.uri.cmp(&b.uri));
        self.labels.sort();
        self.dead_letters
            .sort_by(|a, b| (&a.did, &a.stream).cmp(&(&b.did, &b.stream)));
    }

    /// Writes the manifest as JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<(), ManifestError> {
        let io = |source| ManifestError::Io {
            doing: "writing",
            path: path.to_owned(),
            source,
        };
        let mut file = BufWriter::new(File::create(path).map_err(io)?);
        serde_json::to_writer(&mut file, self).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(b"\n").map_err(io)?;
        file.flush().map_err(io)
    }

    /// Reads a manifest written by [`Manifest::write`], refusing other formats. Lists are sorted
    /// on the way in, so a hand-written manifest need not be.
    pub fn read(path: &Path) -> Result<Manifest, ManifestError> {
        let file = File::open(path).map_err(|source| ManifestError::Io {
            doing: "reading",
            path: path.to_owned(),
            source,
        })?;
        let mut manifest: Manifest =
            serde_json::from_reader(BufReader::new(file)).map_err(|source| {
                ManifestError::Parse {
                    path: path.to_owned(),
                    source,
                }
            })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(ManifestError::Format {
                path: path.to_owned(),
                found: manifest.format,
                expected: MANIFEST_FORMAT,
            });
        }
        manifest.sort();
        Ok(manifest)
    }

    /// The expectation for `uri`, if it is listed in `records`.
    pub fn record(&self, uri: &str) -> Option<&RecordExpectation> {
        self.records
            .binary_search_by(|r| r.uri.as_str().cmp(uri))
            .ok()
            .and_then(|i| self.records.get(i))
    }

    /// The expectation for `did`, if it is an account of the network.
    pub fn actor(&self, did: &str) -> Option<&ActorExpectation> {
        self.actors
            .binary_search_by(|a| a.did.as_str().cmp(did))
            .ok()
            .and_then(|i| self.actors.get(i))
    }
}
