//! The network generator: deterministic bytes, CARs that load and verify, lexicon-shaped records
//! whose references resolve, and a realistic mix.

use std::collections::{BTreeMap, HashMap};

use harness::network::{AccountStatus, DidMethod, Network, NetworkSpec};
use protocol::crypto::KeyKind;
use protocol::data_model::cbor_to_json;
use protocol::repo::{LoadOptions, load_repo};
use protocol::syntax::normalize_datetime;
use serde_json::Value;

fn cars(network: &Network) -> Vec<Vec<u8>> {
    network
        .accounts()
        .iter()
        .map(|a| network.build_repo(a).unwrap().car().unwrap().to_vec())
        .collect()
}

#[test]
fn same_seed_same_bytes_other_seed_other_bytes() {
    let a = Network::generate(NetworkSpec::small(7, 30)).unwrap();
    let b = Network::generate(NetworkSpec::small(7, 30)).unwrap();
    let c = Network::generate(NetworkSpec::small(8, 30)).unwrap();
    let (cars_a, cars_b, cars_c) = (cars(&a), cars(&b), cars(&c));
    assert_eq!(cars_a, cars_b);
    let dids_a: Vec<_> = a.accounts().iter().map(|x| x.did.clone()).collect();
    let dids_b: Vec<_> = b.accounts().iter().map(|x| x.did.clone()).collect();
    assert_eq!(dids_a, dids_b);
    let same = cars_a.iter().zip(&cars_c).filter(|(x, y)| x == y).count();
    assert_eq!(same, 0, "another seed must change every repository");
}

#[test]
fn parallel_generation_matches_sequential() {
    let network = Network::generate(NetworkSpec::small(3, 25)).unwrap();
    let sequential = cars(&network);
    let parallel = std::sync::Mutex::new(BTreeMap::new());
    network
        .for_each_repo(3, |repo| -> Result<(), harness::network::NetworkError> {
            let car = repo.car()?.to_vec();
            parallel.lock().unwrap().insert(repo.account, car);
            Ok(())
        })
        .unwrap();
    let parallel: Vec<_> = parallel.into_inner().unwrap().into_values().collect();
    assert_eq!(parallel, sequential);
}

#[tokio::test]
async fn every_car_loads_verified_and_yields_its_records() {
    let network = Network::generate(NetworkSpec::small(11, 40)).unwrap();
    for account in network.accounts() {
        let repo = network.build_repo(account).unwrap();
        let car = repo.car().unwrap();
        let key = account.key.public_key();
        let loaded = load_repo(&car[..], &account.did, Some(&key), &LoadOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", account.did));
        assert_eq!(loaded.commit_cid(), repo.commit_cid());
        assert_eq!(loaded.commit().rev, network.initial_rev(account));
        let got: Vec<(String, String)> = loaded
            .records()
            .map(|r| {
                let r = r.unwrap();
                (format!("{}/{}", r.collection, r.rkey), r.cid.to_string())
            })
            .collect();
        let mut want: Vec<(String, String)> = repo
            .records
            .iter()
            .map(|r| (r.key(), r.cid.to_string()))
            .collect();
        want.sort();
        assert_eq!(got, want, "{}", account.did);
        assert_eq!(got.len() as u32, account.plan.records);
        // A wrong key must fail: the signature really is checked.
        let other = network.accounts()[(account.index + 1) % network.accounts().len()]
            .key
            .public_key();
        assert!(
            load_repo(
                &car[..],
                &account.did,
                Some(&other),
                &LoadOptions::default()
            )
            .await
            .is_err()
        );
    }
}

/// Every `{uri, cid}` object anywhere inside `value`.
fn strong_refs(value: &Value, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            if let (Some(Value::String(uri)), Some(Value::String(cid))) =
                (map.get("uri"), map.get("cid"))
            {
                out.push((uri.clone(), cid.clone()));
            }
            map.values().for_each(|v| strong_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| strong_refs(v, out)),
        _ => {}
    }
}

#[test]
fn records_are_lexicon_shaped_and_references_resolve() {
    let network = Network::generate(NetworkSpec::small(5, 60)).unwrap();
    let mut cid_of: HashMap<String, String> = HashMap::new();
    let mut records = Vec::new();
    for account in network.accounts() {
        for record in network.records(account).unwrap() {
            cid_of.insert(record.uri(&account.did), record.cid.to_string());
            records.push((account.did.clone(), record));
        }
    }
    let mut refs_checked = 0;
    let mut lists_checked = 0;
    for (did, record) in &records {
        let json = cbor_to_json(&record.bytes).unwrap();
        assert_eq!(
            json["$type"],
            Value::String(record.collection.clone()),
            "{json}"
        );
        if let Some(created) = json.get("createdAt").and_then(Value::as_str) {
            assert_eq!(normalize_datetime(created).as_deref(), Some(created));
        }
        let mut refs = Vec::new();
        strong_refs(&json, &mut refs);
        for (uri, cid) in refs {
            assert_eq!(
                cid_of.get(&uri),
                Some(&cid),
                "dangling reference {uri} in {did}"
            );
            refs_checked += 1;
        }
        if let Some(list) = json.get("list").and_then(Value::as_str) {
            assert!(cid_of.contains_key(list), "list {list} does not exist");
            lists_checked += 1;
        }
        if record.collection == "app.bsky.feed.post" {
            let text = json["text"].as_str().unwrap();
            for facet in json
                .get("facets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let start = facet["index"]["byteStart"].as_u64().unwrap() as usize;
                let end = facet["index"]["byteEnd"].as_u64().unwrap() as usize;
                let span = text.get(start..end).expect("facet on char boundaries");
                assert!(
                    span.starts_with('@') || span.starts_with('#') || span.starts_with("https://")
                );
            }
        }
    }
    assert!(refs_checked > 50, "only {refs_checked} strong refs");
    assert!(lists_checked > 0);
}

#[test]
fn the_mix_is_realistic() {
    let network = Network::generate(NetworkSpec {
        seed: 21,
        accounts: 400,
        ..NetworkSpec::small(21, 400)
    })
    .unwrap();
    let mut by_collection: BTreeMap<String, usize> = BTreeMap::new();
    let mut embeds: BTreeMap<String, usize> = BTreeMap::new();
    let mut replies = 0;
    for account in network.accounts() {
        for record in network.records(account).unwrap() {
            *by_collection.entry(record.collection.clone()).or_default() += 1;
            let json = cbor_to_json(&record.bytes).unwrap();
            if let Some(kind) = json.pointer("/embed/$type").and_then(Value::as_str) {
                *embeds.entry(kind.to_owned()).or_default() += 1;
            }
            replies += usize::from(json.get("reply").is_some());
        }
    }
    let count = |c: &str| by_collection.get(c).copied().unwrap_or(0);
    assert!(
        count("app.bsky.feed.like") > count("app.bsky.feed.post"),
        "{by_collection:?}"
    );
    assert!(count("app.bsky.feed.post") > count("app.bsky.graph.follow"));
    assert!(count("app.bsky.graph.follow") > count("app.bsky.feed.repost"));
    for c in [
        "app.bsky.actor.profile",
        "app.bsky.graph.block",
        "app.bsky.graph.list",
        "app.bsky.graph.listitem",
        "app.bsky.graph.starterpack",
        "app.bsky.feed.threadgate",
        "app.bsky.feed.postgate",
        "app.bsky.feed.generator",
        "app.bsky.labeler.service",
        "xyz.statusphere.status",
    ] {
        assert!(count(c) > 0, "no {c}: {by_collection:?}");
    }
    for e in [
        "app.bsky.embed.images",
        "app.bsky.embed.external",
        "app.bsky.embed.record",
        "app.bsky.embed.recordWithMedia",
    ] {
        assert!(
            embeds.get(e).copied().unwrap_or(0) > 0,
            "no {e}: {embeds:?}"
        );
    }
    assert!(replies > 0);
    let accounts = network.accounts();
    assert!(accounts.iter().any(|a| a.plan.records == 0));
    assert!(accounts.iter().any(|a| a.method == DidMethod::Web));
    assert!(accounts.iter().any(|a| a.key.kind() == KeyKind::P256));
    assert!(accounts.iter().any(|a| a.key.kind() == KeyKind::K256));
    for status in [
        AccountStatus::Deactivated,
        AccountStatus::Takendown,
        AccountStatus::Deleted,
    ] {
        assert!(accounts.iter().any(|a| a.status == status), "no {status:?}");
    }
    assert!(network.labelers().count() == 1);
}

#[test]
fn bad_specs_are_refused() {
    let spec = NetworkSpec {
        deleted_fraction: 1.5,
        ..NetworkSpec::default()
    };
    assert!(Network::generate(spec).is_err());
    let spec = NetworkSpec {
        pds_hosts: 0,
        ..NetworkSpec::default()
    };
    assert!(Network::generate(spec).is_err());
}

#[test]
fn spec_reads_from_partial_json_with_defaults() {
    let spec: NetworkSpec = serde_json::from_str(r#"{"seed": 5, "accounts": 10}"#).unwrap();
    assert_eq!(
        spec,
        NetworkSpec {
            seed: 5,
            accounts: 10,
            ..NetworkSpec::default()
        }
    );
    assert!(serde_json::from_str::<NetworkSpec>(r#"{"acounts": 10}"#).is_err());
}

#[test]
fn record_counts_have_a_long_tail() {
    let network = Network::generate(NetworkSpec {
        seed: 2,
        accounts: 3_000,
        heavy_fraction: 0.003,
        ..NetworkSpec::default()
    })
    .unwrap();
    let sizes: Vec<u32> = network.accounts().iter().map(|a| a.plan.records).collect();
    let small = sizes.iter().filter(|n| (10..100).contains(*n)).count();
    let medium = sizes.iter().filter(|n| (100..=1_000).contains(*n)).count();
    let heavy = sizes.iter().filter(|n| **n >= 10_000).count();
    // Log-uniform: as many repositories of tens as of hundreds, a median near 100.
    assert!(
        small > 1_000 && medium > 1_000,
        "{small} small, {medium} medium"
    );
    let mut sorted = sizes.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    assert!((50..200).contains(&median), "median {median}");
    assert!((1..=30).contains(&heavy), "{heavy} heavy");
    assert!(sizes.contains(&0));
}
