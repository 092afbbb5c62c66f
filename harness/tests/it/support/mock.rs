//! Helpers shared by the mock and fault tests: fixtures, small signed repositories, clients.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use protocol::crypto::Keypair;
use protocol::data_model::json_to_cbor;
use protocol::repo::{BlockOrder, RepoBuilder};
use serde_json::json;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use xrpc::{ClientConfig, XrpcClient};

pub use super::key;

/// A client-side WebSocket.
pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A JSON fixture of `fixtures/realpds/`.
pub fn realpds_json(name: &str) -> serde_json::Value {
    let path = testkit::realpds(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The frames of a `.frames` fixture (4-byte big-endian length, then the frame).
pub fn realpds_frames(name: &str) -> Vec<Vec<u8>> {
    let bytes = std::fs::read(testkit::realpds(name)).expect("frames fixture");
    let mut frames = Vec::new();
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at(4);
        let len = u32::from_be_bytes(len.try_into().unwrap()) as usize;
        let (frame, tail) = tail.split_at(len);
        frames.push(frame.to_vec());
        rest = tail;
    }
    frames
}

/// The CAR of a real repo.
pub fn realpds_car(did: &str) -> Bytes {
    let name = format!("repos/{}.car", did.replace(':', "_"));
    Bytes::from(std::fs::read(testkit::realpds(&name)).expect("car fixture"))
}

/// A signed repository of `did` with `posts` posts and a profile, and its key.
pub fn test_repo(did: &str, posts: usize, seed: u8) -> (Bytes, Keypair) {
    let key = key(u64::from(seed));
    let mut builder = RepoBuilder::new(did, "3n3bpaa76x22t");
    let profile = json!({"$type": "app.bsky.actor.profile", "displayName": "Test"});
    builder.add(
        "app.bsky.actor.profile",
        "self",
        Bytes::from(json_to_cbor(&profile).unwrap()),
    );
    for i in 0..posts {
        let post = json!({
            "$type": "app.bsky.feed.post",
            "text": format!("post number {i}"),
            "createdAt": "2026-01-01T00:00:00.000Z",
        });
        builder.add(
            "app.bsky.feed.post",
            &format!("3jzfcijpj2z{:02}", i % 100),
            Bytes::from(json_to_cbor(&post).unwrap()),
        );
    }
    let built = builder.build(&key).expect("build repo");
    let car = built.to_car(BlockOrder::ReferencePds).expect("car");
    (Bytes::from(car), key)
}

/// An XRPC client for local servers with short timeouts.
pub fn client() -> XrpcClient {
    XrpcClient::new(ClientConfig {
        allow_private_hosts: true,
        read_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(10),
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    })
    .expect("client")
}

/// A plain reqwest client that does not follow redirects.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

/// Connects a WebSocket client.
pub async fn connect(url: &str) -> Ws {
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::connect_async(url),
    )
    .await
    .expect("connect in time")
    .expect("connect");
    ws
}

/// The next message, failing the test after 10 seconds of silence.
pub async fn next_message(
    ws: &mut Ws,
) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message within 10 s")
}

/// The next binary frame; panics on anything else.
pub async fn next_binary(ws: &mut Ws) -> Bytes {
    match next_message(ws).await {
        Some(Ok(Message::Binary(bytes))) => bytes,
        other => panic!("expected a binary frame, got {other:?}"),
    }
}

/// An `#identity` frame with `seq`.
pub fn identity_frame(seq: i64) -> protocol::frames::Frame {
    protocol::frames::Frame::Identity(protocol::frames::IdentityFrame {
        seq,
        did: format!("did:plc:test{seq:020}").parse().unwrap(),
        time: "2026-11-27T12:34:56.789Z".parse().unwrap(),
        handle: None,
    })
}

/// The seq of a frame received on a stream.
pub fn seq_of(bytes: &[u8]) -> i64 {
    protocol::frames::Frame::decode(bytes)
        .expect("frame decodes")
        .seq()
        .expect("frame has a seq")
}
