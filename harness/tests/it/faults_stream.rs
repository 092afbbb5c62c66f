//! Stream faults: a WebSocket dropped at frame K, a silent stall, and request faults on the
//! upgrade itself.

use std::time::Duration;

use crate::support::mock::*;
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher};
use harness::mock::{MockOptions, MockRelay, RelayState};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

const SUBSCRIBE: &str = "com.atproto.sync.subscribeRepos";

async fn relay_with(plan: FaultPlan, events: i64) -> (MockRelay, Faults) {
    let faults = Faults::new(plan).unwrap();
    let relay = MockRelay::start(
        RelayState::default(),
        MockOptions {
            faults: faults.clone(),
            ..MockOptions::default()
        },
    )
    .await
    .unwrap();
    for seq in 1..=events {
        relay.events().append_frame(&identity_frame(seq)).unwrap();
    }
    (relay, faults)
}

fn url(relay: &MockRelay, cursor: i64) -> String {
    relay
        .server()
        .ws_url()
        .join(&format!("/xrpc/{SUBSCRIBE}?cursor={cursor}"))
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn a_stream_dropped_at_frame_k_ends_without_a_close_frame() {
    let when = Matcher {
        endpoint: Some(SUBSCRIBE.into()),
        frame: Some(3),
        ..Matcher::default()
    };
    let plan = FaultPlan::none().with(FaultRule::first(1, when, Fault::DropStream));
    let (relay, faults) = relay_with(plan, 10).await;
    let mut ws = connect(&url(&relay, 0)).await;
    for expected in 1..=3 {
        assert_eq!(seq_of(&next_binary(&mut ws).await), expected);
    }
    match next_message(&mut ws).await {
        None
        | Some(Err(WsError::Protocol(_)))
        | Some(Err(WsError::ConnectionClosed))
        | Some(Err(WsError::Io(_))) => {}
        other => panic!("expected the connection to drop without a close frame, got {other:?}"),
    }
    assert_eq!(faults.fired_count(0), 1);
    // Resuming from the last seq received gets the rest (the fault was for one frame only).
    let mut ws = connect(&url(&relay, 3)).await;
    for expected in 4..=10 {
        assert_eq!(seq_of(&next_binary(&mut ws).await), expected);
    }
    relay.stop().await;
}

#[tokio::test]
async fn a_stalled_stream_goes_silent_then_resumes() {
    let when = Matcher {
        frame: Some(2),
        ..Matcher::default()
    };
    let plan = FaultPlan::none().with(FaultRule::always(when, Fault::Stall { ms: 2_000 }));
    let (relay, faults) = relay_with(plan, 4).await;
    let mut ws = connect(&url(&relay, 0)).await;
    assert_eq!(seq_of(&next_binary(&mut ws).await), 1);
    assert_eq!(seq_of(&next_binary(&mut ws).await), 2);
    // Silence: nothing arrives for a while (the connection stays open) ...
    use futures::StreamExt;
    let silent = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
    assert!(silent.is_err(), "expected silence, got {silent:?}");
    // ... then the stream carries on where it stopped.
    assert_eq!(seq_of(&next_binary(&mut ws).await), 3);
    assert_eq!(seq_of(&next_binary(&mut ws).await), 4);
    assert_eq!(faults.fired_count(0), 1);
    relay.stop().await;
}

#[tokio::test]
async fn request_faults_hit_the_upgrade() {
    let when = Matcher {
        endpoint: Some(SUBSCRIBE.into()),
        cursor: Some("0".into()),
        ..Matcher::default()
    };
    let plan = FaultPlan::none()
        .with(FaultRule::first(
            1,
            when.clone(),
            Fault::HtmlError { status: 502 },
        ))
        .with(FaultRule::first(1, when, Fault::Reset));
    let (relay, _) = relay_with(plan, 2).await;
    match tokio_tungstenite::connect_async(url(&relay, 0)).await {
        Err(WsError::Http(response)) => assert_eq!(response.status(), 502),
        other => panic!("expected a 502, got {other:?}"),
    }
    // Only one answer-replacing fault fires per request: the reset waited for the next one.
    match tokio_tungstenite::connect_async(url(&relay, 0)).await {
        Err(WsError::Io(io)) => assert_eq!(io.kind(), std::io::ErrorKind::ConnectionReset),
        other => panic!("expected a reset, got {other:?}"),
    }
    let mut ws = connect(&url(&relay, 0)).await;
    assert_eq!(seq_of(&next_binary(&mut ws).await), 1);
    assert!(matches!(
        next_message(&mut ws).await,
        Some(Ok(Message::Binary(_)))
    ));
    relay.stop().await;
}
