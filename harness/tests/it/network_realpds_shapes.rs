//! Generated records look like the reference PDS's: every field that all of its records of a
//! collection (or of an embed type) carry, ours carry too.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use harness::network::{Network, NetworkSpec};
use protocol::data_model::cbor_to_json;
use protocol::repo::{LoadOptions, load_repo};
use serde_json::Value;

/// The reference PDS's repos (`fixtures/realpds/repos`).
fn realpds_repos() -> PathBuf {
    testkit::realpds("repos")
}

type Shapes = BTreeMap<String, BTreeSet<String>>;

/// Intersects `keys` into `shapes[name]`.
fn meet(shapes: &mut Shapes, name: &str, keys: BTreeSet<String>) {
    shapes
        .entry(name.to_owned())
        .and_modify(|known| known.retain(|k| keys.contains(k)))
        .or_insert(keys);
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Fields common to every record of each collection, and to every embed of each type.
fn shapes(records: impl Iterator<Item = (String, Value)>) -> (Shapes, Shapes) {
    let (mut collections, mut embeds) = (Shapes::new(), Shapes::new());
    for (collection, json) in records {
        meet(&mut collections, &collection, keys(&json));
        if let Some(embed) = json.get("embed")
            && let Some(kind) = embed.get("$type").and_then(Value::as_str)
        {
            meet(&mut embeds, kind, keys(embed));
        }
    }
    (collections, embeds)
}

#[tokio::test]
async fn generated_records_carry_every_field_the_reference_pds_always_writes() {
    let mut real = Vec::new();
    for entry in std::fs::read_dir(realpds_repos()).unwrap() {
        let path = entry.unwrap().path();
        let did = path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('_', ":");
        let car = std::fs::read(&path).unwrap();
        let loaded = load_repo(&car[..], &did, None, &LoadOptions::default())
            .await
            .unwrap();
        for record in loaded.records() {
            let record = record.unwrap();
            real.push((record.collection, cbor_to_json(&record.bytes).unwrap()));
        }
    }
    assert!(real.len() > 800);
    let (real_collections, real_embeds) = shapes(real.into_iter());

    let network = Network::generate(NetworkSpec::small(41, 150)).unwrap();
    let mut ours = Vec::new();
    for account in network.accounts() {
        for record in network.records(account).unwrap() {
            ours.push((
                record.collection.clone(),
                cbor_to_json(&record.bytes).unwrap(),
            ));
        }
    }
    let mut compared = 0;
    for (collection, json) in &ours {
        if let Some(required) = real_collections.get(collection) {
            let have = keys(json);
            let missing: Vec<_> = required.difference(&have).collect();
            assert!(missing.is_empty(), "{collection} lacks {missing:?}: {json}");
            compared += 1;
        }
        if let Some(embed) = json.get("embed")
            && let Some(required) = embed
                .get("$type")
                .and_then(Value::as_str)
                .and_then(|t| real_embeds.get(t))
        {
            let have = keys(embed);
            let missing: Vec<_> = required.difference(&have).collect();
            assert!(missing.is_empty(), "embed lacks {missing:?}: {embed}");
        }
    }
    assert!(compared > 1_000);
    // The collections the reference seed writes, we write too.
    let ours: BTreeSet<&str> = ours.iter().map(|(c, _)| c.as_str()).collect();
    for collection in real_collections.keys() {
        if collection.starts_with("app.bsky.") && collection != "app.bsky.graph.verification" {
            assert!(ours.contains(collection.as_str()), "no {collection}");
        }
    }
}
