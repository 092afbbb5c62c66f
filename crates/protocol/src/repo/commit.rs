//! The signed commit at the root of a repository (version 3), and the bytes its signature covers.

use cid::Cid;
use serde::{Deserialize, Serialize};

use super::RepoError;
use crate::car::{CODEC_DAG_CBOR, cid_for};
use crate::crypto::{Keypair, PublicKey};

/// The commit version this crate reads and writes.
pub const COMMIT_VERSION: u64 = 3;

/// A signed commit: `{did, version, data, rev, prev, sig}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commit {
    /// The account.
    pub did: String,
    /// Always 3 for current repositories.
    pub version: u64,
    /// The MST root.
    pub data: Cid,
    /// The revision, a TID; revisions compare as strings.
    pub rev: String,
    /// Unused since version 3 but always present (as null).
    pub prev: Option<Cid>,
    /// 64-byte `r‖s` signature over the DAG-CBOR of the commit without `sig`.
    #[serde(with = "serde_bytes")]
    pub sig: Vec<u8>,
}

/// A commit before signing: exactly the fields the signature covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnsignedCommit {
    /// The account.
    pub did: String,
    /// Always 3 for current repositories.
    pub version: u64,
    /// The MST root.
    pub data: Cid,
    /// The revision, a TID.
    pub rev: String,
    /// Always null since version 3.
    pub prev: Option<Cid>,
}

impl UnsignedCommit {
    /// A version-3 commit of `did` at `rev` over the MST rooted at `data`.
    pub fn new(did: impl Into<String>, data: Cid, rev: impl Into<String>) -> Self {
        Self {
            did: did.into(),
            version: COMMIT_VERSION,
            data,
            rev: rev.into(),
            prev: None,
        }
    }

    /// The canonical DAG-CBOR bytes the signature covers.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RepoError> {
        serde_ipld_dagcbor::to_vec(self).map_err(|e| RepoError::Encode(e.to_string()))
    }

    /// Signs with `key`.
    pub fn sign(self, key: &Keypair) -> Result<Commit, RepoError> {
        let sig = key.sign(&self.to_bytes()?).to_vec();
        Ok(Commit {
            did: self.did,
            version: self.version,
            data: self.data,
            rev: self.rev,
            prev: self.prev,
            sig,
        })
    }
}

impl Commit {
    /// Decodes commit block `cid`.
    pub fn decode(cid: &Cid, bytes: &[u8]) -> Result<Self, RepoError> {
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| RepoError::BadCommit {
            cid: Box::new(*cid),
            reason: e.to_string(),
        })
    }

    /// The canonical DAG-CBOR of the signed commit.
    pub fn to_bytes(&self) -> Result<Vec<u8>, RepoError> {
        serde_ipld_dagcbor::to_vec(self).map_err(|e| RepoError::Encode(e.to_string()))
    }

    /// The commit's CID and block.
    pub fn to_block(&self) -> Result<(Cid, Vec<u8>), RepoError> {
        let bytes = self.to_bytes()?;
        Ok((cid_for(CODEC_DAG_CBOR, &bytes), bytes))
    }

    /// The commit without its signature.
    pub fn unsigned(&self) -> UnsignedCommit {
        UnsignedCommit {
            did: self.did.clone(),
            version: self.version,
            data: self.data,
            rev: self.rev.clone(),
            prev: self.prev,
        }
    }

    /// Checks the signature against `key`; `cid` names the commit in the error.
    pub fn verify(&self, cid: &Cid, key: &PublicKey) -> Result<(), RepoError> {
        let message = self.unsigned().to_bytes()?;
        key.verify(&message, &self.sig)
            .map_err(|source| RepoError::BadSignature {
                cid: Box::new(*cid),
                did: self.did.clone(),
                source,
            })
    }
}
