//! The real `ingester` binary, killed with SIGKILL in the middle of both a firehose and a repo
//! listing and started again: every event and every listed repo ends up in Redis, from the cursors
//! alone. Then SIGTERM drains it to a clean exit, and `/metrics` and `/healthz` answer meanwhile.
//!
//! Needs the binary built (`cargo build -p ingester`).

use std::collections::BTreeSet;

use crate::support::ingester::{
    DEADLINE, assert_lossless, conn, expected_entries, real_frames, redis, stream_entries,
    wait_for_value,
};
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher};
use harness::mock::{MockOptions, MockRelay, RelayAccount, RelayState};
use harness::services::{ChildSpec, Signal};
use redis::AsyncCommands;
use serde_json::Value;
use streams::ServiceHost;
use streams::names::{
    FIELD_EVENT, FIELD_REPO, FIREHOSE_LIVE, INGESTER_DONE, REPO_BACKFILL, cursor_key,
};

const ACCOUNTS: u64 = 3000;

fn relay_state() -> RelayState {
    RelayState {
        accounts: (1..=ACCOUNTS)
            .map(|id| RelayAccount {
                id,
                did: format!("did:plc:acct{id:05}"),
                head: "bafyreihead".into(),
                rev: "3l3qo2vutsw2b".into(),
                active: true,
                status: None,
                pds: "http://127.0.0.1:1".into(),
            })
            .collect(),
        hosts: Vec::new(),
    }
}

fn ingester(redis_url: &str, relay: &str) -> anyhow::Result<ChildSpec> {
    Ok(ChildSpec::binary("ingester")?
        .env("REDIS_URL", redis_url)
        .env("INGESTER_MODE", "all")
        .env("RELAY_HOSTS", relay)
        .env("INGESTER_LABELER_HOSTS", "")
        .env("INGESTER_LIST_REPOS_LIMIT", "50")
        .env("INGESTER_BATCH_SIZE", "100")
        .env("INGESTER_BATCH_TIMEOUT_MS", "50")
        .env("INGESTER_RETRY_BASE_MS", "20")
        .env("INGESTER_RETRY_MAX_MS", "200")
        .env("METRICS_PORT", "0"))
}

#[tokio::test]
async fn kill_9_mid_stream_then_restart_loses_nothing() -> anyhow::Result<()> {
    let (redis_server, client) = redis().await;
    let mut c = conn(&client).await;
    let stuck_frame = 600u64;
    let plan = FaultPlan::none()
        .with(FaultRule::first(
            1,
            Matcher {
                endpoint: Some("com.atproto.sync.subscribeRepos".into()),
                frame: Some(stuck_frame),
                ..Matcher::default()
            },
            Fault::Stall { ms: 600_000 },
        ))
        .with(FaultRule::first(
            1,
            Matcher {
                endpoint: Some("com.atproto.sync.listRepos".into()),
                cursor: Some("1500".into()),
                ..Matcher::default()
            },
            Fault::Delay { ms: 600_000 },
        ));
    let faults = Faults::new(plan)?;
    let options = MockOptions {
        faults: faults.clone(),
        ..MockOptions::default()
    };
    let relay = MockRelay::start(relay_state(), options).await?;
    let frames = real_frames();
    for (seq, bytes) in &frames {
        relay.events().append(*seq, bytes.clone())?;
    }
    let relay_url = relay.url().to_string();
    let host = ServiceHost::parse(&relay_url)?;
    let firehose_key = cursor_key(FIREHOSE_LIVE, &host);
    let backfill_key = cursor_key(REPO_BACKFILL, &host);
    let _: () = c.set(&firehose_key, 0).await?;
    let spec = ingester(&redis_server.url(), &relay_url)?;

    // First run: both parts get stuck half-way (a stalled socket, a hanging page); kill -9 there.
    let mut first = spec.spawn()?;
    let stuck_seq = frames[stuck_frame as usize - 1].0;
    wait_for_value(&c, &firehose_key, &stuck_seq.to_string()).await;
    wait_for_value(&c, &backfill_key, "1500").await;
    assert_eq!((faults.fired_count(0), faults.fired_count(1)), (1, 1));
    first.kill(Signal::Kill)?;
    let status = first.wait_exit(DEADLINE).await?;
    assert!(!status.success());
    let listed_before: u64 = c.xlen(REPO_BACKFILL).await?;
    assert_eq!(listed_before, 1500);

    // Second run: from the cursors alone, everything arrives.
    let mut second = spec.spawn()?;
    wait_for_value(&c, &firehose_key, &frames.last().unwrap().0.to_string()).await;
    wait_for_value(&c, &backfill_key, INGESTER_DONE).await;
    let events = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&events, &expected_entries(&frames));
    let repos = stream_entries(&mut c, REPO_BACKFILL, FIELD_REPO).await;
    let dids: BTreeSet<String> = repos
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["did"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(dids.len() as u64, ACCOUNTS);
    assert_eq!(repos.len() as u64, ACCOUNTS, "a page was listed twice");

    // The operations endpoint answers while it runs.
    second.wait_for_log("serving /metrics", DEADLINE).await?;
    let port = second.metrics_port().expect("metrics port in the log");
    let http = reqwest::Client::new();
    let health = http
        .get(format!("http://127.0.0.1:{port}/healthz"))
        .send()
        .await?;
    assert_eq!(health.status().as_u16(), 200);
    let metrics = http
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("ingester_entries_written_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ingester_backfill_repos_total"),
        "{metrics}"
    );

    // SIGTERM: a clean drain and exit 0, cursors where the data is.
    second.kill(Signal::Term)?;
    let status = second.wait_exit(DEADLINE).await?;
    assert!(status.success(), "{status}; log:\n{}", second.log_tail(40));
    assert!(second.logs().contains("writer drained"));
    Ok(())
}

/// Kills land wherever the stream happens to be: mid-batch, mid-decode, mid-write.
#[tokio::test]
async fn repeated_kill_9_while_events_flow_loses_nothing() -> anyhow::Result<()> {
    let (redis_server, client) = redis().await;
    let mut c = conn(&client).await;
    // Slow the firehose down (a short pause every 25 frames) so that kills land mid-flow.
    let mut plan = FaultPlan::none();
    for frame in (25..1200).step_by(25) {
        let when = Matcher {
            endpoint: Some("com.atproto.sync.subscribeRepos".into()),
            frame: Some(frame),
            ..Matcher::default()
        };
        plan = plan.with(FaultRule::always(when, Fault::Stall { ms: 40 }));
    }
    let options = MockOptions {
        faults: Faults::new(plan)?,
        ..MockOptions::default()
    };
    let relay = MockRelay::start(relay_state(), options).await?;
    let frames = real_frames();
    for (seq, bytes) in &frames {
        relay.events().append(*seq, bytes.clone())?;
    }
    let relay_url = relay.url().to_string();
    let host = ServiceHost::parse(&relay_url)?;
    let firehose_key = cursor_key(FIREHOSE_LIVE, &host);
    let _: () = c.set(&firehose_key, 0).await?;
    let spec = ingester(&redis_server.url(), &relay_url)?.env("INGESTER_MODE", "firehose");

    for threshold in [150u64, 500, 900] {
        let mut child = spec.spawn()?;
        let probe = c.clone();
        harness::services::wait_until("events to flow", DEADLINE, || {
            let mut probe = probe.clone();
            async move {
                let len: u64 = probe.xlen(FIREHOSE_LIVE).await?;
                Ok((len >= threshold).then_some(()))
            }
        })
        .await?;
        child.kill(Signal::Kill)?;
        child.wait_exit(DEADLINE).await?;
    }
    let mut last = spec.spawn()?;
    wait_for_value(&c, &firehose_key, &frames.last().unwrap().0.to_string()).await;
    let events = stream_entries(&mut c, FIREHOSE_LIVE, FIELD_EVENT).await;
    assert_lossless(&events, &expected_entries(&frames));
    last.stop(DEADLINE).await?;
    Ok(())
}

/// A writer that cannot write (the stream's key holds a string) dies after its retries, and its
/// death ends the whole process with a non-zero exit and the cause in the log; the cursor was
/// never moved past what it could not write.
#[tokio::test]
async fn a_dead_writer_ends_the_process_non_zero() -> anyhow::Result<()> {
    let (redis_server, client) = redis().await;
    let mut c = conn(&client).await;
    let relay = MockRelay::start(relay_state(), MockOptions::default()).await?;
    let frames = real_frames();
    for (seq, bytes) in &frames {
        relay.events().append(*seq, bytes.clone())?;
    }
    let relay_url = relay.url().to_string();
    let firehose_key = cursor_key(FIREHOSE_LIVE, &ServiceHost::parse(&relay_url)?);
    let _: () = c.set(&firehose_key, 0).await?;
    let _: () = c.set(FIREHOSE_LIVE, "not a stream").await?;
    let mut child = ingester(&redis_server.url(), &relay_url)?
        .env("INGESTER_MODE", "firehose")
        .spawn()?;
    let status = child.wait_exit(DEADLINE).await?;
    assert_eq!(status.code(), Some(1), "log:\n{}", child.log_tail(30));
    let logs = child.logs();
    assert!(logs.contains("firehose-writer"), "{logs}");
    assert!(logs.contains("WRONGTYPE"), "{logs}");
    let cursor: String = c.get(&firehose_key).await?;
    assert_eq!(cursor, "0");
    Ok(())
}

#[tokio::test]
async fn a_bad_setting_is_a_usage_error() -> anyhow::Result<()> {
    let out = std::process::Command::new(harness::services::locate_binary("ingester")?)
        .env_clear()
        .env("INGESTER_RELAY_HOSTS", "ftp://relay.example")
        .output()?;
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("INGESTER_RELAY_HOSTS"), "{stderr}");
    Ok(())
}
