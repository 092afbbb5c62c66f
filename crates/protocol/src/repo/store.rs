//! Where the loader keeps a repository's blocks while the tree is walked, within a memory budget.
//!
//! Blocks arrive in any order, and which ones are MST nodes is only known once the tree is walked.
//! Blocks shaped like a node (a two-entry map starting with key `e`, as canonical DAG-CBOR puts it)
//! stay in memory up to their own, larger budget: they are a small share of a real repository and
//! the walk needs every one, but a hostile CAR could be nothing else. Other blocks (records, the
//! commit, strays) stay in memory up to the record budget. Past its budget a block goes to an
//! anonymous temporary file. Lookups search everything, so a misjudged shape costs only memory.
//!
//! The index costs about [`INDEX_BYTES_PER_BLOCK`] bytes per distinct block (a million records
//! make about 1.3 million blocks, ~50 MB); a CAR of millions of tiny blocks could make it the
//! largest thing in memory, so the number of blocks is capped too.
//!
//! Spilled records are read back in batches: the walk asks for a few dozen at a time, and those
//! that lie close together in the file (records written one commit after another sit side by side)
//! come back in one read.

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
use super::arena::{Arena, ArenaBuilder};
use crate::mst::NodeSource;

/// What one distinct block costs in the index: a 24-byte key, an 8-byte location and the hash
/// table's control byte and spare capacity.
pub const INDEX_BYTES_PER_BLOCK: usize = 40;

/// Spilled blocks this close together in the file are read with one read: reading the gap costs
/// less than another system call.
const MAX_READ_GAP: u64 = 16 * 1024;
/// Longest single read of spilled blocks (a larger block is read alone).
const MAX_READ_SPAN: u64 = 1024 * 1024;

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
    nodes: ArenaBuilder,
    memory: ArenaBuilder,
    budget: usize,
    node_budget: usize,
    max_blocks: usize,
    spill_dir: Option<PathBuf>,
    spill: Option<BufWriter<File>>,
    spilled: u64,
}

impl StoreBuilder {
    /// A store that keeps up to `budget` bytes of non-node blocks and `node_budget` bytes of
    /// node-shaped blocks in memory, and refuses more than `max_blocks` distinct blocks.
    pub(crate) fn new(
        budget: usize,
        node_budget: usize,
        max_blocks: usize,
        spill_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            index: HashMap::default(),
            nodes: ArenaBuilder::default(),
            memory: ArenaBuilder::default(),
            budget,
            node_budget,
            max_blocks,
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
        let full = self.index.len() >= self.max_blocks;
        let slot = match self.index.entry(digest) {
            Entry::Occupied(_) => return Ok(()),
            Entry::Vacant(_) if full => {
                return Err(RepoError::TooManyBlocks {
                    limit: self.max_blocks,
                });
            }
            Entry::Vacant(slot) => slot,
        };
        // The loader caps CarLimits so that lengths and offsets fit the packed index.
        let len = data.len();
        let in_nodes = if data.starts_with(&NODE_PREFIX) {
            self.nodes.push(data, self.node_budget, MAX_OFFSET)
        } else {
            None
        };
        let location = if let Some(address) = in_nodes {
            Location::new(Place::Nodes, len, address)
        } else if let Some(address) = self.memory.push(data, self.budget, MAX_OFFSET) {
            Location::new(Place::Memory, len, address)
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
            nodes: self.nodes.finish(),
            memory: self.memory.finish(),
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
    nodes: Arena,
    memory: Arena,
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

    /// The bytes at `location`; a spilled block is read back.
    pub(crate) fn fetch(&self, location: Location) -> std::io::Result<Bytes> {
        let (arena, address) = match location.place() {
            Place::Nodes => (&self.nodes, location.offset()),
            Place::Memory => (&self.memory, location.offset()),
            Place::Spilled => return self.read_spilled(location.offset(), location.len()),
        };
        arena
            .slice(address, location.len())
            .ok_or_else(|| std::io::Error::other("block location outside its arena"))
    }

    /// The bytes at each of `locations`, in order. Spilled blocks that lie close together in the
    /// file are read together and share that read's buffer; a failed shared read is retried
    /// block by block, so each error belongs to the block that has it.
    pub(crate) fn fetch_all(&self, locations: &[Location]) -> Vec<std::io::Result<Bytes>> {
        let mut out: Vec<Option<std::io::Result<Bytes>>> = Vec::with_capacity(locations.len());
        let mut spilled: Vec<(u64, usize, usize)> = Vec::new();
        for (at, location) in locations.iter().enumerate() {
            if location.place() == Place::Spilled {
                spilled.push((location.offset(), location.len(), at));
                out.push(None);
            } else {
                out.push(Some(self.fetch(*location)));
            }
        }
        spilled.sort_unstable();
        let mut rest = spilled.as_slice();
        while let Some(&(start, len, _)) = rest.first() {
            let mut end = start + len as u64;
            let mut count = 1;
            for &(offset, len, _) in rest.iter().skip(1) {
                let next_end = (offset + len as u64).max(end);
                if offset > end + MAX_READ_GAP || next_end - start > MAX_READ_SPAN {
                    break;
                }
                end = next_end;
                count += 1;
            }
            let (group, tail) = rest.split_at(count.min(rest.len()));
            rest = tail;
            let shared = usize::try_from(end - start)
                .map_err(std::io::Error::other)
                .and_then(|span| self.read_spilled(start, span));
            for &(offset, len, at) in group {
                let from = usize::try_from(offset - start).unwrap_or(usize::MAX);
                let bytes = match &shared {
                    Ok(buffer) if from.checked_add(len).is_some_and(|to| to <= buffer.len()) => {
                        Ok(buffer.slice(from..from + len))
                    }
                    _ => self.read_spilled(offset, len),
                };
                if let Some(slot) = out.get_mut(at) {
                    *slot = Some(bytes);
                }
            }
        }
        out.into_iter()
            .map(|item| item.unwrap_or_else(|| Err(std::io::Error::other("block not fetched"))))
            .collect()
    }

    fn read_spilled(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        self.read_spilled_vec(offset, len).map(Bytes::from)
    }

    fn read_spilled_vec(&self, offset: u64, len: usize) -> std::io::Result<Vec<u8>> {
        let file = self
            .spill
            .as_ref()
            .ok_or_else(|| std::io::Error::other("spill file missing"))?;
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)?;
        Ok(buf)
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
        let Some(location) = self.locate(cid) else {
            return Ok(None);
        };
        let (arena, address) = match location.place() {
            Place::Nodes => (&self.nodes, location.offset()),
            Place::Memory => (&self.memory, location.offset()),
            Place::Spilled => {
                let bytes = self.read_spilled_vec(location.offset(), location.len())?;
                return Ok(Some(Cow::Owned(bytes)));
            }
        };
        arena
            .get(address, location.len())
            .map(|bytes| Some(Cow::Borrowed(bytes)))
            .ok_or_else(|| std::io::Error::other("block location outside its arena"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::car::{CODEC_RAW, cid_for};

    /// Blocks of assorted sizes, all spilled, fetched together in a scrambled order with some
    /// skipped (gaps), so reads are grouped, split at the span limit, and sliced back apart.
    #[test]
    fn batched_spill_reads_return_each_block() {
        let sizes = [
            10usize, 5000, 300_000, 20, 700_000, 1, 40_000, 2_000_000, 64, 64,
        ];
        let blocks: Vec<(Cid, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &len)| {
                let data: Vec<u8> = (0..len).map(|j| (i * 31 + j) as u8).collect();
                (cid_for(CODEC_RAW, &data), data)
            })
            .collect();
        let mut builder = StoreBuilder::new(0, 0, 100, None);
        for (cid, data) in &blocks {
            builder.insert(cid, data).unwrap();
        }
        let store = builder.finish().unwrap();
        assert!(store.spilled_bytes() > 3_000_000);
        let wanted = [9usize, 0, 4, 2, 7, 5, 8, 1, 4];
        let locations: Vec<Location> = wanted
            .iter()
            .map(|&i| store.locate(&blocks[i].0).unwrap())
            .collect();
        let fetched = store.fetch_all(&locations);
        assert_eq!(fetched.len(), wanted.len());
        for (&i, bytes) in wanted.iter().zip(fetched) {
            assert_eq!(bytes.unwrap().as_ref(), &blocks[i].1[..], "block {i}");
        }
    }
}
