//! The loader's block index is bounded: a CAR of many tiny distinct blocks is refused with a typed
//! error once it passes the index budget, while real repositories and repeated blocks pass.

use std::collections::BTreeMap;

use bytes::Bytes;
use cid::Cid;
use protocol::car::{CODEC_RAW, CarWriter, cid_for};
use protocol::crypto::{KeyKind, Keypair};
use protocol::repo::{
    BlockOrder, BuiltRepo, INDEX_BYTES_PER_BLOCK, LoadOptions, RepoBuilder, RepoError, load_repo,
};

const DID: &str = "did:plc:indexboundindexboundindex";
const MAX_BLOCKS: usize = 1000;

fn keypair() -> Keypair {
    Keypair::from_secret_bytes(KeyKind::K256, &[3u8; 32]).unwrap()
}

fn repo(records: usize) -> BuiltRepo {
    let mut builder = RepoBuilder::new(DID, "3kabcdefghij2");
    for i in 0..records {
        let mut map = BTreeMap::new();
        map.insert("$type", "app.bsky.feed.like".to_owned());
        map.insert("createdAt", format!("2026-01-01T00:00:{:02}.000Z", i % 60));
        let bytes = Bytes::from(serde_ipld_dagcbor::to_vec(&map).unwrap());
        builder.add("app.bsky.feed.like", &format!("3k{i:06}"), bytes);
    }
    builder.build(&keypair()).unwrap()
}

/// The repository's own blocks followed by `extra` blocks (pairs of CID and data).
fn car_with(repo: &BuiltRepo, extra: &[(Cid, Bytes)]) -> Vec<u8> {
    let mut car = CarWriter::new(Vec::new(), &[repo.commit_cid()]).unwrap();
    for (cid, data) in repo
        .blocks(BlockOrder::ReferencePds)
        .unwrap()
        .iter()
        .chain(extra)
    {
        car.write_block(cid, data).unwrap();
    }
    car.finish().unwrap()
}

fn options() -> LoadOptions {
    LoadOptions {
        index_memory_budget: MAX_BLOCKS * INDEX_BYTES_PER_BLOCK,
        ..LoadOptions::default()
    }
}

async fn records(car: &[u8]) -> Result<usize, RepoError> {
    let key = keypair().public_key();
    let repo = load_repo(car, DID, Some(&key), &options()).await?;
    let mut count = 0;
    for record in repo.records() {
        record?;
        count += 1;
    }
    Ok(count)
}

fn tiny(i: u64) -> (Cid, Bytes) {
    let data = Bytes::copy_from_slice(&i.to_be_bytes());
    (cid_for(CODEC_RAW, &data), data)
}

#[tokio::test]
async fn many_tiny_blocks_are_refused_with_a_typed_error() {
    let base = repo(20);
    let strays: Vec<(Cid, Bytes)> = (0..5 * MAX_BLOCKS as u64).map(tiny).collect();
    let error = records(&car_with(&base, &strays)).await.unwrap_err();
    assert!(
        matches!(error, RepoError::TooManyBlocks { limit } if limit == MAX_BLOCKS),
        "{error:?}"
    );
}

#[tokio::test]
async fn repositories_within_the_budget_load() {
    // About 600 records, their nodes and a commit: within 1000 blocks.
    let base = repo(600);
    assert_eq!(records(&car_with(&base, &[])).await.unwrap(), 600);
}

#[tokio::test]
async fn repeated_blocks_do_not_count() {
    let base = repo(20);
    let one = tiny(7);
    let repeats = vec![one; 5 * MAX_BLOCKS];
    assert_eq!(records(&car_with(&base, &repeats)).await.unwrap(), 20);
}
