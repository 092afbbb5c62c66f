//! Hostile trees: each broken rule of the MST is reported as its own typed error, naming the node,
//! and the walk never yields keys past the fault.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use cid::Cid;
use ipld_core::ipld::Ipld;
use protocol::car::{CODEC_DAG_CBOR, cid_for};
use protocol::mst::{MstError, MstWalk, Node, NodeEntry, encode_node, key_height};

/// The first post keys with layer 0 and layer 1.
fn keys_at(height: u32, count: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("app.bsky.feed.post/3k{i:05}"))
        .filter(|k| key_height(k.as_bytes()) == height)
        .take(count)
        .collect()
}

fn value(seed: u8) -> Cid {
    cid_for(CODEC_DAG_CBOR, &[seed])
}

struct Blocks(HashMap<Cid, Bytes>);

impl Blocks {
    fn new() -> Self {
        Self(HashMap::new())
    }

    fn put(&mut self, bytes: Vec<u8>) -> Cid {
        let cid = cid_for(CODEC_DAG_CBOR, &bytes);
        self.0.insert(cid, Bytes::from(bytes));
        cid
    }

    fn node(&mut self, left: Option<Cid>, entries: &[(&str, Option<Cid>)]) -> Cid {
        let entries = entries
            .iter()
            .map(|(k, right)| NodeEntry {
                key: k.as_bytes().to_vec(),
                value: value(1),
                right: *right,
            })
            .collect();
        self.put(encode_node(&Node { left, entries }))
    }

    fn walk(&self, root: Cid) -> (Vec<String>, Option<MstError>) {
        let mut keys = Vec::new();
        for item in MstWalk::new(&self.0, root) {
            match item {
                Ok((key, _)) => keys.push(key),
                Err(e) => return (keys, Some(e)),
            }
        }
        (keys, None)
    }
}

fn ipld_node(entries: Vec<(u64, &[u8])>) -> Vec<u8> {
    let entries = entries
        .into_iter()
        .map(|(p, k)| {
            let mut m = BTreeMap::new();
            m.insert("p".to_owned(), Ipld::Integer(p.into()));
            m.insert("k".to_owned(), Ipld::Bytes(k.to_vec()));
            m.insert("v".to_owned(), Ipld::Link(value(1)));
            m.insert("t".to_owned(), Ipld::Null);
            Ipld::Map(m)
        })
        .collect();
    let mut node = BTreeMap::new();
    node.insert("e".to_owned(), Ipld::List(entries));
    node.insert("l".to_owned(), Ipld::Null);
    serde_ipld_dagcbor::to_vec(&Ipld::Map(node)).unwrap()
}

#[test]
fn a_valid_two_layer_tree_walks_in_order() {
    let low = keys_at(0, 3);
    let high = keys_at(1, 1);
    let mut blocks = Blocks::new();
    let (before, after): (Vec<_>, Vec<_>) = low.iter().partition(|k| **k < high[0]);
    let left = (!before.is_empty()).then(|| {
        blocks.node(
            None,
            &before
                .iter()
                .map(|k| (k.as_str(), None))
                .collect::<Vec<_>>(),
        )
    });
    let right = (!after.is_empty()).then(|| {
        blocks.node(
            None,
            &after.iter().map(|k| (k.as_str(), None)).collect::<Vec<_>>(),
        )
    });
    let root = blocks.node(left, &[(high[0].as_str(), right)]);
    let (keys, error) = blocks.walk(root);
    assert!(error.is_none(), "{error:?}");
    let mut expected: Vec<String> = low.iter().chain(&high).cloned().collect();
    expected.sort();
    assert_eq!(keys, expected);
}

#[test]
fn unsorted_keys_are_refused() {
    let low = keys_at(0, 2);
    let mut blocks = Blocks::new();
    let root = blocks.node(None, &[(low[1].as_str(), None), (low[0].as_str(), None)]);
    let (keys, error) = blocks.walk(root);
    assert_eq!(keys, vec![low[1].clone()]);
    assert!(
        matches!(error, Some(MstError::Unsorted { .. })),
        "{error:?}"
    );
}

#[test]
fn keys_of_mixed_layers_in_one_node_are_refused() {
    let (low, high) = (keys_at(0, 1), keys_at(1, 1));
    let mut blocks = Blocks::new();
    let mut entries = vec![(low[0].as_str(), None), (high[0].as_str(), None)];
    entries.sort();
    let root = blocks.node(None, &entries);
    assert!(matches!(
        blocks.walk(root).1,
        Some(MstError::WrongLayer { .. })
    ));
}

#[test]
fn a_subtree_at_the_wrong_layer_is_refused() {
    let high = keys_at(1, 2);
    let mut blocks = Blocks::new();
    let child = blocks.node(None, &[(high[0].as_str(), None)]);
    let root = blocks.node(Some(child), &[(high[1].as_str(), None)]);
    assert!(matches!(
        blocks.walk(root).1,
        Some(MstError::WrongLayer {
            expected: 0,
            actual: 1,
            ..
        })
    ));
}

#[test]
fn shape_rules_are_enforced() {
    let (low, high) = (keys_at(0, 2), keys_at(1, 1));
    let mut blocks = Blocks::new();
    // A layer-0 node with a subtree.
    let child = blocks.node(None, &[(low[0].as_str(), None)]);
    let root = blocks.node(None, &[(low[1].as_str(), Some(child))]);
    assert!(matches!(
        blocks.walk(root).1,
        Some(MstError::BadShape { .. })
    ));
    // A root with no entries but a subtree: not trimmed.
    let untrimmed = blocks.node(Some(child), &[]);
    assert!(matches!(
        blocks.walk(untrimmed).1,
        Some(MstError::BadShape { .. })
    ));
    // An empty node below the root.
    let empty = blocks.node(None, &[]);
    let root = blocks.node(Some(empty), &[(high[0].as_str(), None)]);
    assert!(matches!(
        blocks.walk(root).1,
        Some(MstError::BadShape { .. })
    ));
    // The empty tree itself is fine.
    assert_eq!(blocks.walk(empty).0, Vec::<String>::new());
    assert!(blocks.walk(empty).1.is_none());
}

#[test]
fn prefix_compression_must_be_exact() {
    let low = keys_at(0, 2);
    let (a, b) = (low[0].as_bytes(), low[1].as_bytes());
    let shared = a.iter().zip(b).take_while(|(x, y)| x == y).count() as u64;
    let mut blocks = Blocks::new();
    let good = blocks.put(ipld_node(vec![(0, a), (shared, &b[shared as usize..])]));
    assert!(blocks.walk(good).1.is_none());
    let not_maximal = blocks.put(ipld_node(vec![(0, a), (0, b)]));
    assert!(matches!(
        blocks.walk(not_maximal).1,
        Some(MstError::Decode { .. })
    ));
    let too_long = blocks.put(ipld_node(vec![(0, a), (a.len() as u64 + 1, b"x")]));
    assert!(matches!(
        blocks.walk(too_long).1,
        Some(MstError::Decode { .. })
    ));
    let first_not_zero = blocks.put(ipld_node(vec![(1, a)]));
    assert!(matches!(
        blocks.walk(first_not_zero).1,
        Some(MstError::Decode { .. })
    ));
}

#[test]
fn bad_keys_bytes_and_missing_nodes_are_named() {
    let mut blocks = Blocks::new();
    let bad_key = blocks.node(None, &[("no-slash-here", None)]);
    assert!(matches!(
        blocks.walk(bad_key).1,
        Some(MstError::InvalidKey { .. })
    ));
    let garbage = blocks.put(vec![0xa2, 0x61]);
    assert!(matches!(
        blocks.walk(garbage).1,
        Some(MstError::Decode { .. })
    ));
    let mut extra = BTreeMap::new();
    extra.insert("e".to_owned(), Ipld::List(vec![]));
    extra.insert("l".to_owned(), Ipld::Null);
    extra.insert("x".to_owned(), Ipld::Integer(1));
    let unknown = blocks.put(serde_ipld_dagcbor::to_vec(&Ipld::Map(extra)).unwrap());
    assert!(matches!(
        blocks.walk(unknown).1,
        Some(MstError::Decode { .. })
    ));
    let absent = value(99);
    assert!(matches!(blocks.walk(absent).1, Some(MstError::MissingNode { cid }) if *cid == absent));
}
