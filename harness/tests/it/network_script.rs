//! The live script: frames that decode, ops that resolve and agree with the repository served
//! afterwards, seqs with gaps, signed labels, determinism, and every kind of event.

use std::collections::{BTreeMap, HashMap};

use harness::network::{AccountStatus, Network, NetworkSpec};
use harness::script::labels::verify_label;
use harness::script::{Change, EventSource, Script, ScriptSpec};
use protocol::frames::{Frame, OpAction};
use protocol::repo::{Commit, LoadOptions, load_repo};

fn network() -> Network {
    Network::generate(NetworkSpec::small(17, 40)).unwrap()
}

fn script(network: &Network, seed: u64, events: usize) -> Script {
    Script::generate(
        network,
        ScriptSpec {
            seed,
            events,
            ..ScriptSpec::default()
        },
    )
    .unwrap()
}

#[test]
fn same_seed_same_frames_other_seed_other_frames() {
    let network = network();
    let a = script(&network, 1, 120);
    let b = script(&network, 1, 120);
    let c = script(&network, 2, 120);
    let frames = |s: &Script| {
        s.events()
            .iter()
            .map(|e| e.frame.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(frames(&a), frames(&b));
    assert_ne!(frames(&a), frames(&c));
    let cars = |s: &Script| {
        s.events()
            .iter()
            .filter_map(|e| match &e.change {
                Change::Commit { repo, .. } | Change::Sync { repo, .. } => Some(repo.car.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(cars(&a), cars(&b));
}

#[tokio::test]
async fn frames_decode_resolve_and_match_the_served_repositories() {
    let network = network();
    let script = script(&network, 3, 400);
    // The ground truth, replayed from the frames themselves.
    let mut repos: HashMap<String, BTreeMap<String, String>> = HashMap::new();
    let mut revs: HashMap<String, String> = HashMap::new();
    for account in network.accounts() {
        let records = network.records(account).unwrap();
        repos.insert(
            account.did.clone(),
            records
                .iter()
                .map(|r| (r.key(), r.cid.to_string()))
                .collect(),
        );
        revs.insert(account.did.clone(), network.initial_rev(account));
    }
    let mut last_relay_seq = i64::MIN;
    let mut gaps = 0;
    let mut labeler_seqs: HashMap<String, i64> = HashMap::new();
    let mut preexisting_touched = 0;
    for event in script.events() {
        let frame = Frame::decode(&event.frame).unwrap();
        assert_eq!(frame.seq(), Some(event.seq));
        match &event.source {
            EventSource::Relay => {
                assert!(event.seq > last_relay_seq);
                gaps += usize::from(last_relay_seq != i64::MIN && event.seq > last_relay_seq + 1);
                last_relay_seq = event.seq;
            }
            EventSource::Labeler { did, .. } => {
                let last = labeler_seqs.entry(did.clone()).or_insert(0);
                assert!(event.seq > *last);
                *last = event.seq;
            }
        }
        let account = network.account_by_did(&event.did).unwrap();
        match (&frame, &event.change) {
            (Frame::Commit(commit), Change::Commit { rev, ops, repo }) => {
                assert_eq!(commit.repo.as_str(), event.did);
                assert_eq!(commit.rev.as_str(), rev);
                assert_eq!(
                    commit.since.as_ref().map(|t| t.as_str()),
                    revs.get(&event.did).map(String::as_str)
                );
                assert!(rev > &revs[&event.did], "revs must grow");
                let slice = commit.car_slice().unwrap();
                assert_eq!(slice.roots, vec![commit.commit]);
                let block = &slice.blocks[&commit.commit];
                let signed = Commit::decode(&commit.commit, block).unwrap();
                signed
                    .verify(&commit.commit, &account.key.public_key())
                    .unwrap();
                let resolved = commit.resolve_ops().unwrap();
                assert_eq!(resolved.len(), ops.len());
                let state = repos.get_mut(&event.did).unwrap();
                for (op, truth) in resolved.iter().zip(ops) {
                    let key = format!("{}/{}", op.collection, op.rkey);
                    assert_eq!(key, truth.key());
                    assert_eq!(op.cid, truth.cid);
                    let before = state.get(&key).cloned();
                    assert_eq!(before, op.prev.map(|c| c.to_string()), "prev of {key}");
                    preexisting_touched += usize::from(op.action != OpAction::Create);
                    match op.action {
                        OpAction::Create => {
                            assert!(before.is_none());
                            state.insert(key, op.cid.unwrap().to_string());
                        }
                        OpAction::Update => {
                            state.insert(key, op.cid.unwrap().to_string());
                        }
                        OpAction::Delete => {
                            state.remove(&key);
                        }
                    }
                }
                assert_eq!(repo.commit, commit.commit);
                revs.insert(event.did.clone(), rev.clone());
                check_served(account, repo, state).await;
                assert_eq!(signed.data, repo_data(account, repo).await);
            }
            (Frame::Sync(sync), Change::Sync { rev, ops, repo }) => {
                assert_eq!(sync.rev.as_str(), rev);
                let slice = protocol::car::parse_slice(&sync.blocks, &Default::default()).unwrap();
                assert_eq!(slice.roots, vec![repo.commit]);
                let state = repos.get_mut(&event.did).unwrap();
                for op in ops {
                    assert_ne!(op.action, OpAction::Delete);
                    state.insert(op.key(), op.cid.unwrap().to_string());
                }
                revs.insert(event.did.clone(), rev.clone());
                check_served(account, repo, state).await;
            }
            (Frame::Identity(identity), Change::Identity { handle }) => {
                assert_eq!(
                    identity.handle.as_ref().map(|h| h.as_str()),
                    Some(handle.as_str())
                );
            }
            (Frame::Account(frame), Change::Account { status }) => {
                assert_eq!(frame.active, status.is_active());
                assert_eq!(frame.status.as_deref(), status.as_status());
            }
            (Frame::Labels(frame), Change::Labels { labels }) => {
                assert_eq!(&frame.labels, labels);
                let key = account.labeler.as_ref().unwrap().key.public_key();
                for label in labels {
                    assert!(verify_label(label, &key));
                    assert_eq!(label.src.as_str(), account.did);
                }
            }
            (frame, change) => panic!("frame {frame:?} does not match change {change:?}"),
        }
    }
    assert!(gaps > 10, "seqs must have gaps");
    assert!(preexisting_touched > 10);
}

async fn check_served(
    account: &harness::network::Account,
    repo: &harness::script::RepoSnapshot,
    state: &BTreeMap<String, String>,
) {
    let key = account.key.public_key();
    let loaded = load_repo(
        &repo.car[..],
        &account.did,
        Some(&key),
        &LoadOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(loaded.commit_cid(), repo.commit);
    assert_eq!(loaded.commit().rev, repo.rev);
    let served: BTreeMap<String, String> = loaded
        .records()
        .map(|r| {
            let r = r.unwrap();
            (format!("{}/{}", r.collection, r.rkey), r.cid.to_string())
        })
        .collect();
    assert_eq!(&served, state, "{} after rev {}", account.did, repo.rev);
}

async fn repo_data(
    account: &harness::network::Account,
    repo: &harness::script::RepoSnapshot,
) -> cid::Cid {
    load_repo(&repo.car[..], &account.did, None, &LoadOptions::default())
        .await
        .unwrap()
        .commit()
        .data
}

#[test]
fn the_script_has_every_kind_of_event() {
    let network = network();
    let script = script(&network, 5, 600);
    let mut actions: HashMap<OpAction, usize> = HashMap::new();
    let mut statuses: HashMap<AccountStatus, usize> = HashMap::new();
    let (mut syncs, mut identities, mut labels, mut negations, mut account_labels) =
        (0, 0, 0, 0, 0);
    for event in script.events() {
        match &event.change {
            Change::Commit { ops, .. } => {
                for op in ops {
                    *actions.entry(op.action).or_default() += 1;
                }
            }
            Change::Sync { .. } => syncs += 1,
            Change::Identity { .. } => identities += 1,
            Change::Account { status } => *statuses.entry(*status).or_default() += 1,
            Change::Labels { labels: l } => {
                labels += l.len();
                negations += l.iter().filter(|l| l.neg == Some(true)).count();
                account_labels += l.iter().filter(|l| l.uri.starts_with("did:")).count();
            }
        }
    }
    for action in [OpAction::Create, OpAction::Update, OpAction::Delete] {
        assert!(
            actions.get(&action).copied().unwrap_or(0) > 0,
            "no {action:?}: {actions:?}"
        );
    }
    for status in [
        AccountStatus::Active,
        AccountStatus::Deactivated,
        AccountStatus::Takendown,
        AccountStatus::Deleted,
    ] {
        assert!(
            statuses.contains_key(&status),
            "no {status:?}: {statuses:?}"
        );
    }
    assert!(syncs > 0 && identities > 0 && labels > 0 && negations > 0 && account_labels > 0);
}
