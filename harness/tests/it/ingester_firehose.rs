//! The firehose ingester against a relay that misbehaves: connections dropped at several frames,
//! a stalled connection, `FutureCursor`, `OutdatedCursor`, `ConsumerTooSlow`, an undecodable
//! frame, and a stream at its high-water mark. In every case each event reaches `firehose_live`
//! (repeated only as a whole replay of its seq), and the cursor covers exactly what was written.

use std::sync::Arc;
use std::time::Duration;

use crate::support::ingester::{
    Act, DEADLINE, Running, ScriptedServer, assert_lossless, conn, expected_entries, get_i64,
    live_options, real_frames, redis, repos_feed, stream_entries, wait_for_value,
};
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher};
use harness::mock::{MockOptions, MockRelay, RelayState};
use harness::services::{RedisOptions, TestRedis, wait_until};
use ingester::live::skipped_key;
use redis::AsyncCommands;
use streams::ServiceHost;
use streams::names::{FIELD_EVENT, FIREHOSE_LIVE, cursor_key};

const SUBSCRIBE: &str = "com.atproto.sync.subscribeRepos";

async fn relay_with_real_frames(faults: Faults) -> (MockRelay, Vec<(i64, Vec<u8>)>) {
    let options = MockOptions {
        faults,
        ..MockOptions::default()
    };
    let relay = MockRelay::start(RelayState::default(), options)
        .await
        .expect("relay");
    let frames = real_frames();
    for (seq, bytes) in &frames {
        relay.events().append(*seq, bytes.clone()).expect("append");
    }
    (relay, frames)
}

fn cursor_key_of(host: &str) -> String {
    cursor_key(FIREHOSE_LIVE, &ServiceHost::parse(host).expect("host"))
}

#[tokio::test]
async fn connections_dropped_at_several_frames_lose_nothing() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let drop_at = [0u64, 1, 137, 700];
    let mut plan = FaultPlan::none();
    for frame in drop_at {
        let when = Matcher {
            endpoint: Some(SUBSCRIBE.into()),
            frame: Some(frame),
            ..Matcher::default()
        };
        plan = plan.with(FaultRule::first(1, when, Fault::DropStream));
    }
    let faults = Faults::new(plan).expect("plan");
    let (relay, frames) = relay_with_real_frames(faults.clone()).await;
    let host = relay.url().to_string();
    let key = cursor_key_of(&host);
    // Replay everything the relay holds.
    let _: () = c.set(&key, 0).await.unwrap();
    let running = Running::start(repos_feed(), &host, live_options(), &client).await;

    let last = frames.last().unwrap().0;
    wait_for_value(&c, &key, &last.to_string()).await;
    running.assert_running();
    for rule in 0..drop_at.len() {
        assert_eq!(faults.fired_count(rule), 1, "drop rule {rule} never fired");
    }
    let actual = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&actual, &expected_entries(&frames));
    running.stop().await;
    assert_eq!(get_i64(&mut c, &key).await, Some(last));
}

#[tokio::test]
async fn a_stalled_connection_is_reopened_from_the_cursor() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let when = Matcher {
        endpoint: Some(SUBSCRIBE.into()),
        frame: Some(300),
        ..Matcher::default()
    };
    // Longer than any test: only a reconnect gets the rest of the events through.
    let faults = Faults::new(FaultPlan::none().with(FaultRule::first(
        1,
        when,
        Fault::Stall { ms: 600_000 },
    )))
    .expect("plan");
    let (relay, frames) = relay_with_real_frames(faults.clone()).await;
    let host = relay.url().to_string();
    let key = cursor_key_of(&host);
    let _: () = c.set(&key, 0).await.unwrap();
    let mut options = live_options();
    options.stall_timeout = Duration::from_millis(500);
    let running = Running::start(repos_feed(), &host, options, &client).await;

    wait_for_value(&c, &key, &frames.last().unwrap().0.to_string()).await;
    assert_eq!(faults.fired_count(0), 1);
    let actual = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&actual, &expected_entries(&frames));
    running.stop().await;
}

#[tokio::test]
async fn future_cursor_restarts_live() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let frames = real_frames();
    let live: Vec<(i64, Vec<u8>)> = frames[1000..].to_vec();
    let live_bytes: Vec<Vec<u8>> = live.iter().map(|(_, b)| b.clone()).collect();
    let server = ScriptedServer::start(Arc::new(move |_, cursor| match cursor {
        Some(_) => vec![Act::Error("FutureCursor")],
        None => vec![Act::Frames(live_bytes.clone())],
    }))
    .await;
    let key = cursor_key_of(&server.host());
    let _: () = c.set(&key, 999_999_999).await.unwrap();
    let running = Running::start(repos_feed(), &server.host(), live_options(), &client).await;

    wait_for_value(&c, &key, &live.last().unwrap().0.to_string()).await;
    assert_eq!(server.cursors(), vec![Some(999_999_999), None]);
    let actual = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&actual, &expected_entries(&live));
    running.stop().await;
}

#[tokio::test]
async fn outdated_cursor_is_only_a_warning() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let frames = real_frames();
    let served: Vec<(i64, Vec<u8>)> = frames[500..].to_vec();
    let bytes: Vec<Vec<u8>> = served.iter().map(|(_, b)| b.clone()).collect();
    let server = ScriptedServer::start(Arc::new(move |_, _| {
        vec![Act::Info("OutdatedCursor"), Act::Frames(bytes.clone())]
    }))
    .await;
    let key = cursor_key_of(&server.host());
    let _: () = c.set(&key, 3).await.unwrap();
    let running = Running::start(repos_feed(), &server.host(), live_options(), &client).await;

    wait_for_value(&c, &key, &served.last().unwrap().0.to_string()).await;
    assert_eq!(
        server.cursors(),
        vec![Some(3)],
        "reading went on on the same connection"
    );
    let actual = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&actual, &expected_entries(&served));
    running.stop().await;
}

#[tokio::test]
async fn consumer_too_slow_reconnects_from_the_last_seq_read() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let frames = real_frames();
    let split = 300;
    let cut_seq = frames[split - 1].0;
    let all: Vec<Vec<u8>> = frames.iter().map(|(_, b)| b.clone()).collect();
    let server = ScriptedServer::start(Arc::new(move |index, _| {
        if index == 0 {
            vec![
                Act::Frames(all[..split].to_vec()),
                Act::Error("ConsumerTooSlow"),
            ]
        } else {
            vec![Act::Frames(all[split..].to_vec())]
        }
    }))
    .await;
    let key = cursor_key_of(&server.host());
    let _: () = c.set(&key, 0).await.unwrap();
    let running = Running::start(repos_feed(), &server.host(), live_options(), &client).await;

    wait_for_value(&c, &key, &frames.last().unwrap().0.to_string()).await;
    assert_eq!(server.cursors(), vec![Some(0), Some(cut_seq)]);
    let actual = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&actual, &expected_entries(&frames));
    let expected_count: usize = expected_entries(&frames).values().map(Vec::len).sum();
    assert_eq!(actual.len(), expected_count, "nothing was read twice");
    running.stop().await;
}

#[tokio::test]
async fn an_undecodable_frame_is_recorded_and_stepped_past() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let frames = real_frames();
    let (before, after) = frames.split_at(50);
    let before_bytes: Vec<Vec<u8>> = before.iter().map(|(_, b)| b.clone()).collect();
    let after_bytes: Vec<Vec<u8>> = after.iter().map(|(_, b)| b.clone()).collect();
    let server = ScriptedServer::start(Arc::new(move |_, _| {
        vec![
            Act::Frames(before_bytes.clone()),
            Act::Raw(vec![0xff, 0x00, 0x13, 0x37]),
            Act::Frames(after_bytes.clone()),
        ]
    }))
    .await;
    let host = ServiceHost::parse(&server.host()).unwrap();
    let key = cursor_key_of(&server.host());
    let _: () = c.set(&key, 0).await.unwrap();
    let running = Running::start(repos_feed(), &server.host(), live_options(), &client).await;

    wait_for_value(&c, &key, &frames.last().unwrap().0.to_string()).await;
    let actual = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&actual, &expected_entries(&frames));
    let skipped = stream_entries(&mut c, &skipped_key(FIREHOSE_LIVE, &host), "skipped").await;
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let record: serde_json::Value = serde_json::from_str(&skipped[0]).unwrap();
    assert_eq!(record["after_seq"], before.last().unwrap().0);
    assert!(record["seq"].is_null());
    assert_eq!(record["frame"]["$bytes"], "/wATNw");
    assert!(!record["error"].as_str().unwrap().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn at_the_high_water_mark_the_writer_waits_and_drops_nothing() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let (relay, frames) = relay_with_real_frames(Faults::none()).await;
    let host = relay.url().to_string();
    let key = cursor_key_of(&host);
    let _: () = c.set(&key, 0).await.unwrap();
    let mark = 100u64;
    let mut options = live_options();
    options.batch_size = 20;
    options.producer.high_water_mark = mark;
    let running = Running::start(repos_feed(), &host, options, &client).await;

    // Nobody consumes: the stream fills to the mark and stays there.
    let probe = c.clone();
    wait_until("the stream to reach the high-water mark", DEADLINE, || {
        let mut probe = probe.clone();
        async move {
            let len: u64 = probe.xlen(FIREHOSE_LIVE).await?;
            Ok((len >= mark).then_some(()))
        }
    })
    .await
    .unwrap();
    running.assert_running();

    // Consume like an indexer would: read, then delete what was read, until everything arrived.
    let expected = expected_entries(&frames);
    let total: usize = expected.values().map(Vec::len).sum();
    let last = frames.last().unwrap().0;
    let mut consumed: Vec<String> = Vec::new();
    let mut max_len = 0u64;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let len: u64 = c.xlen(FIREHOSE_LIVE).await.unwrap();
        max_len = max_len.max(len);
        // The cursor never covers entries that are not in Redis (or already consumed).
        let cursor = get_i64(&mut c, &key).await.unwrap();
        let reply: redis::streams::StreamRangeReply =
            c.xrange_count(FIREHOSE_LIVE, "-", "+", 30).await.unwrap();
        let mut seen_max_seq = consumed
            .last()
            .map(|e| {
                serde_json::from_str::<serde_json::Value>(e).unwrap()["seq"]
                    .as_i64()
                    .unwrap()
            })
            .unwrap_or(0);
        for id in &reply.ids {
            let entry: String = id.get(FIELD_EVENT).unwrap();
            let _: u64 = c.xdel(FIREHOSE_LIVE, &[&id.id]).await.unwrap();
            consumed.push(entry);
        }
        let in_stream: redis::streams::StreamRangeReply =
            c.xrange_all(FIREHOSE_LIVE).await.unwrap();
        for id in in_stream.ids.iter().chain(reply.ids.iter()) {
            let entry: String = id.get(FIELD_EVENT).unwrap();
            let seq = serde_json::from_str::<serde_json::Value>(&entry).unwrap()["seq"]
                .as_i64()
                .unwrap();
            seen_max_seq = seen_max_seq.max(seq);
        }
        assert!(
            cursor <= seen_max_seq.max(0),
            "cursor {cursor} ahead of data ({seen_max_seq})"
        );
        if consumed.len() >= total && get_i64(&mut c, &key).await == Some(last) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "consumed {} of {total}",
            consumed.len()
        );
        if reply.ids.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // One batch (and one frame's ops) at most beyond the mark.
    assert!(max_len < mark + 20 + 200, "the stream grew to {max_len}");
    assert_lossless(&consumed, &expected);
    assert_eq!(consumed.len(), total);
    running.stop().await;
}

#[tokio::test]
async fn a_redis_restart_mid_stream_loses_nothing() {
    if !TestRedis::is_private() {
        return; // a shared server cannot be restarted
    }
    let mut server = TestRedis::start_with(RedisOptions {
        appendonly: true,
        ..RedisOptions::default()
    })
    .await
    .unwrap();
    let client = redis::Client::open(server.url().as_str()).unwrap();
    // Slow the relay down (a pause every 25 frames) so that the restart lands mid-stream.
    let mut plan = FaultPlan::none();
    for frame in (25..1200).step_by(25) {
        let when = Matcher {
            endpoint: Some(SUBSCRIBE.into()),
            frame: Some(frame),
            ..Matcher::default()
        };
        plan = plan.with(FaultRule::always(when, Fault::Stall { ms: 30 }));
    }
    let (relay, frames) = relay_with_real_frames(Faults::new(plan).unwrap()).await;
    let host = relay.url().to_string();
    let key = cursor_key_of(&host);
    {
        let mut c = conn(&client).await;
        let _: () = c.set(&key, 0).await.unwrap();
    }
    let mut options = live_options();
    options.reconnect_max = Duration::from_secs(1);
    let running = Running::start(repos_feed(), &host, options, &client).await;
    let probe = conn(&client).await;
    wait_until("events to flow", DEADLINE, || {
        let mut probe = probe.clone();
        async move {
            let len: u64 = probe.xlen(FIREHOSE_LIVE).await?;
            Ok((len >= 200).then_some(()))
        }
    })
    .await
    .unwrap();
    server.restart().await.unwrap();

    let mut c = conn(&client).await;
    wait_for_value(&c, &key, &frames.last().unwrap().0.to_string()).await;
    running.assert_running();
    let actual = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&actual, &expected_entries(&frames));
    running.stop().await;
}
