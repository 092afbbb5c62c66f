//! Every HTTP fault kind, observed by a client as specified: statuses, 429s, named errors,
//! delays, trickled and truncated bodies, resets, HTML pages; and how rules are aimed and
//! limited.

use std::time::Duration;

use crate::support::mock::*;
use futures::StreamExt;
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher};
use harness::mock::{MockOptions, MockPds, PdsAccount, PdsOptions, PdsState};
use protocol::car::CarError;
use protocol::crypto::Keypair;
use protocol::repo::{LoadOptions, RepoError, load_repo};
use xrpc::{ClientConfig, XrpcClient, XrpcError};

const DID: &str = "did:plc:faulty00000000000000000";
const OTHER: &str = "did:plc:healthy0000000000000000";

struct Net {
    pds: MockPds,
    faults: Faults,
    car: bytes::Bytes,
    key: Keypair,
}

async fn net() -> Net {
    let (car, key) = test_repo(DID, 40, 7);
    let (other_car, _) = test_repo(OTHER, 2, 8);
    let mut account = PdsAccount::from_car(DID, 1, car.clone()).unwrap();
    account.signing_key = Some(key.clone());
    let other = PdsAccount::from_car(OTHER, 2, other_car).unwrap();
    let faults = Faults::none();
    let options = MockOptions {
        faults: faults.clone(),
        ..MockOptions::default()
    };
    let pds = MockPds::start(
        PdsState {
            accounts: vec![account, other],
        },
        options,
        PdsOptions::default(),
    )
    .await
    .unwrap();
    Net {
        pds,
        faults,
        car,
        key,
    }
}

fn on(endpoint: &str) -> Matcher {
    Matcher {
        endpoint: Some(endpoint.into()),
        ..Matcher::default()
    }
}

const LIST: &str = "com.atproto.sync.listRepos";
const GET_REPO: &str = "com.atproto.sync.getRepo";

#[tokio::test]
async fn server_errors_are_answered_with_their_status() {
    let net = net().await;
    let client = client();
    for status in [500u16, 502, 503] {
        net.faults
            .set_plan(FaultPlan::none().with(FaultRule::always(on(LIST), Fault::Status { status })))
            .unwrap();
        let error = client
            .list_repos(&net.pds.url(), None, 10)
            .await
            .unwrap_err();
        assert_eq!(error.status(), Some(status), "{error}");
        assert!(!error.is_permanent());
    }
    let error = client
        .list_repos(&net.pds.url(), None, 10)
        .await
        .unwrap_err();
    assert_eq!(error.error_name(), Some("ServiceUnavailable"));
    // Other endpoints are untouched.
    assert!(
        client
            .get_repo(&net.pds.url(), DID, None, u64::MAX)
            .await
            .is_ok()
    );
    net.pds.stop().await;
}

#[tokio::test]
async fn rate_limit_faults_send_retry_after_for_the_first_n_requests() {
    let net = net().await;
    let rule = FaultRule::first(
        2,
        on(GET_REPO),
        Fault::RateLimited {
            retry_after_secs: 7,
        },
    );
    net.faults.set_plan(FaultPlan::none().with(rule)).unwrap();
    let client = client();
    for _ in 0..2 {
        match client.get_repo(&net.pds.url(), DID, None, u64::MAX).await {
            Err(XrpcError::RateLimited { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("expected a 429, got {other:?}"),
        }
    }
    assert!(
        client
            .get_repo(&net.pds.url(), DID, None, u64::MAX)
            .await
            .is_ok()
    );
    assert_eq!(net.faults.fired_count(0), 2);
    net.pds.stop().await;
}

#[tokio::test]
async fn named_errors_are_aimed_by_did() {
    let net = net().await;
    let when = Matcher {
        did: Some(DID.into()),
        ..on(GET_REPO)
    };
    let fault = Fault::XrpcError {
        status: 400,
        error: "RepoTakendown".into(),
        message: Some(format!("Repo has been takendown: {DID}")),
    };
    net.faults
        .set_plan(FaultPlan::none().with(FaultRule::always(when, fault)))
        .unwrap();
    let client = client();
    let error = client
        .get_repo(&net.pds.url(), DID, None, u64::MAX)
        .await
        .unwrap_err();
    assert!(error.is_taken_down() && error.is_permanent(), "{error}");
    assert!(
        client
            .get_repo(&net.pds.url(), OTHER, None, u64::MAX)
            .await
            .is_ok()
    );
    net.pds.stop().await;
}

#[tokio::test]
async fn a_delay_holds_the_answer_back() {
    let net = net().await;
    let when = Matcher {
        cursor: Some("slow".into()),
        ..on(LIST)
    };
    net.faults
        .set_plan(FaultPlan::none().with(FaultRule::always(when, Fault::Delay { ms: 3_000 })))
        .unwrap();
    let impatient = XrpcClient::new(ClientConfig {
        allow_private_hosts: true,
        read_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_millis(300),
        ..ClientConfig::default()
    })
    .unwrap();
    let error = impatient
        .list_repos(&net.pds.url(), Some("slow"), 10)
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    // The same call with another cursor is not delayed (and gets the cursor's own 400).
    let error = impatient
        .list_repos(&net.pds.url(), Some("fast"), 10)
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(400));
    drop(net);
}

#[tokio::test]
async fn a_trickled_body_arrives_in_small_pieces_and_intact() {
    let net = net().await;
    let fault = Fault::Trickle {
        chunk_bytes: 100,
        interval_ms: 1,
    };
    net.faults
        .set_plan(FaultPlan::none().with(FaultRule::always(on(GET_REPO), fault)))
        .unwrap();
    let response = http()
        .get(
            net.pds
                .url()
                .join("/xrpc/com.atproto.sync.getRepo")
                .unwrap(),
        )
        .query(&[("did", DID)])
        .send()
        .await
        .unwrap();
    let mut pieces = 0;
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(piece) = stream.next().await {
        let piece = piece.unwrap();
        assert!(piece.len() <= 100, "piece of {} bytes", piece.len());
        pieces += 1;
        body.extend_from_slice(&piece);
    }
    assert_eq!(body, net.car.as_ref());
    assert!(pieces >= net.car.len() / 100, "{pieces} pieces");
    // The pipeline's loader reads it fine.
    let repo_body = client()
        .get_repo(&net.pds.url(), DID, None, u64::MAX)
        .await
        .unwrap();
    load_repo(
        repo_body,
        DID,
        Some(&net.key.public_key()),
        &LoadOptions::default(),
    )
    .await
    .unwrap();
    net.pds.stop().await;
}

#[tokio::test]
async fn a_truncated_body_ends_cleanly_at_byte_k() {
    let net = net().await;
    net.faults
        .set_plan(FaultPlan::none().with(FaultRule::always(
            on(GET_REPO),
            Fault::Truncate { at_byte: 500 },
        )))
        .unwrap();
    let response = http()
        .get(
            net.pds
                .url()
                .join("/xrpc/com.atproto.sync.getRepo")
                .unwrap(),
        )
        .query(&[("did", DID)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("content-length").is_none());
    let body = response.bytes().await.unwrap();
    assert_eq!(body.as_ref(), &net.car[..500]);
    let repo_body = client()
        .get_repo(&net.pds.url(), DID, None, u64::MAX)
        .await
        .unwrap();
    let error = load_repo(repo_body, DID, None, &LoadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(error, RepoError::Car(CarError::Truncated { .. })),
        "{error:?}"
    );
    net.pds.stop().await;
}

/// True if `error` or one of its sources is an I/O error of `kind`.
fn has_io_kind(error: &(dyn std::error::Error + 'static), kind: std::io::ErrorKind) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == kind)
        {
            return true;
        }
        current = e.source();
    }
    false
}

#[tokio::test]
async fn a_reset_fault_resets_the_connection() {
    let net = net().await;
    net.faults
        .set_plan(FaultPlan::none().with(FaultRule::first(1, on(LIST), Fault::Reset)))
        .unwrap();
    let error = http()
        .get(
            net.pds
                .url()
                .join("/xrpc/com.atproto.sync.listRepos")
                .unwrap(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        has_io_kind(&error, std::io::ErrorKind::ConnectionReset),
        "{error:?}"
    );
    // Only the first request: the next one is served.
    assert!(client().list_repos(&net.pds.url(), None, 10).await.is_ok());
    let error = {
        net.faults
            .set_plan(FaultPlan::none().with(FaultRule::first(1, on(LIST), Fault::Reset)))
            .unwrap();
        client()
            .list_repos(&net.pds.url(), None, 10)
            .await
            .unwrap_err()
    };
    assert!(matches!(error, XrpcError::Transport { .. }), "{error:?}");
    net.pds.stop().await;
}

#[tokio::test]
async fn an_html_error_page_is_what_a_proxy_sends() {
    let net = net().await;
    net.faults
        .set_plan(FaultPlan::none().with(FaultRule::always(
            on(GET_REPO),
            Fault::HtmlError { status: 502 },
        )))
        .unwrap();
    let response = http()
        .get(
            net.pds
                .url()
                .join("/xrpc/com.atproto.sync.getRepo")
                .unwrap(),
        )
        .query(&[("did", DID)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("<h1>502 Bad Gateway</h1>")
    );
    match client().get_repo(&net.pds.url(), DID, None, u64::MAX).await {
        Err(XrpcError::Status {
            status, snippet, ..
        }) => {
            assert_eq!(status, 502);
            assert!(snippet.contains("nginx"), "{snippet}");
        }
        other => panic!("expected a non-XRPC error, got {other:?}"),
    }
    net.pds.stop().await;
}

#[tokio::test]
async fn rules_are_aimed_by_host_and_compose() {
    let net = net().await;
    let plan: FaultPlan = serde_json::from_str(
        r#"{"rules": [
            {"when": {"host": "elsewhere.test"}, "fault": {"kind": "status", "status": 500}},
            {"when": {"host": "127.0.0.1", "endpoint": "com.atproto.sync.getRepo"},
             "fault": {"kind": "delay", "ms": 1}},
            {"when": {"endpoint": "com.atproto.sync.getRepo"}, "times": 1,
             "fault": {"kind": "truncate", "at_byte": 100}},
            {"when": {"endpoint": "com.atproto.sync.getRepo"}, "times": 1,
             "fault": {"kind": "trickle", "chunk_bytes": 30, "interval_ms": 1}}
        ]}"#,
    )
    .unwrap();
    net.faults.set_plan(plan).unwrap();
    let response = http()
        .get(
            net.pds
                .url()
                .join("/xrpc/com.atproto.sync.getRepo")
                .unwrap(),
        )
        .query(&[("did", DID)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut stream = response.bytes_stream();
    let mut body = Vec::new();
    while let Some(piece) = stream.next().await {
        let piece = piece.unwrap();
        assert!(piece.len() <= 30);
        body.extend_from_slice(&piece);
    }
    // Delayed, trickled and truncated at once; the rule for another host never fired.
    assert_eq!(body.as_slice(), &net.car[..100]);
    let fired: Vec<usize> = net.faults.fired().iter().map(|f| f.rule).collect();
    assert_eq!(fired, [1, 2, 3]);
    // The limited rules are used up; the next fetch is whole.
    let body = http()
        .get(
            net.pds
                .url()
                .join("/xrpc/com.atproto.sync.getRepo")
                .unwrap(),
        )
        .query(&[("did", DID)])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(body, net.car);
    net.pds.stop().await;
}
