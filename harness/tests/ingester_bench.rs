//! Throughput of the firehose path: 67,800 frames (the real capture renumbered 60 times) served at
//! full speed by a local WebSocket server, into `firehose_live` through a real Redis. Prints events
//! per second and per CPU-second (decode, hash check, CBOR→JSON, batched MULTI/EXEC), for the real
//! binary and for the subscription run in-process, plus the frame server and Redis alone.
//!
//! Ignored by default. Optimise our crates (the dev profile leaves workspace members at
//! opt-level 0), then run:
//!
//! ```text
//! O='--config profile.dev.package.ingester.opt-level=3 --config profile.dev.package.protocol.opt-level=3 --config profile.dev.package.streams.opt-level=3'
//! cargo build -p ingester $O
//! cargo nextest run -p harness --test ingester_bench $O --run-ignored only --no-capture
//! ```

mod ingester_support;

use std::sync::Arc;
use std::time::Instant;

use ingester_support::{
    Act, Running, ScriptedServer, conn, live_options, real_frames, redis, repos_feed,
    wait_for_value,
};
use protocol::frames::Frame;
use redis::AsyncCommands;
use streams::ServiceHost;
use streams::names::{FIREHOSE_LIVE, cursor_key};

/// Copies of the real capture, renumbered into one long stream.
const COPIES: i64 = 60;

fn renumber(frame: &mut Frame, seq: i64) {
    match frame {
        Frame::Commit(f) => f.seq = seq,
        Frame::Sync(f) => f.seq = seq,
        Frame::Identity(f) => f.seq = seq,
        Frame::Account(f) => f.seq = seq,
        Frame::Labels(f) => f.seq = seq,
        Frame::Info(_) | Frame::Error(_) | Frame::Unknown { .. } => {}
    }
}

/// User and system CPU time of this process so far, in seconds (Linux `/proc/self/stat`).
fn cpu_seconds() -> f64 {
    cpu_seconds_of("self")
}

/// User and system CPU time of process `pid` (or `self`) so far, in seconds.
fn cpu_seconds_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

/// The capture renumbered `COPIES` times: the frames' bytes, the events they make, the last seq.
fn long_stream() -> (Vec<Vec<u8>>, usize, i64) {
    let base = real_frames();
    let feed = repos_feed();
    let (mut frames, mut events, mut seq) = (Vec::new(), 0usize, 0i64);
    for _ in 0..COPIES {
        for (_, bytes) in &base {
            let mut frame = Frame::decode(bytes).unwrap();
            seq += 1;
            renumber(&mut frame, seq);
            events += feed.entries(&frame).unwrap().len();
            frames.push(frame.encode().unwrap());
        }
    }
    (frames, events, seq)
}

/// The real binary (build it optimised first for meaningful numbers:
/// `cargo build -p ingester --config 'profile.dev.package.ingester.opt-level=3' …`).
#[tokio::test]
#[ignore = "benchmark"]
async fn binary_firehose_events_per_second() {
    let (redis_server, client) = redis().await;
    let mut c = conn(&client).await;
    let (frames, events, seq) = long_stream();
    let server =
        ScriptedServer::start(Arc::new(move |_, _| vec![Act::Frames(frames.clone())])).await;
    let key = cursor_key(FIREHOSE_LIVE, &ServiceHost::parse(&server.host()).unwrap());
    let _: () = c.set(&key, 0).await.unwrap();
    // The frame server alone, read by a client that does nothing with the frames.
    let read_started = Instant::now();
    let url = format!(
        "ws://127.0.0.1:{}/xrpc/com.atproto.sync.subscribeRepos",
        server.port
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let mut read = 0i64;
    while read < seq {
        match futures::StreamExt::next(&mut ws).await {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Binary(_))) => read += 1,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    drop(ws);
    println!(
        "frame server alone: {:.0} frames/s",
        read as f64 / read_started.elapsed().as_secs_f64()
    );
    let spec = harness::services::ChildSpec::binary("ingester")
        .unwrap()
        .env("REDIS_URL", redis_server.url())
        .env("INGESTER_MODE", "firehose")
        .env("INGESTER_RELAY_HOSTS", server.host());
    let started = Instant::now();
    let mut child = spec.spawn().unwrap();
    let pid = child.pid().to_string();
    wait_for_value(&c, &key, &seq.to_string()).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds_of(&pid);
    let len: usize = c.xlen(FIREHOSE_LIVE).await.unwrap();
    assert_eq!(len, events);
    println!(
        "binary: {events} events in {elapsed:?}: {:.0} events/s; its CPU {cpu:.2} s, {:.0} events per CPU-second",
        events as f64 / elapsed.as_secs_f64(),
        events as f64 / cpu
    );
    child.stop(ingester_support::DEADLINE).await.unwrap();
}

#[tokio::test]
#[ignore = "benchmark"]
async fn firehose_events_per_second() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let base = real_frames();
    let mut frames = Vec::new();
    let mut events = 0usize;
    let feed = repos_feed();
    let mut seq = 0i64;
    for _ in 0..COPIES {
        for (_, bytes) in &base {
            let mut frame = Frame::decode(bytes).unwrap();
            seq += 1;
            renumber(&mut frame, seq);
            events += feed.entries(&frame).unwrap().len();
            frames.push(frame.encode().unwrap());
        }
    }
    let bytes: usize = frames.iter().map(Vec::len).sum();
    // The conversion alone, on one core, for comparison.
    let convert_started = Instant::now();
    let converted: usize = frames
        .iter()
        .map(|b| feed.entries(&Frame::decode(b).unwrap()).unwrap().len())
        .sum();
    let convert_secs = convert_started.elapsed().as_secs_f64();
    println!(
        "conversion alone: {:.0} events/s on one core",
        converted as f64 / convert_secs
    );
    let server =
        ScriptedServer::start(Arc::new(move |_, _| vec![Act::Frames(frames.clone())])).await;
    let key = cursor_key(FIREHOSE_LIVE, &ServiceHost::parse(&server.host()).unwrap());
    let _: () = c.set(&key, 0).await.unwrap();
    let mut options = live_options();
    options.batch_size = 500;
    let started = Instant::now();
    let cpu_before = cpu_seconds();
    let running = Running::start(repos_feed(), &server.host(), options, &client).await;
    wait_for_value(&c, &key, &seq.to_string()).await;
    let elapsed = started.elapsed();
    let cpu = cpu_seconds() - cpu_before;
    let len: usize = c.xlen(FIREHOSE_LIVE).await.unwrap();
    assert_eq!(len, events);
    println!(
        "{events} events from {seq} frames ({:.1} MB) in {elapsed:?}: {:.0} events/s, {:.0} frames/s",
        bytes as f64 / 1e6,
        events as f64 / elapsed.as_secs_f64(),
        seq as f64 / elapsed.as_secs_f64()
    );
    println!(
        "CPU of this process (ingester and the frame server): {cpu:.2} s, {:.0} events per CPU-second",
        events as f64 / cpu
    );
    running.stop().await;

    // Redis alone, for comparison: the same entries in MULTI/EXEC batches of 500.
    let reply: redis::streams::StreamRangeReply = c.xrange_all(FIREHOSE_LIVE).await.unwrap();
    let payloads: Vec<String> = reply
        .ids
        .iter()
        .map(|id| id.get::<String>("event").unwrap())
        .collect();
    let redis_started = Instant::now();
    for chunk in payloads.chunks(500) {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for p in chunk {
            pipe.cmd("XADD")
                .arg("copy")
                .arg("*")
                .arg("event")
                .arg(p)
                .ignore();
        }
        pipe.cmd("SET").arg("copy:cursor").arg(1).ignore();
        let () = pipe.query_async(&mut c).await.unwrap();
    }
    println!(
        "redis alone: {:.0} entries/s",
        payloads.len() as f64 / redis_started.elapsed().as_secs_f64()
    );
}
