//! The backfiller against misbehaving PDSes: 429s are back-pressure (never a dead letter, and a
//! rate-limited host never stalls the others), transient failures are retried, permanent ones and
//! corrupt repos are dead-lettered with the right reason, and requests to one host never exceed
//! its rate.

use std::time::Duration;

use crate::support::backfiller::*;
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher, RepoDefect};
use harness::mock::{AccountStatus, RateLimit};
use harness::services::{TestRedis, wait_until};

fn get_repo(did: Option<&str>) -> Matcher {
    Matcher {
        endpoint: Some("com.atproto.sync.getRepo".to_owned()),
        did: did.map(str::to_owned),
        ..Matcher::default()
    }
}

fn faults(rules: Vec<FaultRule>) -> Faults {
    Faults::new(FaultPlan { rules }).unwrap()
}

fn repos(range: std::ops::Range<u64>) -> Vec<TestRepo> {
    range
        .map(|i| build_repo(&did(i), 3 + i % 5, 2, i))
        .collect()
}

/// A burst of 429s on every repo of a host: with one allowed delivery, any 429 that counted as a
/// failure would dead-letter a repo. All are emitted.
#[tokio::test]
async fn rate_limit_bursts_never_dead_letter() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repos = repos(0..6);
    let refs: Vec<&TestRepo> = repos.iter().collect();
    let f = faults(vec![FaultRule::first(
        4,
        get_repo(None),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    )]);
    let pds = start_pds(&plc, &refs, f.clone(), None).await;
    enqueue(
        &client,
        &repos.iter().map(|r| entry(&r.did)).collect::<Vec<_>>(),
    )
    .await;
    let mut s = settings(&plc, "c1");
    s.max_deliveries = 1;
    let running = spawn(&redis, s).await;
    let events = wait_for_repos(&client, repos.len()).await;
    running.stop().await;
    assert!(dead_letters(&client).await.is_empty());
    for r in &repos {
        assert_eq!(creates_of(&events, &r.did), r.records);
    }
    assert_eq!(f.fired_count(0), 4, "the burst was served");
    pds.stop().await;
}

/// One host answers 429 to everything, and its repos come first in the stream (listRepos clusters
/// by host) and outnumber what may be held for it: the other hosts' repos are all emitted, nothing
/// is dead-lettered, and once the host recovers its repos are emitted too.
#[tokio::test]
async fn an_always_rate_limited_host_stalls_nobody_and_loses_nothing() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    // More than the consumer holds at once (64): without per-host bounds they would fill it.
    let blocked = repos(0..80);
    let healthy_a = repos(100..106);
    let healthy_b = repos(200..206);
    let f = faults(vec![FaultRule::always(
        get_repo(None),
        Fault::RateLimited {
            retry_after_secs: 1,
        },
    )]);
    let slow = start_pds(&plc, &blocked.iter().collect::<Vec<_>>(), f.clone(), None).await;
    let a = start_pds(
        &plc,
        &healthy_a.iter().collect::<Vec<_>>(),
        Faults::none(),
        None,
    )
    .await;
    let b = start_pds(
        &plc,
        &healthy_b.iter().collect::<Vec<_>>(),
        Faults::none(),
        None,
    )
    .await;
    let all: Vec<&TestRepo> = blocked.iter().chain(&healthy_a).chain(&healthy_b).collect();
    enqueue(
        &client,
        &all.iter().map(|r| entry(&r.did)).collect::<Vec<_>>(),
    )
    .await;

    let mut s = settings(&plc, "c1");
    s.max_deliveries = 1;
    s.per_host_queue = 2;
    s.batch_size = 4;
    let running = spawn(&redis, s.clone()).await;
    let healthy = healthy_a.len() + healthy_b.len();
    let events = wait_for_repos(&client, healthy).await;
    for r in healthy_a.iter().chain(&healthy_b) {
        assert_eq!(creates_of(&events, &r.did), r.records);
    }
    assert!(f.fired_count(0) > 0, "the blocked host was asked");
    let requeued = running
        .tally
        .requeued
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(requeued > 0, "the blocked host's overflow went to the back");
    running.stop().await;
    assert!(dead_letters(&client).await.is_empty());
    assert!(
        finished(&emitted(&client).await)
            .iter()
            .all(|d| !blocked.iter().any(|r| &r.did == d))
    );

    // The host recovers; a new process picks up every repo that waited.
    f.clear();
    let running = spawn(&redis, s).await;
    let events = wait_for_repos(&client, all.len()).await;
    running.stop().await;
    assert!(dead_letters(&client).await.is_empty());
    for r in &all {
        assert_eq!(creates_of(&events, &r.did), r.records, "{}", r.did);
    }
    for pds in [slow, a, b] {
        pds.stop().await;
    }
}

/// 5xx answers (XRPC and HTML from a proxy), a stalled response and a trickled body: retried or
/// waited out, and emitted; a host that always fails gets its repo dead-lettered after the last
/// allowed delivery with the reason.
#[tokio::test]
async fn transient_failures_are_retried_then_dead_lettered() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repos = repos(0..5);
    let [r500, rhtml, rstall, rtrickle, rdown] = [0, 1, 2, 3, 4].map(|i| repos[i].did.clone());
    let f = faults(vec![
        FaultRule::first(2, get_repo(Some(&r500)), Fault::Status { status: 500 }),
        FaultRule::first(1, get_repo(Some(&rhtml)), Fault::HtmlError { status: 502 }),
        FaultRule::first(1, get_repo(Some(&rstall)), Fault::Delay { ms: 3_000 }),
        FaultRule::always(
            get_repo(Some(&rtrickle)),
            Fault::Trickle {
                chunk_bytes: 64,
                interval_ms: 2,
            },
        ),
        FaultRule::always(get_repo(Some(&rdown)), Fault::Status { status: 503 }),
    ]);
    let pds = start_pds(&plc, &repos.iter().collect::<Vec<_>>(), f.clone(), None).await;
    enqueue(
        &client,
        &repos.iter().map(|r| entry(&r.did)).collect::<Vec<_>>(),
    )
    .await;
    let mut s = settings(&plc, "c1");
    s.http_timeout = Duration::from_millis(1_000);
    s.max_deliveries = 3;
    let running = spawn(&redis, s).await;
    let events = wait_for_repos(&client, repos.len()).await;
    let tally = running.tally.clone();
    running.stop().await;
    for r in &repos[..4] {
        assert_eq!(creates_of(&events, &r.did), r.records, "{}", r.did);
    }
    let dead = dead_letters(&client).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert_eq!(dead[0].0, rdown);
    assert!(dead[0].1.contains("503"), "{}", dead[0].1);
    assert_eq!(f.fired_count(4), 3, "three deliveries to the failing host");
    assert!(f.fired_count(3) >= 1, "the trickled body was served");
    assert_eq!(tally.finals(), (4, 0, 1));
    pds.stop().await;
}

/// Corrupt and forged repos are dead-lettered with the right reason: bad signature and wrong DID
/// at once (one attempt), a truncated or corrupt CAR after the retries; a single truncated
/// download is retried and the repo emitted.
#[tokio::test]
async fn corrupt_and_forged_repos_are_dead_lettered_with_their_reason() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repos = repos(0..6);
    let d = |i: usize| repos[i].did.clone();
    let broken = |defect| Fault::BrokenRepo { defect };
    let f = faults(vec![
        FaultRule::always(get_repo(Some(&d(0))), broken(RepoDefect::BadSignature)),
        FaultRule::always(
            get_repo(Some(&d(1))),
            broken(RepoDefect::OtherDid { did: did(999) }),
        ),
        FaultRule::always(get_repo(Some(&d(2))), Fault::Truncate { at_byte: 300 }),
        FaultRule::always(get_repo(Some(&d(3))), broken(RepoDefect::BadBlockHash)),
        FaultRule::always(get_repo(Some(&d(4))), broken(RepoDefect::MissingBlock)),
        FaultRule::first(1, get_repo(Some(&d(5))), Fault::Truncate { at_byte: 200 }),
    ]);
    let pds = start_pds(&plc, &repos.iter().collect::<Vec<_>>(), f, None).await;
    enqueue(
        &client,
        &repos.iter().map(|r| entry(&r.did)).collect::<Vec<_>>(),
    )
    .await;
    let mut s = settings(&plc, "c1");
    s.max_deliveries = 3;
    let running = spawn(&redis, s).await;
    let events = wait_for_repos(&client, repos.len()).await;
    running.stop().await;
    assert_eq!(creates_of(&events, &d(5)), repos[5].records);
    let dead = dead_letters(&client).await;
    let reason = |did: &str| {
        dead.iter()
            .find(|(d, _)| d == did)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{did} not dead-lettered: {dead:?}"))
    };
    assert!(reason(&d(0)).contains("bad signature"), "{}", reason(&d(0)));
    assert!(reason(&d(1)).contains("wrong DID"), "{}", reason(&d(1)));
    for i in [2, 3, 4] {
        let r = reason(&d(i));
        assert!(
            r.contains("corrupt CAR") && r.contains("delivery 3 of 3"),
            "{r}"
        );
    }
    assert_eq!(dead.len(), 5);
    // Nothing of a rejected repo was emitted.
    for i in 0..5 {
        assert!(creates_of(&events, &d(i)).is_empty(), "{}", d(i));
    }
    // Permanent failures took one delivery.
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("repo_backfill_dlq")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .unwrap();
    for e in &reply.ids {
        let reason: String = e.get("reason").unwrap();
        let attempts: String = e.get("attempts").unwrap();
        if reason.contains("bad signature") || reason.contains("wrong DID") {
            assert_eq!(attempts, "1");
        }
    }
    pds.stop().await;
}

/// Accounts that are taken down, deactivated, suspended or missing at the PDS, and a DID the
/// directory does not know: dead-lettered at once with the reason.
#[tokio::test]
async fn unavailable_accounts_are_dead_lettered() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repos = repos(0..4);
    let pds = start_pds(
        &plc,
        &repos.iter().collect::<Vec<_>>(),
        Faults::none(),
        None,
    )
    .await;
    let statuses = [
        AccountStatus::Takendown,
        AccountStatus::Deactivated,
        AccountStatus::Suspended,
        AccountStatus::Deleted,
    ];
    pds.state().write(|s| {
        for (account, status) in s.accounts.iter_mut().zip(statuses) {
            account.status = status;
        }
    });
    let unknown = did(777);
    let mut entries: Vec<_> = repos.iter().map(|r| entry(&r.did)).collect();
    entries.push(entry(&unknown));
    enqueue(&client, &entries).await;
    let running = spawn(&redis, settings(&plc, "c1")).await;
    wait_until("all dead-lettered", DEADLINE, || async {
        Ok((dead_letters(&client).await.len() == 5).then_some(()))
    })
    .await
    .unwrap();
    running.stop().await;
    let dead = dead_letters(&client).await;
    let reason = |did: &str| dead.iter().find(|(d, _)| d == did).unwrap().1.clone();
    assert!(reason(&repos[0].did).starts_with("RepoTakendown"));
    assert!(reason(&repos[1].did).starts_with("RepoDeactivated"));
    assert!(reason(&repos[2].did).starts_with("RepoSuspended"));
    assert!(reason(&repos[3].did).starts_with("RepoNotFound"));
    assert!(
        reason(&unknown).starts_with("unresolvable DID"),
        "{}",
        reason(&unknown)
    );
    assert!(emitted(&client).await.is_empty());
    pds.stop().await;
}

/// With a rate of 5 per second per host, no one-second window at either host ever holds more than
/// 5 requests, counted at the server; a host's own `RateLimit-*` window (4 per 2 s, below our rate)
/// is honoured too, without a single repo lost.
#[tokio::test]
async fn the_per_host_rate_is_never_exceeded() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let first = repos(0..12);
    let second = repos(100..106);
    let a = start_pds(
        &plc,
        &first.iter().collect::<Vec<_>>(),
        Faults::none(),
        None,
    )
    .await;
    let b = start_pds(
        &plc,
        &second.iter().collect::<Vec<_>>(),
        Faults::none(),
        Some(RateLimit {
            limit: 4,
            window_secs: 2,
        }),
    )
    .await;
    let all: Vec<&TestRepo> = first.iter().chain(&second).collect();
    enqueue(
        &client,
        &all.iter().map(|r| entry(&r.did)).collect::<Vec<_>>(),
    )
    .await;
    let mut s = settings(&plc, "c1");
    s.per_host_rps = 5.0;
    s.per_host_concurrency = 8;
    s.concurrency = 20;
    s.max_deliveries = 1;
    let running = spawn(&redis, s).await;
    let events = wait_for_repos(&client, all.len()).await;
    running.stop().await;
    assert!(dead_letters(&client).await.is_empty());
    for r in &all {
        assert_eq!(creates_of(&events, &r.did), r.records);
    }
    assert_eq!(a.limiter().requests().len(), first.len());
    assert!(a.limiter().max_in_window(None, Duration::from_secs(1)) <= 5);
    assert!(b.limiter().max_in_window(None, Duration::from_secs(1)) <= 5);
    // The host's window: at most one request was refused per exhausted window (the one that
    // found it exhausted before its headers said so), never a storm.
    assert!(
        b.limiter().limited_count() <= 3,
        "{}",
        b.limiter().limited_count()
    );
    a.stop().await;
    b.stop().await;
}
