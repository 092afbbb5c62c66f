//! The official MST interop vectors: key heights and common prefix lengths, plus the example keys
//! built into a tree that the validated walk accepts and returns in order.

use std::collections::BTreeMap;

use protocol::car::{CODEC_DAG_CBOR, cid_for};
use protocol::mst::{Mst, MstWalk, common_prefix_len, key_height};
use serde_json::Value;

fn vectors(name: &str) -> Vec<Value> {
    let path = testkit::fixture(&format!("interop/mst/{name}"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn key_heights_match_the_vectors() {
    let cases = vectors("key_heights.json");
    assert!(cases.len() >= 9);
    for case in cases {
        let key = case["key"].as_str().unwrap();
        assert_eq!(
            u64::from(key_height(key.as_bytes())),
            case["height"].as_u64().unwrap(),
            "{key:?}"
        );
    }
}

#[test]
fn common_prefixes_match_the_vectors() {
    let cases = vectors("common_prefix.json");
    assert!(cases.len() >= 13);
    for case in cases {
        let (left, right) = (
            case["left"].as_str().unwrap(),
            case["right"].as_str().unwrap(),
        );
        let len = common_prefix_len(left.as_bytes(), right.as_bytes());
        assert_eq!(
            len as u64,
            case["len"].as_u64().unwrap(),
            "{left:?} {right:?}"
        );
    }
}

#[test]
fn example_keys_build_a_tree_the_walk_accepts_in_order() {
    let path = testkit::fixture("interop/mst/example_keys.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let pairs: BTreeMap<String, _> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let key = format!("com.example.record/{}", l.trim().replace('/', "-"));
            let cid = cid_for(CODEC_DAG_CBOR, key.as_bytes());
            (key, cid)
        })
        .collect();
    assert!(pairs.len() > 10);
    let mut mst = Mst::from_sorted(pairs.clone()).unwrap();
    let root = mst.root_cid();
    let blocks: std::collections::HashMap<_, _> = mst.all_blocks().into_iter().collect();
    let walked: Vec<_> = MstWalk::new(&blocks, root)
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<_> = pairs.into_iter().collect();
    assert_eq!(walked, expected);
}
