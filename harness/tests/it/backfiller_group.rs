//! Several backfillers in one consumer group: the work is shared and each repo is emitted by
//! exactly one of them; a backfiller process killed with SIGKILL mid-run is replaced and nothing is
//! lost; SIGTERM drains and exits 0.
//!
//! The process tests need the binary built (`cargo build -p backfiller`).

use std::time::Duration;

use crate::support::backfiller::*;
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher};
use harness::services::{ChildSpec, Signal, TestRedis, wait_until};
use streams::payloads::StreamEvent;

fn slow_get_repo(ms: u64) -> Faults {
    Faults::new(FaultPlan {
        rules: vec![FaultRule::always(
            Matcher {
                endpoint: Some("com.atproto.sync.getRepo".to_owned()),
                ..Matcher::default()
            },
            Fault::Delay { ms },
        )],
    })
    .unwrap()
}

#[tokio::test]
async fn backfillers_in_one_group_share_the_work_without_duplicates() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repos: Vec<TestRepo> = (0..60).map(|i| build_repo(&did(i), 4, 3, i)).collect();
    let mut pdses = Vec::new();
    for chunk in repos.chunks(20) {
        let refs: Vec<&TestRepo> = chunk.iter().collect();
        pdses.push(start_pds(&plc, &refs, slow_get_repo(30), None).await);
    }
    enqueue(
        &client,
        &repos.iter().map(|r| entry(&r.did)).collect::<Vec<_>>(),
    )
    .await;
    let mut running = Vec::new();
    for name in ["c1", "c2", "c3"] {
        let mut s = settings(&plc, name);
        s.batch_size = 2;
        s.concurrency = 2;
        running.push(spawn(&redis, s).await);
    }
    let events = wait_for_repos(&client, repos.len()).await;
    let mut shares = Vec::new();
    for r in running {
        shares.push(r.tally.finals().0);
        r.stop().await;
    }
    assert!(dead_letters(&client).await.is_empty());
    assert_eq!(shares.iter().sum::<u64>(), repos.len() as u64, "{shares:?}");
    assert!(
        shares.iter().filter(|n| **n > 0).count() >= 2,
        "work was shared: {shares:?}"
    );
    let finished = finished(&events);
    assert_eq!(finished.len(), repos.len(), "each repo emitted once");
    for r in &repos {
        let creates = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Create(w) if w.did == r.did))
            .count();
        assert_eq!(creates, r.records.len(), "{}", r.did);
        assert_eq!(creates_of(&events, &r.did), r.records);
    }
    for pds in pdses {
        pds.stop().await;
    }
}

fn process(redis: &TestRedis, plc_url: &str) -> ChildSpec {
    ChildSpec::binary("backfiller")
        .expect("backfiller binary built (cargo build -p backfiller)")
        .env("REDIS_URL", redis.url())
        .env("PLC_URL", plc_url)
        .env("ALLOW_PRIVATE_HOSTS", "true")
        .env("BACKFILLER_PER_HOST_RPS", "1000")
        .env("BACKFILLER_CONCURRENCY", "4")
        .env("BACKFILLER_BATCH_SIZE", "4")
        .env("BACKFILLER_CLAIM_IDLE_MS", "1000")
        .env("BACKFILLER_RETRY_DELAY_MS", "20")
}

#[tokio::test]
async fn a_killed_backfiller_is_replaced_and_nothing_is_lost() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repos: Vec<TestRepo> = (0..40).map(|i| build_repo(&did(i), 5, 5, i)).collect();
    let refs: Vec<&TestRepo> = repos.iter().collect();
    let pds = start_pds(&plc, &refs, slow_get_repo(100), None).await;
    enqueue(
        &client,
        &repos.iter().map(|r| entry(&r.did)).collect::<Vec<_>>(),
    )
    .await;
    let plc_url = plc.url().to_string();

    let mut first = process(&redis, &plc_url).spawn().unwrap();
    wait_until("some repos emitted", DEADLINE, || async {
        Ok((finished(&emitted(&client).await).len() >= 3).then_some(()))
    })
    .await
    .unwrap();
    first.kill(Signal::Kill).unwrap();
    first.wait_exit(DEADLINE).await.unwrap();
    let before = finished(&emitted(&client).await).len();
    assert!(before < repos.len(), "killed mid-run");
    assert!(
        pending(&client).await > 0,
        "the dead process left entries pending"
    );

    let mut second = process(&redis, &plc_url).spawn().unwrap();
    let events = wait_for_repos(&client, repos.len()).await;
    wait_until("entries acknowledged", DEADLINE, || async {
        Ok((pending(&client).await == 0).then_some(()))
    })
    .await
    .unwrap();
    let status = second.stop(DEADLINE).await.unwrap();
    assert!(
        status.success(),
        "SIGTERM drains and exits 0: {status}\n{}",
        second.log_tail(30)
    );
    assert!(
        dead_letters(&client).await.is_empty(),
        "{:?}",
        dead_letters(&client).await
    );
    for r in &repos {
        // A repo cut off by the kill is emitted again in full (the indexer is idempotent).
        assert_eq!(creates_of(&events, &r.did), r.records, "{}", r.did);
    }
    pds.stop().await;
}

#[tokio::test]
async fn a_failing_backfiller_exits_non_zero() {
    let mut redis = TestRedis::start().await.unwrap();
    if !TestRedis::is_private() {
        return; // a shared server cannot be killed
    }
    let plc = start_plc().await;
    // Redis goes away under a running backfiller: its consumer task fails and the process exits 1.
    let mut child = process(&redis, plc.url().as_str()).spawn().unwrap();
    let client = client(&redis);
    wait_until("the consumer group created", DEADLINE, || async {
        let mut conn = client.get_multiplexed_async_connection().await?;
        let groups: redis::RedisResult<redis::Value> = redis::cmd("XINFO")
            .arg("GROUPS")
            .arg("repo_backfill")
            .query_async(&mut conn)
            .await;
        Ok(matches!(groups, Ok(redis::Value::Array(g)) if !g.is_empty()).then_some(()))
    })
    .await
    .unwrap();
    redis.kill().unwrap();
    let status = child.wait_exit(Duration::from_secs(120)).await.unwrap();
    let log = child.log_tail(30);
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("task died"), "the cause is logged: {log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// rsky's variable names work: input and output streams and the group come from the aliases.
#[tokio::test]
async fn rsky_environment_aliases_are_honoured() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repo = build_repo(&did(5), 3, 1, 5);
    let pds = start_pds(&plc, &[&repo], Faults::none(), None).await;
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: String = redis::cmd("XADD")
        .arg("alt_in")
        .arg("*")
        .arg("repo")
        .arg(serde_json::to_string(&entry(&repo.did)).unwrap())
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut child = process(&redis, plc.url().as_str())
        .env("BACKFILLER_BACKFILL_STREAM", "alt_in")
        .env("BACKFILLER_FIREHOSE_STREAM", "alt_out")
        .env("BACKFILLER_GROUP", "alt_group")
        .env("BACKFILLER_CONSUMER", "alt_consumer")
        .spawn()
        .unwrap();
    let expected = repo.records.len() as u64 + 1;
    wait_until("events in the aliased output stream", DEADLINE, || {
        let mut conn = conn.clone();
        async move {
            let len: u64 = redis::cmd("XLEN")
                .arg("alt_out")
                .query_async(&mut conn)
                .await?;
            Ok((len == expected).then_some(()))
        }
    })
    .await
    .unwrap();
    let consumers: redis::Value = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg("alt_in")
        .arg("alt_group")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        format!("{consumers:?}").contains("alt_consumer"),
        "{consumers:?}"
    );
    let status = child.stop(DEADLINE).await.unwrap();
    assert!(status.success(), "{}", child.log_tail(20));
    let len: u64 = redis::cmd("XLEN")
        .arg("firehose_backfill")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 0, "nothing went to the default stream");
    pds.stop().await;
}
