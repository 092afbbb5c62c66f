//! A generated repository and its records, as the mock PDS serves them and the oracle reads them.

use bytes::Bytes;
use cid::Cid;
use protocol::repo::{BlockOrder, BuiltRepo};

use super::NetworkError;

/// One record of a generated repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedRecord {
    /// The collection NSID.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// The record's CID.
    pub cid: Cid,
    /// The record's DAG-CBOR bytes.
    pub bytes: Bytes,
}

impl GeneratedRecord {
    /// `collection/rkey`, the record's MST key.
    pub fn key(&self) -> String {
        format!("{}/{}", self.collection, self.rkey)
    }

    /// The record's AT-URI in `did`'s repository.
    pub fn uri(&self, did: &str) -> String {
        format!("at://{did}/{}/{}", self.collection, self.rkey)
    }
}

/// A built and signed repository.
#[derive(Debug, Clone)]
pub struct GeneratedRepo {
    /// The account's index.
    pub account: usize,
    /// The commit's rev.
    pub rev: String,
    /// The repository (commit, MST, records).
    pub built: BuiltRepo,
    /// Its records, oldest first.
    pub records: Vec<GeneratedRecord>,
}

impl GeneratedRepo {
    /// Bundles a built repository with its records.
    pub fn new(
        account: usize,
        rev: String,
        built: BuiltRepo,
        records: Vec<GeneratedRecord>,
    ) -> Self {
        Self {
            account,
            rev,
            built,
            records,
        }
    }

    /// The commit's CID (the repository's head).
    pub fn commit_cid(&self) -> Cid {
        self.built.commit_cid()
    }

    /// Streams the CAR to `writer` (a file, for repositories too big to hold twice).
    pub fn write_car<W: std::io::Write>(&self, writer: W) -> Result<W, NetworkError> {
        self.built
            .write_car(BlockOrder::ReferencePds, writer)
            .map_err(|source| NetworkError::Car {
                did: self.built.commit().did.clone(),
                source,
            })
    }

    /// The CAR `getRepo` serves: blocks in the reference PDS's order.
    pub fn car(&self) -> Result<Bytes, NetworkError> {
        self.built
            .to_car(BlockOrder::ReferencePds)
            .map(Bytes::from)
            .map_err(|source| NetworkError::Car {
                did: self.built.commit().did.clone(),
                source,
            })
    }
}
