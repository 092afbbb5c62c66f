//! The identity mocks (did:web documents and handles chosen by `Host`) and the labeler stream.

use crate::support::mock::*;
use harness::mock::{MockLabeler, MockOptions, MockWeb, WebState};
use protocol::frames::{Frame, Label, LabelsFrame};
use serde_json::{Value, json};

fn web_state() -> WebState {
    let mut state = WebState::default();
    for host in ["alice.test", "bob.test"] {
        state.did_documents.insert(
            host.into(),
            json!({"id": format!("did:web:{host}"), "alsoKnownAs": [format!("at://{host}")]}),
        );
        state.handles.insert(host.into(), format!("did:web:{host}"));
    }
    state
}

/// A client that reaches every test host name at the mock's address.
fn client_for(hosts: &[&str], addr: std::net::SocketAddr) -> reqwest::Client {
    let mut builder = reqwest::Client::builder();
    for host in hosts {
        builder = builder.resolve(host, addr);
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn one_server_answers_for_many_hosts_by_host_header() {
    let web = MockWeb::start(web_state(), MockOptions::default())
        .await
        .unwrap();
    let addr = web.server().addr();
    let port = addr.port();
    let http = client_for(&["alice.test", "bob.test", "carol.test"], addr);
    for host in ["alice.test", "bob.test"] {
        let doc: Value = http
            .get(format!("http://{host}:{port}/.well-known/did.json"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["id"], format!("did:web:{host}"));
        let did = http
            .get(format!("http://{host}:{port}/.well-known/atproto-did"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(did, format!("did:web:{host}"));
    }
    let missing = http
        .get(format!("http://carol.test:{port}/.well-known/did.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let missing = http
        .get(format!("http://carol.test:{port}/.well-known/atproto-did"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Changes are served at once.
    web.state().write(|s| {
        s.handles
            .insert("carol.test".into(), "did:plc:carol".into())
    });
    let did = client()
        .resolve_handle(&web.url(), "carol.test")
        .await
        .unwrap();
    assert_eq!(did, "did:plc:carol");
    web.stop().await;
}

fn labels_frame(seq: i64) -> Frame {
    Frame::Labels(LabelsFrame {
        seq,
        labels: vec![Label {
            ver: Some(1),
            src: "did:plc:labeler0000000000000000".parse().unwrap(),
            uri: "did:plc:subject000000000000000".into(),
            cid: None,
            val: format!("label-{seq}"),
            neg: None,
            cts: "2026-11-27T12:34:56.789Z".into(),
            exp: None,
            sig: Some(vec![1, 2, 3]),
        }],
    })
}

#[tokio::test]
async fn labeler_replays_labels_then_streams_live() {
    let labeler = MockLabeler::start(MockOptions::default()).await.unwrap();
    for seq in [1, 2, 3] {
        labeler.events().append_frame(&labels_frame(seq)).unwrap();
    }
    let url = labeler
        .server()
        .ws_url()
        .join("/xrpc/com.atproto.label.subscribeLabels?cursor=1")
        .unwrap();
    let mut ws = connect(url.as_str()).await;
    for expected in [2, 3] {
        let frame = Frame::decode(&next_binary(&mut ws).await).unwrap();
        assert_eq!(frame, labels_frame(expected));
    }
    labeler.events().append_frame(&labels_frame(4)).unwrap();
    let frame = Frame::decode(&next_binary(&mut ws).await).unwrap();
    assert_eq!(frame, labels_frame(4));

    let bad_url = labeler
        .server()
        .ws_url()
        .join("/xrpc/com.atproto.label.subscribeLabels?cursor=x")
        .unwrap();
    match tokio_tungstenite::connect_async(bad_url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 400);
            let body: Value = serde_json::from_slice(response.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["error"], "InvalidRequest");
        }
        other => panic!("expected a 400 for a bad cursor, got {other:?}"),
    }
    labeler.stop().await;
}
