//! Writer → loader round trips over random record sets, in every block order and memory budget:
//! the same keys, CIDs and bytes come back, in key order, under a verified signature.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;
use protocol::car::{CODEC_DAG_CBOR, cid_for};
use protocol::crypto::{KeyKind, Keypair};
use protocol::repo::{BlockOrder, LoadOptions, RepoBuilder, RepoError, load_repo};

const DID: &str = "did:plc:roundtriproundtriproundt";

fn keypair(kind: KeyKind) -> Keypair {
    Keypair::from_secret_bytes(kind, &[7u8; 32]).unwrap()
}

fn record(collection: &str, text: &str) -> Bytes {
    let mut map = BTreeMap::new();
    map.insert("$type", collection.to_owned());
    map.insert("text", text.to_owned());
    Bytes::from(serde_ipld_dagcbor::to_vec(&map).unwrap())
}

type Records = BTreeMap<(String, String), String>;

fn records() -> impl Strategy<Value = Records> {
    let collection = prop::sample::select(vec![
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "app.bsky.graph.follow",
        "app.bsky.actor.profile",
    ]);
    prop::collection::btree_map(
        (collection.prop_map(str::to_owned), "[a-z2-7]{1,13}"),
        "[a-c]{0,3}",
        0..60,
    )
}

fn order() -> impl Strategy<Value = BlockOrder> {
    prop_oneof![
        Just(BlockOrder::Tree),
        Just(BlockOrder::ReferencePds),
        any::<u64>().prop_map(BlockOrder::Shuffled),
    ]
}

fn build(records: &Records, kind: KeyKind) -> protocol::repo::BuiltRepo {
    let mut builder = RepoBuilder::new(DID, "3kabcdefghij2");
    for ((collection, rkey), text) in records {
        builder.add(collection, rkey, record(collection, text));
    }
    builder.build(&keypair(kind)).unwrap()
}

async fn load(
    car: &[u8],
    budget: usize,
    kind: KeyKind,
) -> Result<Vec<(String, String, cid::Cid, Bytes)>, RepoError> {
    // The node budget follows the record budget, so small budgets spill nodes too.
    let options = LoadOptions {
        memory_budget: budget,
        node_memory_budget: budget,
        ..LoadOptions::default()
    };
    let key = keypair(kind).public_key();
    let repo = load_repo(car, DID, Some(&key), &options).await?;
    repo.records()
        .map(|r| r.map(|r| (r.collection, r.rkey, r.cid, r.bytes)))
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn written_repos_load_back_identically(records in records(), order in order(), budget in prop_oneof![Just(0usize), Just(300), Just(1 << 20)], p256 in any::<bool>()) {
        let kind = if p256 { KeyKind::P256 } else { KeyKind::K256 };
        let built = build(&records, kind);
        let car = built.to_car(order).unwrap();
        let loaded = runtime().block_on(load(&car, budget, kind)).unwrap();
        let expected: Vec<_> = records
            .iter()
            .map(|((c, r), text)| {
                let bytes = record(c, text);
                (c.clone(), r.clone(), cid_for(CODEC_DAG_CBOR, &bytes), bytes)
            })
            .collect();
        prop_assert_eq!(loaded, expected);
        // The repository's tree, continued in memory, has the commit's root.
        prop_assert_eq!(built.mst().unwrap().root_cid(), built.commit().data);
        // Same inputs, same bytes: the harness rebuilds networks from a seed.
        prop_assert_eq!(build(&records, kind).to_car(order).unwrap(), car);
    }
}

#[test]
fn orders_hold_the_same_blocks_and_reference_order_starts_with_the_newest() {
    let mut records = Records::new();
    for i in 0..40 {
        records.insert(
            ("app.bsky.feed.post".to_owned(), format!("3k{i:03}")),
            format!("{i}"),
        );
    }
    let built = build(&records, KeyKind::K256);
    let mut sets = Vec::new();
    for order in [
        BlockOrder::Tree,
        BlockOrder::ReferencePds,
        BlockOrder::Shuffled(1),
        BlockOrder::Shuffled(2),
    ] {
        let blocks = built.blocks(order).unwrap();
        let mut cids: Vec<String> = blocks.iter().map(|(c, _)| c.to_string()).collect();
        cids.sort();
        sets.push(cids);
    }
    assert!(sets.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        built.blocks(BlockOrder::Tree).unwrap()[0].0,
        built.commit_cid()
    );
    assert_ne!(
        built.blocks(BlockOrder::Shuffled(1)).unwrap(),
        built.blocks(BlockOrder::Shuffled(2)).unwrap()
    );
    // The newest commit wrote the commit, the last record and the nodes on its path: they come
    // first, and the oldest record (written by the first commit) comes last.
    let reference = built.blocks(BlockOrder::ReferencePds).unwrap();
    let newest = record("app.bsky.feed.post", "39");
    let oldest = record("app.bsky.feed.post", "0");
    let head: Vec<_> = reference.iter().take(8).map(|(c, _)| *c).collect();
    assert!(head.contains(&built.commit_cid()));
    assert!(head.contains(&cid_for(CODEC_DAG_CBOR, &newest)));
    assert_eq!(
        reference.last().unwrap().0,
        cid_for(CODEC_DAG_CBOR, &oldest)
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let mut builder = RepoBuilder::new(DID, "3kabcdefghij2");
    builder.add("app.bsky.feed.post", "a", record("app.bsky.feed.post", "1"));
    builder.add("app.bsky.feed.post", "a", record("app.bsky.feed.post", "2"));
    assert!(matches!(
        builder.build(&keypair(KeyKind::K256)),
        Err(RepoError::DuplicateKey { .. })
    ));
}

#[test]
fn missing_record_is_a_typed_error() {
    let mut records = Records::new();
    records.insert(
        ("app.bsky.feed.post".to_owned(), "a".to_owned()),
        "x".to_owned(),
    );
    records.insert(
        ("app.bsky.feed.post".to_owned(), "b".to_owned()),
        "y".to_owned(),
    );
    let built = build(&records, KeyKind::K256);
    let dropped = cid_for(CODEC_DAG_CBOR, &record("app.bsky.feed.post", "y"));
    let blocks: Vec<_> = built
        .blocks(BlockOrder::Tree)
        .unwrap()
        .into_iter()
        .filter(|(c, _)| *c != dropped)
        .collect();
    let car = protocol::car::encode_car(&[built.commit_cid()], blocks.iter().map(|(c, b)| (c, b)));
    let err = runtime()
        .block_on(load(&car, 1 << 20, KeyKind::K256))
        .unwrap_err();
    assert!(
        matches!(&err, RepoError::MissingBlock { cid, kind: protocol::repo::BlockKind::Record } if **cid == dropped),
        "{err}"
    );
}

#[test]
fn loaded_repos_and_their_walks_can_move_to_blocking_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<protocol::repo::LoadedRepo>();
    assert_send::<protocol::repo::Records<'static>>();
}
