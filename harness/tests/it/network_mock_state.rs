//! The network as mock-server states: every account served by its PDS with a verifiable CAR,
//! listed by the relay, resolvable through PLC or did:web; script events keep the states current.

use std::collections::HashMap;

use harness::mock::AccountStatus as MockStatus;
use harness::network::{DidMethod, Endpoints, Network, NetworkSpec};
use harness::script::{Change, Script, ScriptSpec, apply_to_states};
use protocol::crypto::PublicKey;
use protocol::repo::{LoadOptions, load_repo};

fn endpoints(network: &Network) -> Endpoints {
    Endpoints {
        pds: (0..network.pds_hosts().len())
            .map(|i| format!("http://127.0.0.1:{}", 41000 + i))
            .collect(),
        labelers: network
            .labelers()
            .filter_map(|l| l.labeler.as_ref())
            .map(|l| (l.host.clone(), "http://127.0.0.1:42000".to_owned()))
            .collect(),
    }
}

#[tokio::test]
async fn states_serve_every_account() {
    let network = Network::generate(NetworkSpec::small(31, 30)).unwrap();
    let endpoints = endpoints(&network);
    let states = network.mock_states(&endpoints, 2).unwrap();
    assert_eq!(states.pds.len(), network.pds_hosts().len());
    let served: usize = states.pds.iter().map(|s| s.accounts.len()).sum();
    assert_eq!(served, network.accounts().len());
    assert_eq!(states.relay.accounts.len(), network.accounts().len());
    assert_eq!(states.relay.hosts[0].hostname, "127.0.0.1:41000");
    for account in network.accounts() {
        let hosted = states.pds[account.pds]
            .accounts
            .iter()
            .find(|a| a.did == account.did)
            .unwrap();
        let key = account.key.public_key();
        let loaded = load_repo(
            &hosted.car[..],
            &account.did,
            Some(&key),
            &LoadOptions::default(),
        )
        .await
        .unwrap();
        assert_eq!(loaded.commit_cid().to_string(), hosted.head);
        assert_eq!(hosted.rev, network.initial_rev(account));
        let relay = states
            .relay
            .accounts
            .iter()
            .find(|r| r.did == account.did)
            .unwrap();
        assert_eq!(relay.head, hosted.head);
        assert_eq!(relay.active, account.status.is_active());
        assert_eq!(relay.pds, endpoints.pds[account.pds]);
        let document = match account.method {
            DidMethod::Plc => states.plc.documents[&account.did].clone(),
            DidMethod::Web => {
                states.web.did_documents[account.did.trim_start_matches("did:web:")].clone()
            }
        };
        assert_eq!(document["id"], account.did.as_str());
        assert_eq!(
            document["alsoKnownAs"][0],
            format!("at://{}", account.handle)
        );
        let multikey = document["verificationMethod"][0]["publicKeyMultibase"]
            .as_str()
            .unwrap();
        assert_eq!(PublicKey::from_multikey(multikey).unwrap(), key);
        assert_eq!(
            document["service"][0]["serviceEndpoint"],
            endpoints.pds[account.pds].as_str()
        );
        assert_eq!(states.web.handles[&account.handle], account.did);
        if account.labeler.is_some() {
            assert_eq!(document["service"][1]["type"], "AtprotoLabeler");
        }
    }
}

#[test]
fn script_events_keep_the_states_current() {
    let network = Network::generate(NetworkSpec::small(33, 30)).unwrap();
    let script = Script::generate(
        &network,
        ScriptSpec {
            events: 300,
            ..ScriptSpec::default()
        },
    )
    .unwrap();
    let endpoints = endpoints(&network);
    let mut states = network.mock_states(&endpoints, 2).unwrap();
    let mut last_repo = HashMap::new();
    let mut last_handle = HashMap::new();
    let mut last_status = HashMap::new();
    for event in script.events() {
        apply_to_states(&network, &endpoints, &mut states, event).unwrap();
        match &event.change {
            Change::Commit { repo, .. } | Change::Sync { repo, .. } => {
                last_repo.insert(event.did.clone(), repo.clone());
            }
            Change::Identity { handle } => {
                last_handle.insert(event.did.clone(), handle.clone());
            }
            Change::Account { status } => {
                last_status.insert(event.did.clone(), *status);
            }
            Change::Labels { .. } => {}
        }
    }
    assert!(!last_repo.is_empty() && !last_handle.is_empty() && !last_status.is_empty());
    for account in network.accounts() {
        let hosted = states.pds[account.pds]
            .accounts
            .iter()
            .find(|a| a.did == account.did)
            .unwrap();
        if let Some(repo) = last_repo.get(&account.did) {
            assert_eq!(hosted.car, repo.car);
            assert_eq!(hosted.head, repo.commit.to_string());
        }
        if let Some(handle) = last_handle.get(&account.did) {
            assert_eq!(hosted.handle.as_deref(), Some(handle.as_str()));
            assert_eq!(states.web.handles.get(handle), Some(&account.did));
            if *handle != account.handle {
                assert!(!states.web.handles.contains_key(&account.handle));
            }
        }
        if let Some(status) = last_status.get(&account.did) {
            let expected = *status;
            assert_eq!(hosted.status, expected);
            let relay = states
                .relay
                .accounts
                .iter()
                .find(|r| r.did == account.did)
                .unwrap();
            assert_eq!(relay.active, expected == MockStatus::Active);
        }
    }
}
