//! An append-only byte arena made of fixed-size chunks, where the loader keeps the blocks it holds
//! in memory.
//!
//! One growing `Vec` would double its way up, copying everything it holds at each step and
//! touching (page-faulting) about twice the memory it ends up using; on a large repository that was
//! a fifth of the loader's CPU time. Chunks are never moved once allocated, and a block never
//! straddles two chunks, so a block is one slice of one chunk.
//!
//! Every chunk's capacity counts against the budget, so memory stays within it even when blocks
//! leave the tail of a chunk unused.

use bytes::Bytes;

/// Capacity of an ordinary chunk; a larger block gets a chunk of its own.
const CHUNK_BYTES: usize = 1 << CHUNK_BITS;
const CHUNK_BITS: u32 = 20;

/// Where a block lies in an arena: chunk index above [`CHUNK_BITS`], offset in the chunk below.
pub(crate) type Address = u64;

/// Collects blocks while a CAR is read.
#[derive(Debug, Default)]
pub(crate) struct ArenaBuilder {
    chunks: Vec<Vec<u8>>,
    /// The chunk new blocks go to, if any has room.
    current: Option<usize>,
    /// Sum of the chunks' capacities.
    allocated: usize,
}

impl ArenaBuilder {
    /// Appends `data` if the arena can take it within `budget` bytes and `max_address`; returns
    /// where it went, or `None` (the caller spills it instead).
    pub(crate) fn push(&mut self, data: &[u8], budget: usize, max_address: u64) -> Option<Address> {
        if let Some(index) = self.current
            && let Some(chunk) = self.chunks.get_mut(index)
            && chunk.capacity() - chunk.len() >= data.len()
        {
            let offset = chunk.len();
            chunk.extend_from_slice(data);
            return Some(address(index, offset));
        }
        let room = budget.checked_sub(self.allocated)?;
        if data.len() > room {
            return None;
        }
        let index = self.chunks.len();
        // A new chunk's offsets start at 0, so only its index can pass the bound.
        if address(index, 0) > max_address {
            return None;
        }
        let capacity = data.len().max(CHUNK_BYTES.min(room));
        let mut chunk = Vec::with_capacity(capacity);
        chunk.extend_from_slice(data);
        self.allocated += chunk.capacity();
        self.chunks.push(chunk);
        // A block that needed a chunk of its own leaves the ordinary chunk open for small ones.
        if capacity <= CHUNK_BYTES {
            self.current = Some(index);
        }
        Some(address(index, 0))
    }

    /// Freezes the arena.
    pub(crate) fn finish(self) -> Arena {
        Arena {
            chunks: self.chunks.into_iter().map(Bytes::from).collect(),
        }
    }
}

fn address(chunk: usize, offset: usize) -> Address {
    ((chunk as u64) << CHUNK_BITS) | offset as u64
}

/// The blocks of a finished arena.
#[derive(Debug, Default)]
pub(crate) struct Arena {
    chunks: Vec<Bytes>,
}

impl Arena {
    /// The `len` bytes at `address`, or `None` if they are not in the arena.
    pub(crate) fn get(&self, address: Address, len: usize) -> Option<&[u8]> {
        let (chunk, range) = self.locate(address, len)?;
        chunk.get(range)
    }

    /// Like [`get`](Self::get), as a shared handle on the chunk (no copy).
    pub(crate) fn slice(&self, address: Address, len: usize) -> Option<Bytes> {
        let (chunk, range) = self.locate(address, len)?;
        (range.end <= chunk.len()).then(|| chunk.slice(range))
    }

    fn locate(&self, address: Address, len: usize) -> Option<(&Bytes, std::ops::Range<usize>)> {
        let index = usize::try_from(address >> CHUNK_BITS).ok()?;
        let start = usize::try_from(address & (CHUNK_BYTES as u64 - 1)).ok()?;
        let chunk = self.chunks.get(index)?;
        Some((chunk, start..start.checked_add(len)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_come_back_whole_and_the_budget_holds() {
        let mut arena = ArenaBuilder::default();
        let small = vec![7u8; 1000];
        let big = vec![9u8; CHUNK_BYTES + 5];
        let budget = 2 * CHUNK_BYTES + 500;
        let a = arena.push(&small, budget, u64::MAX);
        let b = arena.push(&big, budget, u64::MAX);
        // The big block got its own chunk; the small one's chunk still takes small blocks.
        let c = arena.push(&small, budget, u64::MAX);
        assert_eq!(c, a.map(|a| a + 1000));
        // Two chunks allocated (1 MiB and the big one); 495 bytes of budget are left.
        let filler = vec![1u8; CHUNK_BYTES - 2000];
        assert!(arena.push(&filler, budget, u64::MAX).is_some());
        assert_eq!(arena.push(&small, budget, u64::MAX), None);
        assert!(arena.allocated <= budget);
        let arena = arena.finish();
        for (address, data) in [(a, &small), (b, &big), (c, &small)] {
            let address = address.unwrap_or(u64::MAX);
            assert_eq!(arena.get(address, data.len()), Some(&data[..]));
            assert_eq!(arena.slice(address, data.len()).as_deref(), Some(&data[..]));
        }
        assert_eq!(arena.get(u64::MAX, 1), None);
        assert_eq!(arena.get(0, CHUNK_BYTES + 1), None);
    }

    #[test]
    fn a_small_budget_makes_a_small_chunk() {
        let mut arena = ArenaBuilder::default();
        assert!(arena.push(&[1; 100], 150, u64::MAX).is_some());
        assert!(arena.push(&[2; 50], 150, u64::MAX).is_some());
        assert_eq!(arena.push(&[3; 1], 150, u64::MAX), None);
        assert_eq!(arena.allocated, 150);
    }

    #[test]
    fn the_address_bound_turns_blocks_away() {
        let mut arena = ArenaBuilder::default();
        let big = vec![0u8; CHUNK_BYTES + 1];
        assert!(arena.push(&big, usize::MAX, 1 << CHUNK_BITS).is_some());
        assert!(arena.push(&big, usize::MAX, 1 << CHUNK_BITS).is_some());
        assert_eq!(arena.push(&big, usize::MAX, 1 << CHUNK_BITS), None);
    }
}
