//! Where the loader keeps a repository's blocks while the tree is walked, within a memory budget.
//!
//! Blocks arrive in any order, and which ones are MST nodes is only known once the tree is walked.
//! Blocks shaped like a node (a two-entry map starting with key `e`, as canonical DAG-CBOR puts it)
//! stay in memory up to their own, larger budget: they are a small share of a real repository and
//! the walk needs every one, but a hostile CAR could be nothing else. Other blocks (records, the
//! commit, strays) stay in memory up to the record budget. Past its budget a block goes to an
//! anonymous temporary file. Lookups search everything, so a misjudged shape costs only memory.
//!
//! What is not bounded by the budgets is the index: about 40 bytes per distinct block (a million
//! records make about 1.3 million blocks, ~60 MB), which the CAR's total size limit caps.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fs::File;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use bytes::Bytes;
use cid::Cid;

use super::RepoError;
use crate::mst::NodeSource;

/// The start of every canonical MST node: map(2), text(1) "e".
const NODE_PREFIX: [u8; 3] = [0xa2, 0x61, 0x65];

/// Bytes of a block's SHA-256 digest used as its key: 192 bits leave no feasible collision, and the
/// index is most of the loader's memory on a large repository (a million entries and more).
const KEY_BYTES: usize = 24;

/// The leading bytes of a block's digest: already uniformly random, so they are their own hash.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Digest([u8; KEY_BYTES]);

impl Hash for Digest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(first));
    }
}

/// Passes a digest's first eight bytes through as the hash.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Nodes = 0,
    Memory = 1,
    Spilled = 2,
}

/// Largest block the packed index can describe; the loader caps `CarLimits` below it.
pub(crate) const MAX_BLOCK_BYTES: usize = (1 << LEN_BITS) - 1;
/// Largest arena or spill offset the packed index can describe; the loader caps the CAR below it.
pub(crate) const MAX_OFFSET: u64 = (1 << OFFSET_BITS) - 1;
const LEN_BITS: u32 = 24;
const OFFSET_BITS: u32 = 38;

/// Where a block lies, packed in 64 bits: place (2), length (24), offset (38).
#[derive(Clone, Copy)]
pub(crate) struct Location(u64);

impl Location {
    fn new(place: Place, len: usize, offset: u64) -> Self {
        let len = (len as u64).min(MAX_BLOCK_BYTES as u64);
        let offset = offset.min(MAX_OFFSET);
        Self(((place as u64) << 62) | (len << OFFSET_BITS) | offset)
    }

    fn place(self) -> Place {
        match self.0 >> 62 {
            0 => Place::Nodes,
            1 => Place::Memory,
            _ => Place::Spilled,
        }
    }

    fn len(self) -> usize {
        ((self.0 >> OFFSET_BITS) & MAX_BLOCK_BYTES as u64) as usize
    }

    fn offset(self) -> u64 {
        self.0 & MAX_OFFSET
    }
}

fn digest_of(cid: &Cid) -> Option<Digest> {
    cid.hash()
        .digest()
        .get(..KEY_BYTES)
        .and_then(|d| <[u8; KEY_BYTES]>::try_from(d).ok())
        .map(Digest)
}

/// Collects blocks while a CAR is read.
pub(crate) struct StoreBuilder {
    index: HashMap<Digest, Location, BuildHasherDefault<DigestHasher>>,
    nodes: Vec<u8>,
    memory: Vec<u8>,
    budget: usize,
    node_budget: usize,
    spill_dir: Option<PathBuf>,
    spill: Option<BufWriter<File>>,
    spilled: u64,
}

impl StoreBuilder {
    /// A store that keeps up to `budget` bytes of non-node blocks and `node_budget` bytes of
    /// node-shaped blocks in memory.
    pub(crate) fn new(budget: usize, node_budget: usize, spill_dir: Option<PathBuf>) -> Self {
        Self {
            index: HashMap::default(),
            nodes: Vec::new(),
            memory: Vec::new(),
            budget,
            node_budget,
            spill_dir,
            spill: None,
            spilled: 0,
        }
    }

    /// Keeps a verified block; a second copy of the same block is ignored.
    pub(crate) fn insert(&mut self, cid: &Cid, data: &[u8]) -> Result<(), RepoError> {
        let Some(digest) = digest_of(cid) else {
            return Ok(());
        };
        let slot = match self.index.entry(digest) {
            Entry::Occupied(_) => return Ok(()),
            Entry::Vacant(slot) => slot,
        };
        // The loader caps CarLimits so that lengths and offsets fit the packed index.
        let len = data.len();
        let location = if data.starts_with(&NODE_PREFIX)
            && self.nodes.len() + data.len() <= self.node_budget
        {
            let offset = self.nodes.len() as u64;
            self.nodes.extend_from_slice(data);
            Location::new(Place::Nodes, len, offset)
        } else if self.memory.len() + data.len() <= self.budget {
            let offset = self.memory.len() as u64;
            self.memory.extend_from_slice(data);
            Location::new(Place::Memory, len, offset)
        } else {
            let offset = self.spilled;
            spill_writer(&mut self.spill, self.spill_dir.as_deref())?
                .write_all(data)
                .map_err(|source| RepoError::Spill {
                    doing: "writing a block",
                    source,
                })?;
            self.spilled += data.len() as u64;
            Location::new(Place::Spilled, len, offset)
        };
        slot.insert(location);
        Ok(())
    }

    /// Ends loading: flushes the spill file and freezes the in-memory blocks.
    pub(crate) fn finish(self) -> Result<BlockStore, RepoError> {
        let spill = match self.spill {
            Some(writer) => Some(writer.into_inner().map_err(|e| RepoError::Spill {
                doing: "flushing the spill file",
                source: e.into_error(),
            })?),
            None => None,
        };
        Ok(BlockStore {
            index: self.index,
            nodes: Bytes::from(self.nodes),
            memory: Bytes::from(self.memory),
            spill,
            spilled: self.spilled,
        })
    }
}

/// The spill file's writer, created on first use.
fn spill_writer<'a>(
    spill: &'a mut Option<BufWriter<File>>,
    dir: Option<&std::path::Path>,
) -> Result<&'a mut BufWriter<File>, RepoError> {
    if let Some(writer) = spill {
        return Ok(writer);
    }
    let file = match dir {
        Some(dir) => tempfile::tempfile_in(dir),
        None => tempfile::tempfile(),
    }
    .map_err(|source| RepoError::Spill {
        doing: "creating the spill file",
        source,
    })?;
    Ok(spill.insert(BufWriter::with_capacity(1 << 20, file)))
}

/// The blocks of a loaded repository, looked up by CID.
pub(crate) struct BlockStore {
    index: HashMap<Digest, Location, BuildHasherDefault<DigestHasher>>,
    nodes: Bytes,
    memory: Bytes,
    spill: Option<File>,
    spilled: u64,
}

impl BlockStore {
    /// The block `cid`, or `None` if the CAR did not hold it. Spilled blocks are read back.
    pub(crate) fn get(&self, cid: &Cid) -> std::io::Result<Option<Bytes>> {
        match self.locate(cid) {
            Some(location) => self.fetch(location).map(Some),
            None => Ok(None),
        }
    }

    /// Where block `cid` lies, if the CAR held it.
    pub(crate) fn locate(&self, cid: &Cid) -> Option<Location> {
        digest_of(cid).and_then(|d| self.index.get(&d)).copied()
    }

    /// The bytes at `location`; spilled blocks are read back.
    pub(crate) fn fetch(&self, location: Location) -> std::io::Result<Bytes> {
        let start = usize::try_from(location.offset()).map_err(std::io::Error::other)?;
        let range = start..start + location.len();
        let arena = match location.place() {
            Place::Nodes => &self.nodes,
            Place::Memory => &self.memory,
            Place::Spilled => &Bytes::new(),
        };
        match location.place() {
            Place::Nodes | Place::Memory if range.end <= arena.len() => Ok(arena.slice(range)),
            Place::Nodes | Place::Memory => {
                Err(std::io::Error::other("block location outside its arena"))
            }
            Place::Spilled => {
                let file = self
                    .spill
                    .as_ref()
                    .ok_or_else(|| std::io::Error::other("spill file missing"))?;
                let mut buf = vec![0u8; location.len()];
                file.read_exact_at(&mut buf, location.offset())?;
                Ok(Bytes::from(buf))
            }
        }
    }

    /// Bytes of blocks written to the spill file.
    pub(crate) fn spilled_bytes(&self) -> u64 {
        self.spilled
    }

    /// Number of distinct blocks held.
    pub(crate) fn block_count(&self) -> usize {
        self.index.len()
    }
}

impl NodeSource for BlockStore {
    fn node(&self, cid: &Cid) -> std::io::Result<Option<Cow<'_, [u8]>>> {
        let Some(location) = digest_of(cid).and_then(|d| self.index.get(&d)) else {
            return Ok(None);
        };
        let start = usize::try_from(location.offset()).map_err(std::io::Error::other)?;
        let range = start..start + location.len();
        let borrowed = match location.place() {
            Place::Nodes => self.nodes.get(range),
            Place::Memory => self.memory.get(range),
            Place::Spilled => return Ok(self.get(cid)?.map(|b| Cow::Owned(b.to_vec()))),
        };
        borrowed
            .map(|bytes| Some(Cow::Borrowed(bytes)))
            .ok_or_else(|| std::io::Error::other("block location outside its arena"))
    }
}
