//! The ways loading or building a repository can fail.
//!
//! CIDs are boxed in errors: a CID is ~100 bytes, and every `Result` in the hot path would carry it.

use cid::Cid;

use crate::car::CarError;
use crate::crypto::SignatureError;
use crate::mst::MstError;

/// Which role a missing block was expected to play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// The signed commit (the CAR's root).
    Commit,
    /// A node of the MST.
    MstNode,
    /// A record the MST points at.
    Record,
}

impl std::fmt::Display for BlockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Commit => "commit",
            Self::MstNode => "MST node",
            Self::Record => "record",
        })
    }
}

/// Why a repository was rejected.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The CAR itself is malformed, truncated, too large, or a block fails its hash.
    #[error(transparent)]
    Car(#[from] CarError),
    /// A block the repository needs is not in the CAR.
    #[error("{kind} block {cid} is missing from the repository")]
    MissingBlock {
        /// The missing block.
        cid: Box<Cid>,
        /// What it should have been.
        kind: BlockKind,
    },
    /// The commit block does not decode as a commit.
    #[error("commit {cid} is malformed: {reason}")]
    BadCommit {
        /// The commit block.
        cid: Box<Cid>,
        /// What is wrong.
        reason: String,
    },
    /// The commit is not version 3.
    #[error("commit {cid} has version {version}, expected 3")]
    BadVersion {
        /// The commit block.
        cid: Box<Cid>,
        /// The version found.
        version: u64,
    },
    /// The commit belongs to another account.
    #[error("commit {cid} is for {actual}, expected {expected}")]
    WrongDid {
        /// The commit block.
        cid: Box<Cid>,
        /// The DID that was asked for.
        expected: String,
        /// The DID in the commit.
        actual: String,
    },
    /// The commit's signature does not verify against the account's key.
    #[error("commit {cid} of {did} has a bad signature")]
    BadSignature {
        /// The commit block.
        cid: Box<Cid>,
        /// Its DID.
        did: String,
        /// Why verification failed.
        #[source]
        source: SignatureError,
    },
    /// The MST is invalid (what and where are in the inner error).
    #[error("invalid MST: {0}")]
    Mst(#[source] MstError),
    /// The temporary file that holds spilled records failed.
    #[error("spill file I/O failed while {doing}")]
    Spill {
        /// What the loader was doing.
        doing: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The CAR holds more distinct blocks than [`LoadOptions::index_memory_budget`] allows
    /// (see [`INDEX_BYTES_PER_BLOCK`]).
    ///
    /// [`LoadOptions::index_memory_budget`]: super::LoadOptions::index_memory_budget
    /// [`INDEX_BYTES_PER_BLOCK`]: super::INDEX_BYTES_PER_BLOCK
    #[error("repository has more than {limit} distinct blocks (the block index's budget)")]
    TooManyBlocks {
        /// The most blocks allowed.
        limit: usize,
    },
    /// Two records given to the writer have the same collection and record key.
    #[error("duplicate record key {key:?}")]
    DuplicateKey {
        /// The key.
        key: String,
    },
    /// Encoding a commit failed.
    #[error("encoding the commit failed: {0}")]
    Encode(String),
}

impl From<MstError> for RepoError {
    fn from(error: MstError) -> Self {
        match error {
            MstError::MissingNode { cid } => Self::MissingBlock {
                cid,
                kind: BlockKind::MstNode,
            },
            other => Self::Mst(other),
        }
    }
}
