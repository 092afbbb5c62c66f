//! The incremental tree against a model: after any sequence of creates, updates and deletes the
//! tree holds exactly the model's pairs, its root equals the root of a tree built from scratch
//! (so its shape is canonical), and the blocks it reported as new, added to every block reported
//! before, are enough to walk the new root (what a `#commit` frame's `blocks` must provide).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use cid::Cid;
use proptest::prelude::*;
use protocol::car::{CODEC_DAG_CBOR, cid_for};
use protocol::mst::{Mst, MstError, MstWalk};

#[derive(Debug, Clone)]
enum Op {
    /// Create or update key `k` with value seed `v`.
    Put(u16, u8),
    /// Delete key `k` if present.
    Delete(u16),
    /// Close the batch: compute the root and take the new blocks.
    Commit,
}

fn key(k: u16) -> String {
    let collection = [
        "app.bsky.feed.post",
        "app.bsky.feed.like",
        "app.bsky.graph.follow",
    ][k as usize % 3];
    format!("{collection}/3k{k:05}")
}

fn value(seed: u8) -> Cid {
    cid_for(CODEC_DAG_CBOR, &[seed])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u16..400, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        3 => (0u16..400).prop_map(Op::Delete),
        1 => Just(Op::Commit),
    ]
}

fn check_commit(mst: &mut Mst, model: &BTreeMap<String, Cid>, store: &mut HashMap<Cid, Bytes>) {
    let new = mst.take_new_blocks();
    store.extend(new.blocks);
    let mut fresh = Mst::from_sorted(model.clone()).unwrap();
    assert_eq!(
        new.root,
        fresh.root_cid(),
        "root differs from a tree built from scratch"
    );
    let walked: Vec<(String, Cid)> = MstWalk::new(&*store, new.root)
        .collect::<Result<_, _>>()
        .unwrap();
    let expected: Vec<(String, Cid)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(walked, expected);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutations_keep_the_tree_canonical_and_report_enough_blocks(ops in prop::collection::vec(op(), 1..300)) {
        let mut mst = Mst::new();
        let mut model = BTreeMap::new();
        let mut store = HashMap::new();
        for op in ops {
            match op {
                Op::Put(k, v) => {
                    let key = key(k);
                    if model.insert(key.clone(), value(v)).is_some() {
                        mst.update(&key, value(v)).unwrap();
                    } else {
                        mst.insert(&key, value(v)).unwrap();
                    }
                }
                Op::Delete(k) => {
                    let key = key(k);
                    if let Some(old) = model.remove(&key) {
                        prop_assert_eq!(mst.delete(&key).unwrap(), old);
                    } else {
                        let refused = matches!(mst.delete(&key), Err(MstError::KeyNotFound { .. }));
                        prop_assert!(refused);
                    }
                }
                Op::Commit => check_commit(&mut mst, &model, &mut store),
            }
            prop_assert_eq!(mst.len(), model.len());
        }
        check_commit(&mut mst, &model, &mut store);
        let listed: Vec<(String, Cid)> = mst.iter().map(|(k, v)| (k.to_owned(), *v)).collect();
        let expected: Vec<(String, Cid)> = model.into_iter().collect();
        prop_assert_eq!(listed, expected);
    }
}

#[test]
fn refuses_bad_mutations() {
    let mut mst = Mst::new();
    mst.insert("app.bsky.feed.post/a", value(1)).unwrap();
    assert!(matches!(
        mst.insert("app.bsky.feed.post/a", value(2)),
        Err(MstError::KeyExists { .. })
    ));
    assert!(matches!(
        mst.update("app.bsky.feed.post/b", value(2)),
        Err(MstError::KeyNotFound { .. })
    ));
    assert!(matches!(
        mst.insert("no-slash", value(2)),
        Err(MstError::BadKey { .. })
    ));
    assert_eq!(mst.get("app.bsky.feed.post/a"), Some(&value(1)));
    mst.delete("app.bsky.feed.post/a").unwrap();
    assert!(mst.is_empty());
    let empty_root = Mst::new().root_cid();
    assert_eq!(mst.root_cid(), empty_root);
}

#[test]
fn empty_tree_root_is_the_known_empty_node() {
    // The empty MST node `{e: [], l: null}` has a well-known CID in every implementation.
    assert_eq!(
        Mst::new().root_cid().to_string(),
        "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"
    );
}
