//! The manifest: the oracle's expectations as plain serde data, and its file I/O. The format is
//! documented in the [module above](super).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::OracleError;

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
    /// The dead-letter stream (`repo_backfill_dlq`).
    pub stream: String,
    /// A word or phrase the entry's reason contains (case-insensitive), e.g. `bad signature`.
    pub reason: String,
    /// Whether the entry must be there.
    pub required: bool,
}

impl Manifest {
    /// Writes the manifest as JSON to `path`.
    pub fn write(&self, path: &Path) -> Result<(), OracleError> {
        let io = |source| OracleError::Io {
            doing: "writing",
            path: path.to_owned(),
            source,
        };
        let mut file = BufWriter::new(File::create(path).map_err(io)?);
        serde_json::to_writer(&mut file, self).map_err(|e| io(std::io::Error::other(e)))?;
        file.write_all(b"\n").map_err(io)?;
        file.flush().map_err(io)
    }

    /// Reads a manifest written by [`Manifest::write`], refusing other formats.
    pub fn read(path: &Path) -> Result<Manifest, OracleError> {
        let file = File::open(path).map_err(|source| OracleError::Io {
            doing: "reading",
            path: path.to_owned(),
            source,
        })?;
        let manifest: Manifest =
            serde_json::from_reader(BufReader::new(file)).map_err(|source| OracleError::Parse {
                path: path.to_owned(),
                source,
            })?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(OracleError::Format {
                path: path.to_owned(),
                found: manifest.format,
                expected: MANIFEST_FORMAT,
            });
        }
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
