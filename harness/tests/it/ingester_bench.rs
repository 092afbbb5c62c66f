//! Throughput of the firehose path: 135,600 frames (the real capture renumbered 120 times) served at
//! full speed by a local WebSocket server, into `firehose_live` through a real Redis. Prints events
//! per second and per CPU-second (decode, hash check, CBOR→JSON, batched MULTI/EXEC), for the real
//! binary and for the subscription run in-process, plus the frame server and Redis alone.
//!
//! Also the backfill mode: repos listed from a relay's `listRepos` into `repo_backfill` per
//! second. Each benchmark of the real binary ends with a `report | …` line, which
//! `ci/perf-report.sh` gathers into the README's Performance table.
//!
//! Ignored by default. Run in release mode, with the binary built the same way:
//!
//! ```text
//! cargo build --release -p ingester
//! cargo test --release -p harness --test ingester_bench -- --ignored --nocapture --test-threads 1
//! ```

use std::sync::Arc;
use std::time::Instant;

use crate::support::ingester::{
    Act, Running, ScriptedServer, conn, live_options, real_frames, redis, repos_feed,
    wait_for_value,
};
use protocol::frames::Frame;
use redis::AsyncCommands;
use streams::ServiceHost;
use streams::names::{FIREHOSE_LIVE, cursor_key};

/// Copies of the real capture, renumbered into one long stream.
const COPIES: i64 = 120;

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

/// The capture renumbered `copies` times: the frames' bytes, the events they make, the last seq.
fn long_stream(copies: i64) -> (Vec<Vec<u8>>, usize, i64) {
    let base = real_frames();
    let feed = repos_feed();
    let (mut frames, mut events, mut seq) = (Vec::new(), 0usize, 0i64);
    for _ in 0..copies {
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

/// The real binary (build it in release mode first for meaningful numbers).
#[tokio::test]
#[ignore = "benchmark"]
async fn binary_firehose_events_per_second() {
    let (redis_server, client) = redis().await;
    let mut c = conn(&client).await;
    let (frames, events, seq) = long_stream(COPIES);
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
    let cpu = harness::services::cpu_seconds(&pid);
    let rss = peak_rss_mib(&pid);
    let len: usize = c.xlen(FIREHOSE_LIVE).await.unwrap();
    assert_eq!(len, events);
    // Steady state, without the process's start: from the first entry's Redis timestamp to the
    // last one's (entry IDs are `<ms>-<n>`).
    let first: redis::streams::StreamRangeReply =
        c.xrange_count(FIREHOSE_LIVE, "-", "+", 1).await.unwrap();
    let last: redis::streams::StreamRangeReply =
        c.xrevrange_count(FIREHOSE_LIVE, "+", "-", 1).await.unwrap();
    let ms = |reply: &redis::streams::StreamRangeReply| -> f64 {
        let id = &reply.ids.first().expect("an entry").id;
        id.split('-').next().unwrap().parse().unwrap()
    };
    let steady = (events - 1) as f64 / ((ms(&last) - ms(&first)).max(1.0) / 1000.0);
    println!(
        "binary: {events} events in {elapsed:?} from its start: {:.0} events/s; first to last entry: \
         {steady:.0} events/s; its CPU {cpu:.2} s, {:.0} events per CPU-second; peak RSS {rss} MiB",
        events as f64 / elapsed.as_secs_f64(),
        events as f64 / cpu
    );
    println!(
        "report | ingester: subscribeRepos → firehose_live | {COPIES}× the real capture, served at \
         full speed | {steady:.0} events/s | | {rss} MiB"
    );
    child
        .stop(crate::support::ingester::DEADLINE)
        .await
        .unwrap();
}

/// Peak resident memory of process `pid`, in MiB.
fn peak_rss_mib(pid: &str) -> u64 {
    harness::services::peak_rss_kib(pid).unwrap_or(0) >> 10
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
    let cpu_before = harness::services::cpu_seconds("self");
    let running = Running::start(repos_feed(), &server.host(), options, &client).await;
    wait_for_value(&c, &key, &seq.to_string()).await;
    let elapsed = started.elapsed();
    let cpu = harness::services::cpu_seconds("self") - cpu_before;
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

/// Repos listed into `repo_backfill` per second by the real binary, from a relay of
/// `BENCH_LIST_REPOS` (default 200,000) accounts in its pages of 1,000 (`listRepos` maximum).
#[tokio::test]
#[ignore = "benchmark"]
async fn binary_list_repos_per_second() {
    use harness::mock::{MockOptions, MockRelay, RelayAccount, RelayState};
    use streams::names::{INGESTER_DONE, REPO_BACKFILL};
    let n: u64 = std::env::var("BENCH_LIST_REPOS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let (redis_server, client) = redis().await;
    let c = conn(&client).await;
    let state = RelayState {
        accounts: (1..=n)
            .map(|id| RelayAccount {
                id,
                did: format!("did:plc:acct{id:020}"),
                head: "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm".into(),
                rev: "3l3qo2vutsw2b".into(),
                active: true,
                status: None,
                pds: "https://pds.example.com".into(),
            })
            .collect(),
        hosts: Vec::new(),
    };
    let relay = MockRelay::start(state, MockOptions::default())
        .await
        .unwrap();
    let url = relay.url().to_string();
    let key = cursor_key(REPO_BACKFILL, &ServiceHost::parse(&url).unwrap());
    let started = Instant::now();
    let mut child = harness::services::ChildSpec::binary("ingester")
        .unwrap()
        .env("REDIS_URL", redis_server.url())
        .env("INGESTER_MODE", "backfill")
        .env("INGESTER_RELAY_HOSTS", &url)
        .env("ALLOW_PRIVATE_HOSTS", "true")
        .spawn()
        .unwrap();
    let pid = child.pid().to_string();
    wait_for_value(&c, &key, INGESTER_DONE).await;
    let elapsed = started.elapsed();
    let rss = peak_rss_mib(&pid);
    let mut c = c;
    let len: u64 = c.xlen(REPO_BACKFILL).await.unwrap();
    assert_eq!(len, n, "every account listed once");
    let per_sec = n as f64 / elapsed.as_secs_f64();
    println!(
        "listRepos: {n} repos in {elapsed:?} from the binary's start: {per_sec:.0} repos/s; peak RSS {rss} MiB"
    );
    println!(
        "report | ingester: listRepos → repo_backfill | {n} accounts, pages of 1,000 | {per_sec:.0} repos/s | | {rss} MiB"
    );
    child
        .stop(crate::support::ingester::DEADLINE)
        .await
        .unwrap();
}

/// Frame-to-Redis latency of the real binary with its default settings, at a steady 2,000
/// frames/s (about the real firehose) and at 50 frames/s (light traffic): from the frame's send
/// to its entry's Redis timestamp (entry IDs are `<ms>-<n>`). A batch is written as soon as the
/// reader has nothing more to hand over, so neither waits for a batch to fill.
#[tokio::test]
#[ignore = "benchmark"]
async fn binary_live_latency() {
    for (per_sec, copies) in [(2000.0, 4), (50.0, 1)] {
        let (redis_server, client) = redis().await;
        let mut c = conn(&client).await;
        let (frames, events, seq) = long_stream(copies);
        let sent = Arc::new(std::sync::Mutex::new(Vec::new()));
        let acts = vec![Act::Paced {
            frames,
            per_sec,
            sent: sent.clone(),
        }];
        let server = ScriptedServer::start(Arc::new(move |_, _| acts.clone())).await;
        let key = cursor_key(FIREHOSE_LIVE, &ServiceHost::parse(&server.host()).unwrap());
        let _: () = c.set(&key, 0).await.unwrap();
        let mut child = harness::services::ChildSpec::binary("ingester")
            .unwrap()
            .env("REDIS_URL", redis_server.url())
            .env("INGESTER_MODE", "firehose")
            .env("INGESTER_RELAY_HOSTS", server.host())
            .spawn()
            .unwrap();
        let pid = child.pid().to_string();
        wait_for_value(&c, &key, &seq.to_string()).await;
        let rss = peak_rss_mib(&pid);
        let reply: redis::streams::StreamRangeReply = c.xrange_all(FIREHOSE_LIVE).await.unwrap();
        assert_eq!(reply.ids.len(), events);
        let sent = sent.lock().unwrap().clone();
        let mut latencies: Vec<u64> = reply
            .ids
            .iter()
            .map(|entry| {
                let at: u64 = entry.id.split('-').next().unwrap().parse().unwrap();
                let json: serde_json::Value =
                    serde_json::from_str(&entry.get::<String>("event").unwrap()).unwrap();
                let seq = json["seq"].as_u64().unwrap() as usize;
                at.saturating_sub(sent[seq - 1])
            })
            .collect();
        latencies.sort_unstable();
        let pct =
            |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
        let (p50, p99) = (pct(0.5), pct(0.99));
        println!(
            "report | ingester: subscribeRepos → firehose_live, live | {per_sec:.0} frames/s, defaults | | {p50} / {p99} ms frame → Redis | {rss} MiB"
        );
        child
            .stop(crate::support::ingester::DEADLINE)
            .await
            .unwrap();
    }
}
