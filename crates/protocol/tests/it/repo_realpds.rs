//! Every repository the reference PDS served loads: verified blocks, commit and signature (with the
//! `#atproto` key of the account's DID document), and the live record count per collection equals
//! the PDS's own ground truth in `expected.json`.

use std::collections::BTreeMap;

use protocol::crypto::{KeyKind, PublicKey};
use protocol::mst::Mst;
use protocol::repo::{LoadOptions, RepoError, load_repo};
use serde_json::Value;

fn read_json(relative: &str) -> Value {
    let path = testkit::fixture(relative);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `#atproto` verification method of a DID document, as a key.
fn atproto_key(doc: &Value) -> PublicKey {
    let methods = doc["verificationMethod"]
        .as_array()
        .expect("verificationMethod");
    let method = methods
        .iter()
        .find(|m| m["id"].as_str().is_some_and(|id| id.ends_with("#atproto")))
        .expect("#atproto method");
    let text = method["publicKeyMultibase"]
        .as_str()
        .expect("publicKeyMultibase");
    match method["type"].as_str() {
        Some("Multikey") => PublicKey::from_multikey(text),
        Some("EcdsaSecp256k1VerificationKey2019") => {
            PublicKey::from_legacy_multibase(KeyKind::K256, text)
        }
        Some("EcdsaSecp256r1VerificationKey2019") => {
            PublicKey::from_legacy_multibase(KeyKind::P256, text)
        }
        other => panic!("unknown verification method type {other:?}"),
    }
    .expect("valid key")
}

async fn load_all(
    budget: usize,
    node_budget: usize,
) -> BTreeMap<String, Vec<(String, String, String)>> {
    let expected = read_json("realpds/expected.json");
    let docs = read_json("realpds/did-docs.json");
    let mut all = BTreeMap::new();
    let repos = expected["byRepo"].as_object().expect("byRepo");
    let mut loaded = 0;
    for (did, want) in repos {
        if want["active"] != Value::Bool(true) {
            continue;
        }
        let file = format!("realpds/repos/{}.car", did.replace(':', "_"));
        let bytes = std::fs::read(testkit::fixture(&file)).expect("repo CAR");
        let key = atproto_key(&docs[did.as_str()]["body"]);
        let options = LoadOptions {
            memory_budget: budget,
            node_memory_budget: node_budget,
            ..LoadOptions::default()
        };
        let repo = load_repo(&bytes[..], did, Some(&key), &options)
            .await
            .unwrap_or_else(|e| panic!("{did}: {e}"));
        assert_eq!(
            repo.commit_cid().to_string(),
            want["head"].as_str().unwrap(),
            "{did} head"
        );
        assert_eq!(
            repo.commit().rev,
            want["rev"].as_str().unwrap(),
            "{did} rev"
        );
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        let mut records = Vec::new();
        for record in repo.records() {
            let record = record.unwrap_or_else(|e| panic!("{did}: {e}"));
            *counts.entry(record.collection.clone()).or_default() += 1;
            records.push((record.collection, record.rkey, record.cid.to_string()));
        }
        let want_counts: BTreeMap<String, u64> = want["collections"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
            .collect();
        assert_eq!(counts, want_counts, "{did} collections");
        // Rebuilding the tree from the walked pairs must give the PDS's own MST root.
        let pairs = records
            .iter()
            .map(|(c, r, cid)| (format!("{c}/{r}"), cid.parse().unwrap()));
        let mut rebuilt = Mst::from_sorted(pairs).expect("sorted pairs");
        assert_eq!(
            rebuilt.root_cid(),
            repo.commit().data,
            "{did} rebuilt MST root"
        );
        all.insert(did.clone(), records);
        loaded += 1;
    }
    assert_eq!(loaded, 30);
    all
}

#[tokio::test]
async fn every_reference_repo_loads_with_expected_counts_and_valid_signature() {
    let all = load_all(64 << 20, 256 << 20).await;
    let total: usize = all.values().map(Vec::len).sum();
    assert_eq!(
        total as u64,
        read_json("realpds/expected.json")["totalRecords"]
            .as_u64()
            .unwrap()
    );
}

#[tokio::test]
async fn spilling_everything_gives_the_same_records() {
    let in_memory = load_all(64 << 20, 256 << 20).await;
    assert_eq!(load_all(0, 256 << 20).await, in_memory);
    assert_eq!(load_all(0, 0).await, in_memory);
}

#[tokio::test]
async fn wrong_did_and_wrong_key_are_rejected() {
    let expected = read_json("realpds/expected.json");
    let docs = read_json("realpds/did-docs.json");
    let repos = expected["byRepo"].as_object().unwrap();
    let mut active = repos
        .iter()
        .filter(|(_, v)| v["active"] == Value::Bool(true));
    let (did, _) = active.next().unwrap();
    let (other, _) = active.next().unwrap();
    let file = format!("realpds/repos/{}.car", did.replace(':', "_"));
    let bytes = std::fs::read(testkit::fixture(&file)).unwrap();
    let options = LoadOptions::default();

    let err = load_repo(&bytes[..], other, None, &options)
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::WrongDid { .. }), "{err}");

    let other_key = atproto_key(&docs[other.as_str()]["body"]);
    let err = load_repo(&bytes[..], did, Some(&other_key), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, RepoError::BadSignature { .. }), "{err}");
}
