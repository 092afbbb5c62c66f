//! Throughput of the firehose path: frames served at full speed by a local WebSocket server, into
//! `firehose_live` through a real Redis. Ignored by default; run with
//! `cargo nextest run -p harness --test ingester_bench --run-ignored only --no-capture`.
//! Prints events per second (decode, hash check, CBOR→JSON, batched MULTI/EXEC).

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
    let running = Running::start(repos_feed(), &server.host(), options, &client).await;
    wait_for_value(&c, &key, &seq.to_string()).await;
    let elapsed = started.elapsed();
    let len: usize = c.xlen(FIREHOSE_LIVE).await.unwrap();
    assert_eq!(len, events);
    println!(
        "{events} events from {seq} frames ({:.1} MB) in {elapsed:?}: {:.0} events/s, {:.0} frames/s",
        bytes as f64 / 1e6,
        events as f64 / elapsed.as_secs_f64(),
        seq as f64 / elapsed.as_secs_f64()
    );
    running.stop().await;
}
