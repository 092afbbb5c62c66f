//! The repository writer: records in, a signed repository CAR out, for the simulated network.
//!
//! Output is a pure function of the inputs (DID, key, rev, records and their order, block order):
//! ECDSA signing here is deterministic (RFC 6979) and shuffles use a seeded generator, so a seed
//! reproduces a network byte for byte.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};

use bytes::Bytes;
use cid::Cid;

use super::{Commit, RepoError, UnsignedCommit};
use crate::car::{CODEC_DAG_CBOR, CarWriter, cid_for};
use crate::crypto::Keypair;
use crate::mst::Mst;

/// The order in which a repository's blocks are written to its CAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockOrder {
    /// Commit, then MST nodes root first (pre-order), then records in key order.
    Tree,
    /// As the reference PDS serves `getRepo`: blocks grouped by the commit that first wrote them,
    /// newest commit first, and by CID (as text) descending within a commit. Records are taken to
    /// have been created one commit each, in the order they were added.
    ReferencePds,
    /// The tree order shuffled by a generator seeded with this value.
    Shuffled(u64),
}

/// Collects records and builds a signed repository.
#[derive(Debug, Clone)]
pub struct RepoBuilder {
    did: String,
    rev: String,
    records: Vec<(String, Bytes)>,
}

/// A built repository: its commit, MST nodes and records, ready to write in any block order.
#[derive(Debug, Clone)]
pub struct BuiltRepo {
    commit_cid: Cid,
    commit: Commit,
    commit_block: Bytes,
    /// MST node blocks, pre-order.
    nodes: Vec<(Cid, Bytes)>,
    /// `(key, cid, bytes)` in the order the records were added.
    records: Vec<(String, Cid, Bytes)>,
}

impl RepoBuilder {
    /// A repository of `did` whose commit will carry `rev`.
    pub fn new(did: impl Into<String>, rev: impl Into<String>) -> Self {
        Self {
            did: did.into(),
            rev: rev.into(),
            records: Vec::new(),
        }
    }

    /// Adds a record (its DAG-CBOR bytes). Records added later count as newer.
    pub fn add(&mut self, collection: &str, rkey: &str, record: Bytes) -> &mut Self {
        self.records.push((format!("{collection}/{rkey}"), record));
        self
    }

    /// Builds the MST and signs the commit with `key`.
    pub fn build(self, key: &Keypair) -> Result<BuiltRepo, RepoError> {
        let records: Vec<(String, Cid, Bytes)> = self
            .records
            .into_iter()
            .map(|(k, bytes)| (k, cid_for(CODEC_DAG_CBOR, &bytes), bytes))
            .collect();
        let mut sorted: Vec<(String, Cid)> = records
            .iter()
            .map(|(k, cid, _)| (k.clone(), *cid))
            .collect();
        sorted.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if let Some(pair) = sorted.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(RepoError::DuplicateKey {
                key: pair[0].0.clone(),
            });
        }
        let mut mst = Mst::from_sorted(sorted)?;
        let built = mst.take_new_blocks();
        let commit = UnsignedCommit::new(self.did, built.root, self.rev).sign(key)?;
        let (commit_cid, commit_block) = commit.to_block()?;
        Ok(BuiltRepo {
            commit_cid,
            commit,
            commit_block: Bytes::from(commit_block),
            nodes: built.blocks,
            records,
        })
    }
}

impl BuiltRepo {
    /// The commit's CID, the CAR's root.
    pub fn commit_cid(&self) -> Cid {
        self.commit_cid
    }

    /// The signed commit.
    pub fn commit(&self) -> &Commit {
        &self.commit
    }

    /// The MST node blocks, root first.
    pub fn nodes(&self) -> &[(Cid, Bytes)] {
        &self.nodes
    }

    /// The records as added: `(collection/rkey, CID, DAG-CBOR bytes)`.
    pub fn records(&self) -> impl Iterator<Item = (&str, &Cid, &Bytes)> {
        self.records
            .iter()
            .map(|(key, cid, bytes)| (key.as_str(), cid, bytes))
    }

    /// An in-memory MST equal to this repository's, to continue it with live commits.
    pub fn mst(&self) -> Result<Mst, RepoError> {
        let mut pairs: Vec<(String, Cid)> = self
            .records
            .iter()
            .map(|(k, cid, _)| (k.clone(), *cid))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        Ok(Mst::from_sorted(pairs)?)
    }

    /// Every block once (commit, nodes, records), in `order`.
    pub fn blocks(&self, order: BlockOrder) -> Result<Vec<(Cid, Bytes)>, RepoError> {
        match order {
            BlockOrder::Tree => Ok(self.tree_order()),
            BlockOrder::Shuffled(seed) => {
                let mut blocks = self.tree_order();
                shuffle(&mut blocks, seed);
                Ok(blocks)
            }
            BlockOrder::ReferencePds => self.reference_pds_order(),
        }
    }

    /// Writes the CAR in `order` to `writer`.
    pub fn write_car<W: Write>(&self, order: BlockOrder, writer: W) -> io::Result<W> {
        let blocks = self.blocks(order).map_err(io::Error::other)?;
        let mut car = CarWriter::new(writer, &[self.commit_cid])?;
        for (cid, data) in &blocks {
            car.write_block(cid, data)?;
        }
        car.finish()
    }

    /// The CAR in `order`, in memory.
    pub fn to_car(&self, order: BlockOrder) -> io::Result<Vec<u8>> {
        self.write_car(order, Vec::new())
    }

    fn tree_order(&self) -> Vec<(Cid, Bytes)> {
        let mut seen = HashSet::new();
        let mut blocks = Vec::with_capacity(1 + self.nodes.len() + self.records.len());
        blocks.push((self.commit_cid, self.commit_block.clone()));
        blocks.extend(self.nodes.iter().cloned());
        let mut by_key: Vec<&(String, Cid, Bytes)> = self.records.iter().collect();
        by_key.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (_, cid, bytes) in by_key {
            if seen.insert(*cid) {
                blocks.push((*cid, bytes.clone()));
            }
        }
        blocks
    }

    /// Orders blocks by the commit that first wrote them, as if each record had been created by
    /// a commit of its own, in the order added (see [`first_write`](super::first_write)).
    fn reference_pds_order(&self) -> Result<Vec<(Cid, Bytes)>, RepoError> {
        let last = self.records.len().saturating_sub(1);
        let keys: Vec<&str> = self.records.iter().map(|(k, _, _)| k.as_str()).collect();
        let node_steps = if keys.is_empty() {
            // An empty tree's single node belongs to the only commit.
            vec![last; self.nodes.len()]
        } else {
            super::first_write::first_writes(&keys)
        };
        if node_steps.len() != self.nodes.len() {
            return Err(RepoError::Encode(format!(
                "block order: {} nodes in the tree, {} derived from its keys",
                self.nodes.len(),
                node_steps.len()
            )));
        }
        // A block written twice (two records with the same bytes) counts from its first write.
        let mut first_written: HashMap<Cid, usize> =
            HashMap::with_capacity(self.nodes.len() + self.records.len());
        for (step, (_, cid, _)) in self.records.iter().enumerate() {
            first_written.entry(*cid).or_insert(step);
        }
        for ((cid, _), &step) in self.nodes.iter().zip(&node_steps) {
            first_written
                .entry(*cid)
                .and_modify(|s| *s = (*s).min(step))
                .or_insert(step);
        }
        let mut blocks: Vec<(usize, String, Cid, Bytes)> =
            Vec::with_capacity(1 + self.nodes.len() + self.records.len());
        blocks.push((
            last,
            self.commit_cid.to_string(),
            self.commit_cid,
            self.commit_block.clone(),
        ));
        let mut seen = HashSet::with_capacity(self.nodes.len() + self.records.len());
        let records = self.records.iter().map(|(_, cid, bytes)| (cid, bytes));
        for (cid, bytes) in self.nodes.iter().map(|(c, b)| (c, b)).chain(records) {
            if seen.insert(*cid) {
                let step = first_written.get(cid).copied().unwrap_or(last);
                blocks.push((step, cid.to_string(), *cid, bytes.clone()));
            }
        }
        blocks.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        Ok(blocks
            .into_iter()
            .map(|(_, _, cid, bytes)| (cid, bytes))
            .collect())
    }
}

/// Fisher–Yates with splitmix64: small, seeded, and the same on every platform.
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed;
    let mut next = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    for i in (1..items.len()).rev() {
        let j = (next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::KeyKind;

    /// The order as first specified: replay the records into a tree one commit each and note
    /// which commit first produced every block.
    fn replayed_order(repo: &BuiltRepo) -> Vec<(Cid, Bytes)> {
        let mut first_written: HashMap<Cid, usize> = HashMap::new();
        let mut mst = Mst::new();
        for (step, (key, cid, _)) in repo.records.iter().enumerate() {
            mst.insert(key, *cid).unwrap_or_else(|e| panic!("{e}"));
            first_written.entry(*cid).or_insert(step);
            for (node, _) in mst.take_new_blocks().blocks {
                first_written.entry(node).or_insert(step);
            }
        }
        let last = repo.records.len().saturating_sub(1);
        let mut blocks = vec![(
            last,
            repo.commit_cid.to_string(),
            repo.commit_cid,
            repo.commit_block.clone(),
        )];
        let mut seen = HashSet::new();
        let records = repo.records.iter().map(|(_, cid, bytes)| (cid, bytes));
        for (cid, bytes) in repo.nodes.iter().map(|(c, b)| (c, b)).chain(records) {
            if seen.insert(*cid) {
                let step = first_written.get(cid).copied().unwrap_or(last);
                blocks.push((step, cid.to_string(), *cid, bytes.clone()));
            }
        }
        blocks.sort_unstable_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.cmp(&a.1)));
        blocks.into_iter().map(|(_, _, c, b)| (c, b)).collect()
    }

    fn repo_of(keys: &[String], duplicate_every: usize) -> BuiltRepo {
        let mut builder = RepoBuilder::new("did:plc:orderorderorderorderorde", "3kabcdefghijk");
        for (i, key) in keys.iter().enumerate() {
            let (collection, rkey) = key.split_once('/').unwrap_or_else(|| panic!("{key}"));
            // Some records share bytes, so some CIDs repeat.
            let body = if duplicate_every > 0 && i % duplicate_every == 0 {
                vec![0xa1, 0x61, 0x61, 0x00]
            } else {
                let mut body = vec![0xa1, 0x61, 0x61, 0x1a];
                body.extend_from_slice(&(i as u32).to_be_bytes());
                body
            };
            builder.add(collection, rkey, Bytes::from(body));
        }
        let key =
            Keypair::from_secret_bytes(KeyKind::K256, &[7; 32]).unwrap_or_else(|e| panic!("{e}"));
        builder.build(&key).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn derived_order_equals_the_replayed_one() {
        // Seeded keys in several shapes: increasing (TIDs), decreasing, and scattered.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for (count, shape) in [
            (0, 0),
            (1, 0),
            (2, 1),
            (40, 0),
            (300, 1),
            (1500, 2),
            (3000, 0),
        ] {
            let mut keys: Vec<String> = (0..count)
                .map(|i| match shape {
                    0 => format!("app.bsky.feed.like/{:012}", i),
                    1 => format!("app.bsky.feed.post/{:012}", 1_000_000 - i),
                    _ => format!("app.bsky.graph.follow/k{:x}", next()),
                })
                .collect();
            keys.dedup();
            for duplicate_every in [0, 7] {
                let repo = repo_of(&keys, duplicate_every);
                let fast = repo
                    .blocks(BlockOrder::ReferencePds)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    fast == replayed_order(&repo),
                    "{count} keys of shape {shape}, duplicates every {duplicate_every}"
                );
            }
        }
    }
}
