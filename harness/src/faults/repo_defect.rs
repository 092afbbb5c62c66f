//! Broken repositories: a served CAR rewritten to carry exactly one defect.
//!
//! Each defect is made so that a verifying reader stops on that defect and no other: a record
//! that is changed gets a correct CID, a new MST and a commit re-signed with the account's key, so
//! the only thing wrong is the record itself. The defects and what `protocol::repo::load_repo`
//! (and the walk of its records) reports for them:
//!
//! | defect | observed as |
//! |---|---|
//! | `bad_block_hash` | `RepoError::Car(CarError::HashMismatch)` |
//! | `wrong_root` | `RepoError::BadCommit` (the header names the MST root, not the commit) |
//! | `missing_block` | `RepoError::MissingBlock { kind: Record }` while walking the records |
//! | `bad_signature` | `RepoError::BadSignature` |
//! | `other_did` | `RepoError::WrongDid` |
//! | `invalid_cbor` | a record whose bytes do not decode (`data_model::cbor_to_json` fails) |
//! | `oversized_record` | `RepoError::Car(CarError::BlockTooLarge)` under the default limits |
//! | `nul_in_string` | a record whose `text` holds a NUL character |

use std::collections::HashMap;

use bytes::Bytes;
use cid::Cid;
use protocol::car::{CODEC_DAG_CBOR, CarLimits, cid_for, encode_car, parse_slice};
use protocol::crypto::{KeyKind, Keypair};
use protocol::data_model::json_to_cbor;
use protocol::mst::{Mst, MstWalk};
use protocol::repo::{Commit, RepoError, UnsignedCommit};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::FaultError;

/// Size of an oversized record unless the plan says otherwise: over the 2 MiB block limit that
/// readers apply by default (the protocol's own limit for records is 1 MB).
const DEFAULT_OVERSIZED_BYTES: usize = 3 * 1024 * 1024;

/// The secret of the key that signs commits with a bad signature: any key but the account's.
const IMPOSTOR_SECRET: [u8; 32] = [0x42; 32];

/// One thing wrong with a served repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RepoDefect {
    /// A record block whose bytes no longer hash to its CID.
    BadBlockHash,
    /// The CAR header's root is the MST root node instead of the commit.
    WrongRoot,
    /// A record block the tree points at is left out.
    MissingBlock,
    /// The commit is signed by another key.
    BadSignature,
    /// The commit names another DID (and is validly signed by the account's key).
    OtherDid {
        /// The DID written into the commit.
        did: String,
    },
    /// A record whose bytes are not DAG-CBOR.
    InvalidCbor,
    /// A record far over the size limit.
    OversizedRecord {
        /// Its size in bytes (about).
        #[serde(default = "default_oversized_bytes")]
        bytes: usize,
    },
    /// A record whose text holds a NUL character (valid CBOR; PostgreSQL text cannot store it).
    NulInString,
}

fn default_oversized_bytes() -> usize {
    DEFAULT_OVERSIZED_BYTES
}

impl RepoDefect {
    /// The defect's name, as in plans.
    pub fn name(&self) -> &'static str {
        match self {
            RepoDefect::BadBlockHash => "bad_block_hash",
            RepoDefect::WrongRoot => "wrong_root",
            RepoDefect::MissingBlock => "missing_block",
            RepoDefect::BadSignature => "bad_signature",
            RepoDefect::OtherDid { .. } => "other_did",
            RepoDefect::InvalidCbor => "invalid_cbor",
            RepoDefect::OversizedRecord { .. } => "oversized_record",
            RepoDefect::NulInString => "nul_in_string",
        }
    }
}

/// A repository read back from its CAR: commit, blocks and the tree's `(key, record CID)` pairs.
struct Parsed {
    commit: Commit,
    commit_cid: Cid,
    blocks: HashMap<Cid, Bytes>,
    records: Vec<(String, Cid)>,
}

/// Rewrites the repository CAR `car` to carry `defect`. `key` is the account's signing key; the
/// defects that change the commit or a record need it to re-sign.
pub fn corrupt_repo(
    car: &[u8],
    defect: &RepoDefect,
    key: Option<&Keypair>,
) -> Result<Vec<u8>, FaultError> {
    let repo = parse(car)?;
    let name = defect.name();
    match defect {
        RepoDefect::BadBlockHash => {
            let (_, victim) = victim(&repo, name)?;
            let mut blocks = repo.blocks.clone();
            let mut damaged = blocks.get(&victim).map(|b| b.to_vec()).unwrap_or_default();
            if let Some(last) = damaged.last_mut() {
                *last ^= 0xff;
            } else {
                damaged.push(0);
            }
            blocks.insert(victim, Bytes::from(damaged));
            Ok(write(repo.commit_cid, &blocks))
        }
        RepoDefect::WrongRoot => Ok(write(repo.commit.data, &repo.blocks)),
        RepoDefect::MissingBlock => {
            let (_, victim) = victim(&repo, name)?;
            let mut blocks = repo.blocks.clone();
            blocks.remove(&victim);
            Ok(write(repo.commit_cid, &blocks))
        }
        RepoDefect::BadSignature => {
            let impostor = Keypair::from_secret_bytes(KeyKind::K256, &IMPOSTOR_SECRET)
                .map_err(|e| RepoError::Encode(e.to_string()))?;
            let commit = repo.commit.unsigned().sign(&impostor)?;
            Ok(with_commit(&repo, &commit, repo.blocks.clone())?)
        }
        RepoDefect::OtherDid { did } => {
            let key = key.ok_or(FaultError::NeedsKey { defect: name })?;
            let unsigned =
                UnsignedCommit::new(did.clone(), repo.commit.data, repo.commit.rev.clone());
            let commit = unsigned.sign(key)?;
            Ok(with_commit(&repo, &commit, repo.blocks.clone())?)
        }
        RepoDefect::InvalidCbor => {
            // A map announcing one entry whose key is "text", then nothing: truncated CBOR.
            replace_record(&repo, name, key, b"\xa1\x64text".to_vec())
        }
        RepoDefect::OversizedRecord { bytes } => {
            let text = "a".repeat(bytes.saturating_sub(100));
            let record = record_bytes(&repo, &text)?;
            replace_record(&repo, name, key, record)
        }
        RepoDefect::NulInString => {
            let record = record_bytes(&repo, "before\u{0}after")?;
            replace_record(&repo, name, key, record)
        }
    }
}

fn parse(car: &[u8]) -> Result<Parsed, FaultError> {
    let slice = parse_slice(car, &CarLimits::default())?;
    let commit_cid = *slice.roots.first().ok_or(FaultError::NotApplicable {
        defect: "any",
        reason: "the CAR has no root".into(),
    })?;
    let commit_bytes = slice
        .blocks
        .get(&commit_cid)
        .ok_or(FaultError::NotApplicable {
            defect: "any",
            reason: format!("the commit block {commit_cid} is missing"),
        })?;
    let commit = Commit::decode(&commit_cid, commit_bytes)?;
    let records = MstWalk::new(&slice.blocks, commit.data)
        .collect::<Result<Vec<_>, _>>()
        .map_err(RepoError::from)?;
    Ok(Parsed {
        commit,
        commit_cid,
        blocks: slice.blocks,
        records,
    })
}

/// The record to damage: the first post if there is one, else the first record; its CID must be
/// unique in the tree so that damaging its block damages only that record.
fn victim<'r>(repo: &'r Parsed, defect: &'static str) -> Result<(&'r str, Cid), FaultError> {
    let unique = |cid: &Cid| repo.records.iter().filter(|(_, c)| c == cid).count() == 1;
    let candidates = || repo.records.iter().filter(|(_, cid)| unique(cid));
    candidates()
        .find(|(key, _)| key.starts_with("app.bsky.feed.post/"))
        .or_else(|| candidates().next())
        .map(|(key, cid)| (key.as_str(), *cid))
        .ok_or(FaultError::NotApplicable {
            defect,
            reason: "the repository has no record with a unique CID".into(),
        })
}

/// A post-shaped record in the victim's collection with `text`.
fn record_bytes(repo: &Parsed, text: &str) -> Result<Vec<u8>, FaultError> {
    let (key, _) = victim(repo, "record")?;
    let collection = key.split('/').next().unwrap_or(key);
    let record = json!({
        "$type": collection,
        "text": text,
        "createdAt": "2026-01-01T00:00:00.000Z",
    });
    json_to_cbor(&record).map_err(|e| FaultError::Repo(RepoError::Encode(e.to_string())))
}

/// Swaps the victim record's bytes for `record`, rebuilds the tree and re-signs the commit.
fn replace_record(
    repo: &Parsed,
    defect: &'static str,
    key: Option<&Keypair>,
    record: Vec<u8>,
) -> Result<Vec<u8>, FaultError> {
    let key = key.ok_or(FaultError::NeedsKey { defect })?;
    let (victim_key, victim_cid) = victim(repo, defect)?;
    let new_cid = cid_for(CODEC_DAG_CBOR, &record);
    let pairs = repo.records.iter().map(|(k, cid)| {
        let cid = if k == victim_key { new_cid } else { *cid };
        (k.clone(), cid)
    });
    let mut mst = Mst::from_sorted(pairs).map_err(RepoError::from)?;
    let root = mst.root_cid();
    let mut blocks: HashMap<Cid, Bytes> = repo
        .records
        .iter()
        .filter(|(_, cid)| *cid != victim_cid)
        .filter_map(|(_, cid)| repo.blocks.get(cid).map(|b| (*cid, b.clone())))
        .collect();
    blocks.extend(mst.all_blocks());
    blocks.insert(new_cid, Bytes::from(record));
    let commit =
        UnsignedCommit::new(repo.commit.did.clone(), root, repo.commit.rev.clone()).sign(key)?;
    with_commit(repo, &commit, blocks)
}

/// Writes `blocks` with `commit` in place of the old commit.
fn with_commit(
    repo: &Parsed,
    commit: &Commit,
    mut blocks: HashMap<Cid, Bytes>,
) -> Result<Vec<u8>, FaultError> {
    let (cid, bytes) = commit.to_block()?;
    blocks.remove(&repo.commit_cid);
    blocks.insert(cid, Bytes::from(bytes));
    Ok(write(cid, &blocks))
}

/// The CAR: the root block first, the others in CID order (deterministic output).
fn write(root: Cid, blocks: &HashMap<Cid, Bytes>) -> Vec<u8> {
    let mut ordered: Vec<(&Cid, &Bytes)> = blocks.iter().collect();
    ordered.sort_unstable_by_key(|(cid, _)| (**cid != root, cid.to_bytes()));
    encode_car(&[root], ordered)
}
