//! The official commit-proof vectors, applied to the incremental tree: the keys build the "before"
//! root, the adds and deletes give the "after" root, and every node block the change created is
//! among the blocks the proof carries (the rest of the proof are unchanged neighbours).

use cid::Cid;
use protocol::mst::Mst;
use serde_json::Value;

fn strings(case: &Value, field: &str) -> Vec<String> {
    case[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn commit_proof_vectors() {
    let path = testkit::fixture("interop/firehose/commit-proof-fixtures.json");
    let cases: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(cases.len() >= 6);
    for case in cases {
        let name = case["comment"].as_str().unwrap();
        let leaf: Cid = case["leafValue"].as_str().unwrap().parse().unwrap();
        let mut keys = strings(&case, "keys");
        keys.sort();
        let mut mst = Mst::from_sorted(keys.into_iter().map(|k| (k, leaf))).unwrap();
        let before = mst.take_new_blocks();
        assert_eq!(
            before.root.to_string(),
            case["rootBeforeCommit"].as_str().unwrap(),
            "{name}: before"
        );
        for key in strings(&case, "adds") {
            mst.insert(&key, leaf).unwrap();
        }
        for key in strings(&case, "dels") {
            mst.delete(&key).unwrap();
        }
        let after = mst.take_new_blocks();
        assert_eq!(
            after.root.to_string(),
            case["rootAfterCommit"].as_str().unwrap(),
            "{name}: after"
        );
        let proof = strings(&case, "blocksInProof");
        for (cid, _) in &after.blocks {
            assert!(
                proof.contains(&cid.to_string()),
                "{name}: new block {cid} not in the proof"
            );
        }
    }
}
