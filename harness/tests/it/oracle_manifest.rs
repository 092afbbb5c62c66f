//! The oracle: its manifest agrees with the repositories as they are served after the script,
//! honours statuses, deletions, labels and planned repo-breaking faults, and round-trips a file.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use bytes::Bytes;
use harness::network::{AccountStatus, Network, NetworkSpec};
use harness::oracle::{Manifest, ManifestError, Oracle, OracleError, RepoBreak};
use harness::script::{Change, Script, ScriptSpec};
use protocol::repo::{LoadOptions, load_repo};

fn world() -> (Network, Script) {
    let network = Network::generate(NetworkSpec::small(23, 50)).unwrap();
    let script = Script::generate(
        &network,
        ScriptSpec {
            seed: 9,
            events: 500,
            ..ScriptSpec::default()
        },
    )
    .unwrap();
    (network, script)
}

/// `uri → cid` of what `getRepo` serves for `did` after the first `applied` events.
async fn served(
    network: &Network,
    script: &Script,
    applied: usize,
) -> HashMap<String, BTreeMap<String, String>> {
    let mut cars: HashMap<String, Bytes> = HashMap::new();
    for event in &script.events()[..applied] {
        if let Change::Commit { repo, .. } | Change::Sync { repo, .. } = &event.change {
            cars.insert(event.did.clone(), repo.car.clone());
        }
    }
    let mut out = HashMap::new();
    for account in network.accounts() {
        let car = match cars.get(&account.did) {
            Some(car) => car.clone(),
            None => network.build_repo(account).unwrap().car().unwrap(),
        };
        let loaded = load_repo(&car[..], &account.did, None, &LoadOptions::default())
            .await
            .unwrap();
        let records = loaded
            .records()
            .map(|r| {
                let r = r.unwrap();
                (
                    format!("at://{}/{}/{}", account.did, r.collection, r.rkey),
                    r.cid.to_string(),
                )
            })
            .collect();
        out.insert(account.did.clone(), records);
    }
    out
}

fn did_of(uri: &str) -> &str {
    let rest = uri.strip_prefix("at://").unwrap();
    rest.split('/').next().unwrap()
}

#[tokio::test]
async fn manifest_matches_the_served_repositories_after_the_script() {
    let (network, script) = world();
    let oracle = Oracle::new(&network).unwrap();
    let applied = script.events().len();
    let manifest = oracle.manifest(Some(&script), applied, &[]).unwrap();
    let served = served(&network, &script, applied).await;
    let mut listed: HashMap<&str, BTreeMap<String, String>> = HashMap::new();
    for record in &manifest.records {
        listed
            .entry(did_of(&record.uri))
            .or_default()
            .insert(record.uri.clone(), record.cid.clone());
    }
    let absent: BTreeSet<&str> = manifest.absent.iter().map(|a| a.uri.as_str()).collect();
    let (mut active, mut inactive, mut deleted) = (0, 0, 0);
    for actor in &manifest.actors {
        let repo = &served[&actor.did];
        let expected = listed.get(actor.did.as_str()).cloned().unwrap_or_default();
        match actor.status.as_deref() {
            None => {
                active += 1;
                // An active account's records are exactly what it serves.
                assert_eq!(&expected, repo, "{}", actor.did);
            }
            Some("deleted") => {
                deleted += 1;
                assert!(expected.is_empty());
                for uri in repo.keys() {
                    assert!(absent.contains(uri.as_str()), "{uri} of a deleted account");
                }
            }
            Some(_) => {
                inactive += 1;
                // What may be there is what it would serve; the rest must be absent.
                for (uri, cid) in &expected {
                    assert_eq!(repo.get(uri), Some(cid));
                }
                for uri in repo.keys().filter(|u| !expected.contains_key(*u)) {
                    assert!(absent.contains(uri.as_str()));
                }
            }
        }
        if let Some(rev) = &actor.rev {
            for record in manifest
                .records
                .iter()
                .filter(|r| did_of(&r.uri) == actor.did)
            {
                assert!(&record.rev <= rev);
            }
        }
    }
    assert!(active > 0 && inactive > 0 && deleted > 0);
    for record in &manifest.records {
        assert!(
            !absent.contains(record.uri.as_str()),
            "{} both present and absent",
            record.uri
        );
    }
    // Records deleted by commits are absent with the rev of their delete.
    assert!(manifest.absent.iter().any(|a| a.rev.is_some()));
    assert_eq!(
        manifest.relay_seq,
        script.relay_events().last().map(|e| e.seq)
    );
}

#[test]
fn statuses_labels_and_handles_follow_the_prefix() {
    let (network, script) = world();
    let oracle = Oracle::new(&network).unwrap();
    let none = oracle.manifest(None, 0, &[]).unwrap();
    assert!(none.labels.is_empty());
    assert_eq!(none.relay_seq, None);
    // Before the script: active accounts' records are all required, inactive ones' all absent.
    for account in network.accounts() {
        let prefix = format!("at://{}/", account.did);
        let listed: Vec<_> = none
            .records
            .iter()
            .filter(|r| r.uri.starts_with(&prefix))
            .collect();
        if account.status.is_active() {
            assert_eq!(listed.len() as u32, account.plan.records);
            assert!(listed.iter().all(|r| r.required));
        } else {
            assert!(listed.is_empty());
            let dead = none
                .dead_letters
                .iter()
                .find(|d| d.did == account.did)
                .unwrap();
            assert!(!dead.required);
            assert_eq!(Some(dead.reason.as_str()), account.status.get_repo_error());
        }
    }
    let full = oracle
        .manifest(Some(&script), script.events().len(), &[])
        .unwrap();
    // Labels: replaying the frames by hand gives the same rows.
    let mut rows = BTreeSet::new();
    let mut statuses: HashMap<String, AccountStatus> = HashMap::new();
    let mut handles: HashMap<String, String> = HashMap::new();
    for event in script.events() {
        match &event.change {
            Change::Labels { labels } => {
                for l in labels {
                    let key = (
                        l.src.to_string(),
                        l.uri.clone(),
                        l.cid.clone().unwrap_or_default(),
                        l.val.clone(),
                    );
                    if l.neg == Some(true) {
                        assert!(rows.remove(&key), "a negation must follow its label");
                    } else {
                        rows.insert(key);
                    }
                }
            }
            Change::Account { status } => {
                statuses.insert(event.did.clone(), *status);
            }
            Change::Identity { handle } => {
                handles.insert(event.did.clone(), handle.clone());
            }
            _ => {}
        }
    }
    let got: BTreeSet<_> = full
        .labels
        .iter()
        .map(|l| (l.src.clone(), l.uri.clone(), l.cid.clone(), l.val.clone()))
        .collect();
    assert_eq!(got, rows);
    assert!(!rows.is_empty());
    for actor in &full.actors {
        if let Some(status) = statuses.get(&actor.did) {
            assert_eq!(actor.status.as_deref(), status.as_status());
            assert!(actor.status_from_event);
        }
        if let Some(handle) = handles.get(&actor.did) {
            assert_eq!(&actor.handle, handle);
            assert!(actor.handle_from_event);
        }
    }
    // A prefix is a different truth.
    let half = oracle
        .manifest(Some(&script), script.events().len() / 2, &[])
        .unwrap();
    assert_ne!(half, full);
    assert!(matches!(
        oracle.manifest(Some(&script), script.events().len() + 1, &[]),
        Err(OracleError::TooManyEvents { .. })
    ));
}

#[test]
fn a_broken_repository_is_dead_lettered_and_only_its_live_records_count() {
    let (network, script) = world();
    let oracle = Oracle::new(&network).unwrap();
    let applied = script.events().len();
    let clean = oracle.manifest(Some(&script), applied, &[]).unwrap();
    // An account active all along, with records from before the script and live commits.
    let live_dids: BTreeSet<&str> = script
        .events()
        .iter()
        .filter(|e| matches!(e.change, Change::Commit { .. }))
        .map(|e| e.did.as_str())
        .collect();
    let actor = clean
        .actors
        .iter()
        .find(|a| {
            a.status.is_none() && !a.status_from_event && live_dids.contains(a.did.as_str()) && {
                let account = network.account_by_did(&a.did).unwrap();
                let initial_rev = network.initial_rev(account);
                let untouched = clean
                    .records
                    .iter()
                    .filter(|r| did_of(&r.uri) == a.did && r.rev == initial_rev);
                untouched.count() > 3
            }
        })
        .expect("an active account with commits");
    let breaks = [RepoBreak {
        did: actor.did.clone(),
        reason: "bad signature".into(),
    }];
    let broken = oracle.manifest(Some(&script), applied, &breaks).unwrap();
    let dead = broken
        .dead_letters
        .iter()
        .find(|d| d.did == actor.did)
        .unwrap();
    assert!(dead.required);
    assert_eq!(dead.reason, "bad signature");
    assert_eq!(dead.stream, "repo_backfill_dlq");
    let before: Vec<_> = clean
        .records
        .iter()
        .filter(|r| did_of(&r.uri) == actor.did)
        .collect();
    let after: Vec<_> = broken
        .records
        .iter()
        .filter(|r| did_of(&r.uri) == actor.did)
        .collect();
    assert!(
        after.len() < before.len(),
        "{} {before:?} {after:?}",
        actor.did
    );
    // What remains was written by live commits (rev newer than the generated head).
    let initial_rev = network.initial_rev(network.account_by_did(&actor.did).unwrap());
    assert!(after.iter().all(|r| r.required && r.rev > initial_rev));
    for r in before.iter().filter(|r| r.rev == initial_rev) {
        assert!(broken.absent.iter().any(|a| a.uri == r.uri));
    }
    // Other accounts are unaffected.
    let others = |m: &Manifest| {
        m.records
            .iter()
            .filter(|r| did_of(&r.uri) != actor.did)
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(others(&clean), others(&broken));
}

#[test]
fn manifest_round_trips_through_a_file() {
    let (network, script) = world();
    let oracle = Oracle::new(&network).unwrap();
    let manifest = oracle.manifest(Some(&script), 200, &[]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    manifest.write(&path).unwrap();
    assert_eq!(Manifest::read(&path).unwrap(), manifest);
    let first = &manifest.records[0];
    assert_eq!(manifest.record(&first.uri), Some(first));
    assert!(manifest.actor(&manifest.actors[0].did).is_some());
    let mut other = manifest.clone();
    other.format = "something-else/9".into();
    other.write(&path).unwrap();
    assert!(matches!(
        Manifest::read(&path),
        Err(ManifestError::Format { .. })
    ));
    std::fs::write(&path, b"{not json").unwrap();
    assert!(matches!(
        Manifest::read(&path),
        Err(ManifestError::Parse { .. })
    ));
}
