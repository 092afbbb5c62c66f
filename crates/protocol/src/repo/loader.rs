//! The repository loader: a `getRepo` CAR in, verified records out, in key order, within a memory
//! budget whatever the repository's size.
//!
//! Loading has two phases because the reference PDS writes blocks newest first, not in tree order:
//! first every block is read and verified into a [`store`](super::store) (MST nodes in memory,
//! records in memory up to [`LoadOptions::memory_budget`], the rest in a temporary file), then the
//! commit is checked and the tree walked. Blocks no node points at are ignored; a record the tree
//! points at but the CAR lacks is an error.
//!
//! Spilling writes, and the walk's reads of spilled records, are plain blocking file I/O on an
//! anonymous temporary file (served by the page cache, in practice): they happen only for
//! repositories past the budget, and callers that care run the walk inside `spawn_blocking`
//! ([`LoadedRepo`] and its records are `Send`).

use std::collections::VecDeque;
use std::path::PathBuf;

use bytes::Bytes;
use cid::Cid;
use tokio::io::AsyncRead;

use super::store::{
    BlockStore, INDEX_BYTES_PER_BLOCK, Location, MAX_BLOCK_BYTES, MAX_OFFSET, StoreBuilder,
};
use super::{BlockKind, Commit, RepoError, commit::COMMIT_VERSION};
use crate::car::{CarLimits, CarReader};
use crate::crypto::PublicKey;
use crate::mst::MstWalk;

/// How a repository is read.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Bounds on the CAR (capped at 16 MiB per block and 256 GiB in total).
    pub limits: CarLimits,
    /// Bytes of non-node blocks kept in memory before spilling to a temporary file.
    pub memory_budget: usize,
    /// Bytes of MST-node-shaped blocks kept in memory before they spill too. Real repositories
    /// stay far below it (a million records make ~70 MiB of nodes); it bounds hostile ones.
    pub node_memory_budget: usize,
    /// Bytes the block index may take: a CAR with more than this over
    /// [`INDEX_BYTES_PER_BLOCK`](super::INDEX_BYTES_PER_BLOCK) distinct blocks is refused with
    /// [`RepoError::TooManyBlocks`]. The default admits about 6.7 million blocks (a repository of
    /// about 5 million records); without it, a CAR of tiny blocks would grow the index with no bound
    /// but the CAR's size.
    pub index_memory_budget: usize,
    /// Where the temporary file goes (the system's temporary directory if `None`).
    pub spill_dir: Option<PathBuf>,
}

impl Default for LoadOptions {
    /// Default CAR limits, 64 MiB for records, 256 MiB for MST nodes, 256 MiB for the index.
    fn default() -> Self {
        Self {
            limits: CarLimits::default(),
            memory_budget: 64 * 1024 * 1024,
            node_memory_budget: 256 * 1024 * 1024,
            index_memory_budget: 256 * 1024 * 1024,
            spill_dir: None,
        }
    }
}

/// One record of a repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRecord {
    /// The collection NSID.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// The record's CID.
    pub cid: Cid,
    /// The record's DAG-CBOR bytes, verified against `cid`.
    pub bytes: Bytes,
}

/// A repository whose blocks and commit have been verified, ready to walk.
pub struct LoadedRepo {
    commit_cid: Cid,
    commit: Commit,
    store: BlockStore,
    car_bytes: u64,
}

impl std::fmt::Debug for LoadedRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedRepo")
            .field("commit_cid", &self.commit_cid)
            .field("commit", &self.commit)
            .field("car_bytes", &self.car_bytes)
            .finish_non_exhaustive()
    }
}

/// Reads a repository CAR, verifying every block and the commit: version 3, `did` equal to
/// `expected_did`, and the signature against `key` (`None` skips signature verification).
pub async fn load_repo<R: AsyncRead + Unpin>(
    reader: R,
    expected_did: &str,
    key: Option<&PublicKey>,
    options: &LoadOptions,
) -> Result<LoadedRepo, RepoError> {
    // The block index packs lengths and offsets; larger limits than it can describe are capped.
    let limits = CarLimits {
        max_block_bytes: options.limits.max_block_bytes.min(MAX_BLOCK_BYTES),
        max_total_bytes: options.limits.max_total_bytes.min(MAX_OFFSET),
    };
    let mut car = CarReader::new(reader, limits).await?;
    let mut store = StoreBuilder::new(
        options.memory_budget,
        options.node_memory_budget,
        options.index_memory_budget / INDEX_BYTES_PER_BLOCK,
        options.spill_dir.clone(),
    );
    while let Some((cid, data)) = car.next_block_ref().await? {
        store.insert(&cid, data)?;
    }
    let car_bytes = car.bytes_read();
    // The header guarantees at least one root; a repository's first root is its commit.
    let commit_cid =
        car.roots()
            .first()
            .copied()
            .ok_or(RepoError::Car(crate::car::CarError::BadHeader {
                reason: "no roots".to_owned(),
            }))?;
    let store = store.finish()?;
    let commit_bytes = store
        .get(&commit_cid)
        .map_err(|source| RepoError::Spill {
            doing: "reading the commit",
            source,
        })?
        .ok_or(RepoError::MissingBlock {
            cid: Box::new(commit_cid),
            kind: BlockKind::Commit,
        })?;
    let commit = Commit::decode(&commit_cid, &commit_bytes)?;
    if commit.version != COMMIT_VERSION {
        return Err(RepoError::BadVersion {
            cid: Box::new(commit_cid),
            version: commit.version,
        });
    }
    if commit.did != expected_did {
        return Err(RepoError::WrongDid {
            cid: Box::new(commit_cid),
            expected: expected_did.to_owned(),
            actual: commit.did,
        });
    }
    if let Some(key) = key {
        commit.verify(&commit_cid, key)?;
    }
    Ok(LoadedRepo {
        commit_cid,
        commit,
        store,
        car_bytes,
    })
}

impl LoadedRepo {
    /// The commit's CID (the CAR's root).
    pub fn commit_cid(&self) -> Cid {
        self.commit_cid
    }

    /// The verified commit.
    pub fn commit(&self) -> &Commit {
        &self.commit
    }

    /// Size of the CAR read, in bytes.
    pub fn car_bytes(&self) -> u64 {
        self.car_bytes
    }

    /// Bytes of blocks that went to the spill file (0 when the budget sufficed).
    pub fn spilled_bytes(&self) -> u64 {
        self.store.spilled_bytes()
    }

    /// Distinct blocks in the CAR.
    pub fn block_count(&self) -> usize {
        self.store.block_count()
    }

    /// Walks the MST and yields every record in key order. Stops after the first error.
    pub fn records(&self) -> Records<'_> {
        Records {
            walk: MstWalk::new(&self.store, self.commit.data),
            store: &self.store,
            ready: VecDeque::with_capacity(BATCH),
            keys: Vec::with_capacity(BATCH),
            failed: false,
        }
    }
}

/// The records of a [`LoadedRepo`], in key order.
pub struct Records<'a> {
    walk: MstWalk<'a, BlockStore>,
    store: &'a BlockStore,
    /// Records looked up ahead of the caller, oldest first.
    ready: VecDeque<Result<RepoRecord, RepoError>>,
    /// Keys taken from the walk, waiting for their blocks.
    keys: Vec<(String, Cid)>,
    failed: bool,
}

/// Records looked up together: the index lookups are cache misses, and a tight loop of
/// independent ones lets the processor overlap them.
const BATCH: usize = 64;

impl Records<'_> {
    /// Takes up to [`BATCH`] keys from the walk and looks their records up; stops at the first
    /// error, which becomes the last item.
    fn refill(&mut self) {
        let mut walk_error = None;
        while self.keys.len() < BATCH {
            match self.walk.next() {
                Some(Ok(pair)) => self.keys.push(pair),
                Some(Err(error)) => {
                    walk_error = Some(error);
                    break;
                }
                None => break,
            }
        }
        let mut keys = std::mem::take(&mut self.keys);
        // Index lookups first, in a tight loop, so their cache misses overlap; then one batched
        // fetch, so spilled records that lie together are read together.
        let store = self.store;
        let locations: Vec<_> = keys.iter().map(|(_, cid)| store.locate(cid)).collect();
        let found: Vec<Location> = locations.iter().flatten().copied().collect();
        let mut fetched = store.fetch_all(&found).into_iter();
        for ((key, cid), location) in keys.drain(..).zip(locations) {
            let bytes = location.map(|_| {
                fetched
                    .next()
                    .unwrap_or_else(|| Err(std::io::Error::other("batch fetch came back short")))
            });
            let item = record(key, cid, bytes);
            let failed = item.is_err();
            self.ready.push_back(item);
            if failed {
                self.failed = true;
                break;
            }
        }
        self.keys = keys;
        if let Some(error) = walk_error
            && !self.failed
        {
            self.failed = true;
            self.ready.push_back(Err(error.into()));
        }
    }
}

/// Assembles one record from its walk key and its fetched bytes (`None`: not in the CAR).
fn record(
    key: String,
    cid: Cid,
    bytes: Option<std::io::Result<Bytes>>,
) -> Result<RepoRecord, RepoError> {
    let bytes = bytes
        .ok_or(RepoError::MissingBlock {
            cid: Box::new(cid),
            kind: BlockKind::Record,
        })?
        .map_err(|source| RepoError::Spill {
            doing: "reading a record",
            source,
        })?;
    // The walk validated the key, so it holds exactly one '/'; the key's own buffer becomes
    // the collection.
    let mut collection = key;
    let slash = collection.find('/').unwrap_or(collection.len());
    let rkey = collection.get(slash + 1..).unwrap_or_default().to_owned();
    collection.truncate(slash);
    Ok(RepoRecord {
        collection,
        rkey,
        cid,
        bytes,
    })
}

impl Iterator for Records<'_> {
    type Item = Result<RepoRecord, RepoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && !self.failed {
            self.refill();
        }
        self.ready.pop_front()
    }
}
