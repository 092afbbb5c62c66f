//! A repository being mutated commit by commit: the incremental MST gives each `#commit` its
//! block slice, and a full rebuild gives the CAR `getRepo` serves afterwards (checked to carry
//! the very same commit).

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use cid::Cid;
use protocol::car::encode_car;
use protocol::crypto::Keypair;
use protocol::frames::{OpAction, RepoOp};
use protocol::mst::Mst;
use protocol::repo::{BlockOrder, RepoBuilder, UnsignedCommit};

use super::{OpTruth, RepoSnapshot, ScriptError};
use crate::network::{GeneratedRecord, GeneratedRepo};

/// A record operation to apply.
#[derive(Debug, Clone)]
pub enum PlannedOp {
    /// Write a new record.
    Create(GeneratedRecord),
    /// Replace a record (same collection and rkey).
    Update(GeneratedRecord),
    /// Remove the record at `collection/rkey`.
    Delete {
        /// The collection.
        collection: String,
        /// The record key.
        rkey: String,
    },
}

/// One record of a live repository.
#[derive(Debug, Clone)]
struct LiveRecord {
    record: GeneratedRecord,
    /// Write order: the reference PDS's block order follows it.
    order: u64,
}

/// What applying a commit produced.
#[derive(Debug)]
pub struct Applied {
    /// The new commit's CID.
    pub commit: Cid,
    /// The MST root before the commit (`prevData`).
    pub prev_data: Cid,
    /// The `#commit` block slice: commit, new MST nodes, new records.
    pub blocks: Vec<u8>,
    /// The `#sync` block slice: the commit alone.
    pub commit_only: Vec<u8>,
    /// The ops as the frame states them.
    pub repo_ops: Vec<RepoOp>,
    /// The ops as the oracle needs them.
    pub truth: Vec<OpTruth>,
}

/// A repository in the middle of the script.
#[derive(Debug)]
pub struct LiveRepo {
    did: String,
    mst: Mst,
    records: HashMap<String, LiveRecord>,
    by_order: BTreeMap<u64, String>,
    next_order: u64,
    initial: HashSet<String>,
    rev: String,
    commit: Cid,
}

impl LiveRepo {
    /// Starts from a generated repository.
    pub fn new(did: &str, repo: GeneratedRepo) -> Result<Self, ScriptError> {
        let mut pairs: Vec<(String, Cid)> = repo.records.iter().map(|r| (r.key(), r.cid)).collect();
        pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut mst = Mst::from_sorted(pairs).map_err(|source| ScriptError::Mst {
            did: did.to_owned(),
            source: Box::new(source),
        })?;
        // Everything so far is already in the repository: only later nodes are news.
        mst.take_new_blocks();
        let commit = repo.commit_cid();
        let mut live = LiveRepo {
            did: did.to_owned(),
            mst,
            records: HashMap::with_capacity(repo.records.len()),
            by_order: BTreeMap::new(),
            next_order: 0,
            initial: HashSet::new(),
            rev: repo.rev,
            commit,
        };
        for record in repo.records {
            live.initial.insert(record.key());
            live.put(record);
        }
        Ok(live)
    }

    /// The current rev.
    pub fn rev(&self) -> &str {
        &self.rev
    }

    /// The current head commit.
    pub fn commit(&self) -> Cid {
        self.commit
    }

    /// How many records the repository holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// True when it holds no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The record at `key`.
    pub fn get(&self, key: &str) -> Option<&GeneratedRecord> {
        self.records.get(key).map(|r| &r.record)
    }

    /// Keys of current records, in write order; `initial_only` keeps those that predate the script.
    pub fn keys(&self, initial_only: bool) -> Vec<&str> {
        self.by_order
            .values()
            .filter(|k| !initial_only || self.initial.contains(*k))
            .map(String::as_str)
            .collect()
    }

    /// Applies `ops` as one commit at `rev`, signed with `key`.
    pub fn apply(
        &mut self,
        ops: Vec<PlannedOp>,
        rev: &str,
        key: &Keypair,
    ) -> Result<Applied, ScriptError> {
        let prev_data = self.mst.root_cid();
        let did = self.did.clone();
        let mst_error = |source| ScriptError::Mst {
            did: did.clone(),
            source: Box::new(source),
        };
        let mut repo_ops = Vec::with_capacity(ops.len());
        let mut truth = Vec::with_capacity(ops.len());
        let mut new_records: Vec<(Cid, Bytes)> = Vec::new();
        for op in ops {
            let (action, collection, rkey, cid, prev) = match op {
                PlannedOp::Create(record) => {
                    self.mst
                        .insert(&record.key(), record.cid)
                        .map_err(mst_error)?;
                    new_records.push((record.cid, record.bytes.clone()));
                    let done = (
                        OpAction::Create,
                        record.collection.clone(),
                        record.rkey.clone(),
                    );
                    let cid = record.cid;
                    self.put(record);
                    (done.0, done.1, done.2, Some(cid), None)
                }
                PlannedOp::Update(record) => {
                    let prev = self
                        .mst
                        .update(&record.key(), record.cid)
                        .map_err(mst_error)?;
                    new_records.push((record.cid, record.bytes.clone()));
                    let done = (
                        OpAction::Update,
                        record.collection.clone(),
                        record.rkey.clone(),
                    );
                    let cid = record.cid;
                    self.remove(&record.key());
                    self.put(record);
                    (done.0, done.1, done.2, Some(cid), Some(prev))
                }
                PlannedOp::Delete { collection, rkey } => {
                    let key = format!("{collection}/{rkey}");
                    let prev = self.mst.delete(&key).map_err(mst_error)?;
                    self.remove(&key);
                    (OpAction::Delete, collection, rkey, None, Some(prev))
                }
            };
            repo_ops.push(RepoOp {
                action,
                path: format!("{collection}/{rkey}"),
                cid,
                prev,
            });
            truth.push(OpTruth {
                action,
                collection,
                rkey,
                cid,
                prev,
            });
        }
        let nodes = self.mst.take_new_blocks();
        let commit = UnsignedCommit::new(self.did.clone(), nodes.root, rev.to_owned())
            .sign(key)
            .map_err(|source| ScriptError::Repo {
                did: self.did.clone(),
                source: Box::new(source),
            })?;
        let (commit_cid, commit_block) = commit.to_block().map_err(|source| ScriptError::Repo {
            did: self.did.clone(),
            source: Box::new(source),
        })?;
        let commit_block = Bytes::from(commit_block);
        let mut blocks: Vec<(Cid, Bytes)> = vec![(commit_cid, commit_block.clone())];
        blocks.extend(nodes.blocks);
        blocks.extend(new_records);
        let slice = encode_car(&[commit_cid], blocks.iter().map(|(c, b)| (c, b)));
        let commit_only = encode_car(&[commit_cid], [(&commit_cid, &commit_block)]);
        self.rev = rev.to_owned();
        self.commit = commit_cid;
        Ok(Applied {
            commit: commit_cid,
            prev_data,
            blocks: slice,
            commit_only,
            repo_ops,
            truth,
        })
    }

    /// Rebuilds the whole repository as `getRepo` serves it now, signed with `key`.
    pub fn snapshot(&self, key: &Keypair) -> Result<RepoSnapshot, ScriptError> {
        let mut builder = RepoBuilder::new(self.did.clone(), self.rev.clone());
        for key_name in self.by_order.values() {
            if let Some(live) = self.records.get(key_name) {
                let r = &live.record;
                builder.add(&r.collection, &r.rkey, r.bytes.clone());
            }
        }
        let repo_error = |source| ScriptError::Repo {
            did: self.did.clone(),
            source: Box::new(source),
        };
        let built = builder.build(key).map_err(repo_error)?;
        if built.commit_cid() != self.commit {
            return Err(ScriptError::Diverged {
                did: self.did.clone(),
                frame: self.commit.to_string(),
                car: built.commit_cid().to_string(),
            });
        }
        let car = built
            .to_car(BlockOrder::ReferencePds)
            .map_err(|e| repo_error(protocol::repo::RepoError::Encode(e.to_string())))?;
        Ok(RepoSnapshot {
            commit: self.commit,
            rev: self.rev.clone(),
            car: Bytes::from(car),
        })
    }

    fn put(&mut self, record: GeneratedRecord) {
        let key = record.key();
        let order = self.next_order;
        self.next_order += 1;
        self.by_order.insert(order, key.clone());
        self.records.insert(key, LiveRecord { record, order });
    }

    fn remove(&mut self, key: &str) {
        if let Some(old) = self.records.remove(key) {
            self.by_order.remove(&old.order);
        }
    }
}
