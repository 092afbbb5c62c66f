//! The mocks held against real output of the reference PDS (`fixtures/realpds/`): the
//! same requests get the same statuses and bodies, and streams send the same bytes.

use crate::support::mock::*;
use bytes::Bytes;
use harness::mock::{
    AccountStatus, MockOptions, MockPds, MockPlc, MockRelay, PdsAccount, PdsOptions, PdsState,
    PlcState, RelayState,
};
use protocol::crypto::{KeyKind, PublicKey};
use protocol::frames::Frame;
use protocol::repo::{LoadOptions, load_repo};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// The PDS of the fixture network: every listed account, with creation times consistent with
/// the recorded cursors, plus the deleted account.
fn fixture_pds_state() -> PdsState {
    let pages = realpds_json("listRepos-pages.json");
    let mut accounts = Vec::new();
    let mut previous_last: Option<i64> = None;
    for page in pages.as_array().unwrap() {
        let body = &page["body"];
        let repos = body["repos"].as_array().unwrap();
        let Some(cursor) = body["cursor"].as_str() else {
            continue;
        };
        let last_ms: i64 = cursor.split_once("::").unwrap().0.parse().unwrap();
        let first_ms = previous_last.map_or(last_ms - 100, |p| p + 1);
        for (i, repo) in repos.iter().enumerate() {
            let did = repo["did"].as_str().unwrap();
            let created = if i + 1 == repos.len() {
                last_ms
            } else {
                first_ms + i as i64
            };
            let status = match repo["status"].as_str() {
                None => AccountStatus::Active,
                Some("deactivated") => AccountStatus::Deactivated,
                Some(other) => panic!("unexpected status {other}"),
            };
            let account = if status == AccountStatus::Active {
                let account = PdsAccount::from_car(did, created, realpds_car(did)).unwrap();
                assert_eq!(account.head, repo["head"].as_str().unwrap(), "{did} head");
                assert_eq!(account.rev, repo["rev"].as_str().unwrap(), "{did} rev");
                account
            } else {
                PdsAccount {
                    did: did.into(),
                    handle: None,
                    created_at_ms: created,
                    status,
                    head: repo["head"].as_str().unwrap().into(),
                    rev: repo["rev"].as_str().unwrap().into(),
                    car: Bytes::new(),
                    signing_key: None,
                }
            };
            accounts.push(account);
        }
        previous_last = Some(last_ms);
    }
    accounts.push(PdsAccount {
        did: "did:plc:xcuyyygoxjqggjx4puycok43".into(),
        handle: None,
        created_at_ms: 1,
        status: AccountStatus::Deleted,
        head: String::new(),
        rev: String::new(),
        car: Bytes::new(),
        signing_key: None,
    });
    // Listing order must not depend on insertion order.
    accounts.reverse();
    PdsState { accounts }
}

#[tokio::test]
async fn pds_list_repos_pages_match_the_reference_pds() {
    let pds = MockPds::start(
        fixture_pds_state(),
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    let http = http();
    let pages = realpds_json("listRepos-pages.json");
    let pages = pages.as_array().unwrap();
    assert!(pages.len() > 2);
    for page in pages {
        let request = page["request"].as_str().unwrap();
        let response = http
            .get(format!(
                "{}{}",
                pds.url().as_str().trim_end_matches('/'),
                request
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16() as u64,
            page["status"].as_u64().unwrap()
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, page["body"], "{request}");
    }
    // The last page is empty and has no cursor: a client stops there.
    assert_eq!(pages.last().unwrap()["body"]["repos"], Value::Array(vec![]));
    pds.stop().await;
}

#[tokio::test]
async fn pds_get_repo_errors_match_the_reference_pds() {
    let pds = MockPds::start(
        fixture_pds_state(),
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    let http = http();
    let errors = realpds_json("getRepo-errors.json");
    for (did, expected) in errors.as_object().unwrap() {
        let response = http
            .get(pds.url().join("/xrpc/com.atproto.sync.getRepo").unwrap())
            .query(&[("did", did)])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16() as u64,
            expected["status"].as_u64().unwrap()
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, expected["body"], "{did}");
    }
    pds.stop().await;
}

#[tokio::test]
async fn pds_serves_the_real_cars_streamed_and_they_verify() {
    let pds = MockPds::start(
        fixture_pds_state(),
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    let docs = realpds_json("did-docs.json");
    let did = "did:plc:lt2323nlyuttitt244pgktl2";
    let response = http()
        .get(pds.url().join("/xrpc/com.atproto.sync.getRepo").unwrap())
        .query(&[("did", did)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.ipld.car"
    );
    assert!(response.headers().get("content-length").is_none());
    let body = response.bytes().await.unwrap();
    assert_eq!(body, realpds_car(did));

    // Through the pipeline's own client and loader, with the key from the DID document.
    let multikey = docs[did]["body"]["verificationMethod"][0]["publicKeyMultibase"]
        .as_str()
        .unwrap();
    // The reference PLC publishes the legacy (EcdsaSecp256k1VerificationKey2019) form.
    let key = PublicKey::from_legacy_multibase(KeyKind::K256, multikey).unwrap();
    let repo_body = client()
        .get_repo(&pds.url(), did, None, u64::MAX)
        .await
        .unwrap();
    let repo = load_repo(repo_body, did, Some(&key), &LoadOptions::default())
        .await
        .unwrap();
    let records = repo.records().collect::<Result<Vec<_>, _>>().unwrap();
    let expected = realpds_json("expected.json");
    let count: u64 = expected["byRepo"][did]["collections"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(records.len() as u64, count);
    pds.stop().await;
}

#[tokio::test]
async fn plc_answers_match_the_reference_directory() {
    let docs = realpds_json("did-docs.json");
    let mut state = PlcState::default();
    for (did, answer) in docs.as_object().unwrap() {
        if answer["status"] == 200 {
            state.documents.insert(did.clone(), answer["body"].clone());
        }
    }
    let plc = MockPlc::start(state, MockOptions::default()).await.unwrap();
    let http = http();
    for (did, answer) in docs.as_object().unwrap() {
        let url = format!("{}{did}", plc.url());
        let response = http.get(url).send().await.unwrap();
        assert_eq!(
            response.status().as_u16() as u64,
            answer["status"].as_u64().unwrap()
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, answer["body"], "{did}");
    }
    plc.stop().await;
}

/// A relay whose firehose holds the recorded frames.
async fn fixture_relay() -> (MockRelay, Vec<Vec<u8>>) {
    let relay = MockRelay::start(RelayState::default(), MockOptions::default())
        .await
        .unwrap();
    let frames = realpds_frames("firehose.frames");
    for frame in &frames {
        let seq = Frame::decode(frame).unwrap().seq().unwrap();
        relay.events().append(seq, frame.clone()).unwrap();
    }
    (relay, frames)
}

#[tokio::test]
async fn firehose_replays_the_recorded_frames_byte_for_byte() {
    let (relay, frames) = fixture_relay().await;
    assert_eq!(frames.len(), 1130);
    let url = relay
        .server()
        .ws_url()
        .join("/xrpc/com.atproto.sync.subscribeRepos?cursor=0")
        .unwrap();
    let mut ws = connect(url.as_str()).await;
    let mut previous = 0;
    for expected in &frames {
        let got = next_binary(&mut ws).await;
        assert_eq!(got.as_ref(), expected.as_slice());
        let seq = Frame::decode(&got).unwrap().seq().unwrap();
        assert!(seq > previous);
        previous = seq;
    }
    relay.stop().await;
}

#[tokio::test]
async fn future_cursor_gets_the_reference_error_frame_and_close() {
    let (relay, _) = fixture_relay().await;
    let expected_frame = realpds_frames("firehose-futurecursor.frames").remove(0);
    let expected_close = realpds_json("firehose-futurecursor.close.json");
    let cursor = relay.events().head_seq() + 1000;
    let url = relay
        .server()
        .ws_url()
        .join(&format!(
            "/xrpc/com.atproto.sync.subscribeRepos?cursor={cursor}"
        ))
        .unwrap();
    let mut ws = connect(url.as_str()).await;
    let frame = next_binary(&mut ws).await;
    assert_eq!(frame.as_ref(), expected_frame.as_slice());
    assert!(matches!(Frame::decode(&frame).unwrap(), Frame::Error(e) if e.error == "FutureCursor"));
    match next_message(&mut ws).await {
        Some(Ok(Message::Close(Some(close)))) => {
            assert_eq!(
                u16::from(close.code) as u64,
                expected_close["code"].as_u64().unwrap()
            );
            assert_eq!(
                close.reason.as_str(),
                expected_close["reason"].as_str().unwrap()
            );
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    relay.stop().await;
}
