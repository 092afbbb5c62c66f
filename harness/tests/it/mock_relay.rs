//! The mock relay: listRepos and listHosts paging, getRepo redirects, and the firehose's
//! replay, live, outdated-cursor and slow-consumer behaviour.

use crate::support::mock::*;
use harness::mock::{
    MockOptions, MockPds, MockRelay, PdsAccount, PdsOptions, PdsState, RelayAccount, RelayHost,
    RelayState,
};
use protocol::frames::Frame;
use protocol::repo::{LoadOptions, load_repo};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

fn account(id: u64, active: bool) -> RelayAccount {
    RelayAccount {
        id,
        did: format!("did:plc:relay{id:019}"),
        head: "bafyreiebnusy7eh6bhb6ujlzjpw4h6n2vkunl4pwsn45n4gwkkz3o6rvse".into(),
        rev: "3n3bpaa76x22t".into(),
        active,
        status: (!active).then(|| "takendown".to_owned()),
        pds: "http://127.0.0.1:1".into(),
    }
}

/// 25 accounts with ids 2, 4, …, 50 (gaps, like a real relay), every fifth inactive.
fn relay_state() -> RelayState {
    let mut accounts: Vec<RelayAccount> = (1..=25).map(|i| account(i * 2, i % 5 != 0)).collect();
    accounts.reverse();
    RelayState {
        accounts,
        hosts: (1..=3)
            .map(|id| RelayHost {
                id,
                hostname: format!("pds{id}.test"),
                account_count: id * 10,
                status: "active".into(),
            })
            .collect(),
    }
}

async fn get_json(url: String) -> (u16, Value) {
    let response = http().get(url).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test]
async fn list_repos_pages_by_numeric_cursor_with_cursors_only_on_full_pages() {
    let relay = MockRelay::start(relay_state(), MockOptions::default())
        .await
        .unwrap();
    let base = relay
        .url()
        .join("/xrpc/com.atproto.sync.listRepos")
        .unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}?limit=7&cursor={c}"),
            None => format!("{base}?limit=7"),
        };
        let (status, body) = get_json(url).await;
        assert_eq!(status, 200);
        pages += 1;
        let repos = body["repos"].as_array().unwrap();
        for repo in repos {
            assert_eq!(repo["active"], true);
            seen.push(repo["did"].as_str().unwrap().to_owned());
        }
        match body.get("cursor") {
            Some(c) => {
                assert_eq!(repos.len(), 7, "a cursor only on full pages");
                let last = repos.last().unwrap()["did"].as_str().unwrap();
                let id: u64 = c.as_str().unwrap().parse().unwrap();
                assert_eq!(
                    last,
                    format!("did:plc:relay{id:019}"),
                    "cursor is the last id"
                );
                cursor = Some(c.as_str().unwrap().to_owned());
            }
            None => {
                assert!(repos.len() < 7);
                break;
            }
        }
    }
    // 20 active accounts: pages of 7, 7, 6.
    assert_eq!(pages, 3);
    let expected: Vec<String> = (1..=25u64)
        .filter(|i| i % 5 != 0)
        .map(|i| format!("did:plc:relay{:019}", i * 2))
        .collect();
    assert_eq!(seen, expected);

    // Default limit is 500: everything in one page, no cursor.
    let (_, body) = get_json(base.to_string()).await;
    assert_eq!(body["repos"].as_array().unwrap().len(), 20);
    assert!(body.get("cursor").is_none());

    for bad in [
        "limit=0",
        "limit=1001",
        "limit=many",
        "cursor=abc",
        "cursor=-3",
    ] {
        let (status, body) = get_json(format!("{base}?{bad}")).await;
        assert_eq!(status, 400, "{bad}");
        assert_eq!(body["error"], "InvalidRequest", "{bad}");
    }
    relay.stop().await;
}

#[tokio::test]
async fn state_changes_are_served_at_once() {
    let relay = MockRelay::start(RelayState::default(), MockOptions::default())
        .await
        .unwrap();
    let client = client();
    assert!(
        client
            .list_repos(&relay.url(), None, 10)
            .await
            .unwrap()
            .repos
            .is_empty()
    );
    relay.state().write(|s| s.accounts.push(account(1, true)));
    let page = client.list_repos(&relay.url(), None, 10).await.unwrap();
    assert_eq!(page.repos.len(), 1);
    relay.stop().await;
}

#[tokio::test]
async fn list_hosts_pages_the_crawled_hosts() {
    let relay = MockRelay::start(relay_state(), MockOptions::default())
        .await
        .unwrap();
    let client = client();
    let first = client.list_hosts(&relay.url(), None, 2).await.unwrap();
    assert_eq!(first.hosts.len(), 2);
    let cursor = first.cursor.clone().expect("a full page has a cursor");
    let second = client
        .list_hosts(&relay.url(), Some(&cursor), 2)
        .await
        .unwrap();
    assert_eq!(second.hosts.len(), 1);
    assert!(second.cursor.is_none());
    let names: Vec<String> = first
        .hosts
        .iter()
        .chain(second.hosts.iter())
        .map(|h| h.hostname.clone())
        .collect();
    assert_eq!(names, ["pds1.test", "pds2.test", "pds3.test"]);
    relay.stop().await;
}

#[tokio::test]
async fn get_repo_redirects_to_the_accounts_pds() {
    let did = "did:plc:redirected000000000000";
    let (car, key) = test_repo(did, 5, 3);
    let pds_account = PdsAccount::from_car(did, 1, car).unwrap();
    let pds = MockPds::start(
        PdsState {
            accounts: vec![pds_account.clone()],
        },
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    let mut relay_account = account(1, true);
    relay_account.did = did.into();
    relay_account.pds = pds.url().to_string();
    let relay = MockRelay::start(
        RelayState {
            accounts: vec![relay_account],
            hosts: vec![],
        },
        MockOptions::default(),
    )
    .await
    .unwrap();

    let response = http()
        .get(relay.url().join("/xrpc/com.atproto.sync.getRepo").unwrap())
        .query(&[("did", did), ("since", "3n3bpaa00000t")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(pds.url().as_str()), "{location}");
    assert!(location.contains("since=3n3bpaa00000t"), "{location}");

    // The pipeline's client follows the redirect and loads the repo from the PDS.
    let body = client()
        .get_repo(&relay.url(), did, None, u64::MAX)
        .await
        .unwrap();
    assert_eq!(body.url().port(), pds.url().port());
    let repo = load_repo(body, did, Some(&key.public_key()), &LoadOptions::default())
        .await
        .unwrap();
    assert_eq!(repo.commit_cid().to_string(), pds_account.head);

    let unknown = client()
        .get_repo(&relay.url(), "did:plc:unknown", None, u64::MAX)
        .await
        .unwrap_err();
    assert!(unknown.is_repo_not_found(), "{unknown}");
    relay.stop().await;
    pds.stop().await;
}

fn subscribe_url(relay: &MockRelay, cursor: Option<i64>) -> String {
    let mut url = relay
        .server()
        .ws_url()
        .join("/xrpc/com.atproto.sync.subscribeRepos")
        .unwrap();
    if let Some(cursor) = cursor {
        url.set_query(Some(&format!("cursor={cursor}")));
    }
    url.to_string()
}

#[tokio::test]
async fn subscribe_replays_after_the_cursor_then_goes_live() {
    let relay = MockRelay::start(RelayState::default(), MockOptions::default())
        .await
        .unwrap();
    for seq in [1, 2, 5, 9] {
        relay.events().append_frame(&identity_frame(seq)).unwrap();
    }
    let mut replay = connect(&subscribe_url(&relay, Some(2))).await;
    let mut live = connect(&subscribe_url(&relay, None)).await;
    assert_eq!(seq_of(&next_binary(&mut replay).await), 5);
    assert_eq!(seq_of(&next_binary(&mut replay).await), 9);
    relay.events().append_frame(&identity_frame(12)).unwrap();
    assert_eq!(seq_of(&next_binary(&mut replay).await), 12);
    // The live-only consumer saw none of the history.
    assert_eq!(seq_of(&next_binary(&mut live).await), 12);
    // The cursor equal to the head is not "in the future".
    let mut at_head = connect(&subscribe_url(&relay, Some(12))).await;
    relay.events().append_frame(&identity_frame(13)).unwrap();
    assert_eq!(seq_of(&next_binary(&mut at_head).await), 13);
    relay.stop().await;
}

#[tokio::test]
async fn outdated_cursor_gets_an_info_frame_then_the_oldest_retained() {
    let options = MockOptions {
        retained_events: 5,
        ..MockOptions::default()
    };
    let relay = MockRelay::start(RelayState::default(), options)
        .await
        .unwrap();
    for seq in 1..=10 {
        relay.events().append_frame(&identity_frame(seq)).unwrap();
    }
    let mut ws = connect(&subscribe_url(&relay, Some(2))).await;
    match Frame::decode(&next_binary(&mut ws).await).unwrap() {
        Frame::Info(info) => assert_eq!(info.name, "OutdatedCursor"),
        other => panic!("expected #info, got {other:?}"),
    }
    let seqs: Vec<i64> = futures_collect(&mut ws, 5).await;
    assert_eq!(seqs, [6, 7, 8, 9, 10]);
    // A cursor inside the window gets no info frame.
    let mut ws = connect(&subscribe_url(&relay, Some(7))).await;
    assert_eq!(seq_of(&next_binary(&mut ws).await), 8);
    relay.stop().await;
}

async fn futures_collect(ws: &mut Ws, n: usize) -> Vec<i64> {
    let mut seqs = Vec::new();
    for _ in 0..n {
        seqs.push(seq_of(&next_binary(ws).await));
    }
    seqs
}

#[tokio::test]
async fn a_consumer_that_falls_behind_gets_consumer_too_slow() {
    let options = MockOptions {
        max_consumer_lag: 20,
        ..MockOptions::default()
    };
    let relay = MockRelay::start(RelayState::default(), options)
        .await
        .unwrap();
    let mut ws = connect(&subscribe_url(&relay, None)).await;
    // Far more than the socket buffers hold, while the consumer reads nothing: the server's
    // sends block and the backlog grows past the allowed lag.
    let payload = vec![0u8; 256 * 1024];
    for seq in 1..=400 {
        relay.events().append(seq, payload.clone()).unwrap();
    }
    let mut received = 0;
    let error = loop {
        match next_message(&mut ws).await {
            Some(Ok(Message::Binary(bytes))) if bytes.len() == payload.len() => received += 1,
            Some(Ok(Message::Binary(bytes))) => break Frame::decode(&bytes).unwrap(),
            other => panic!("expected frames then an error frame, got {other:?}"),
        }
    };
    assert!(
        matches!(&error, Frame::Error(e) if e.error == "ConsumerTooSlow"),
        "{error:?}"
    );
    assert!(received < 400);
    match next_message(&mut ws).await {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(close.reason.as_str(), "ConsumerTooSlow")
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    relay.stop().await;
}

#[tokio::test]
async fn stop_ends_streams_and_frees_the_port() {
    let relay = MockRelay::start(RelayState::default(), MockOptions::default())
        .await
        .unwrap();
    let addr = relay.server().addr();
    let mut ws = connect(&subscribe_url(&relay, None)).await;
    relay.stop().await;
    // The stream ends (close or error), it does not hang.
    let ended = next_message(&mut ws).await;
    assert!(!matches!(ended, Some(Ok(Message::Binary(_)))), "{ended:?}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
