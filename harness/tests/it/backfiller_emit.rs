//! The backfiller on healthy input: every record of every repo is emitted exactly once, in the
//! contract's format, followed by one `repo` event; inactive accounts are skipped without a fetch;
//! the real reference-PDS repos come out with the expected record counts.

use std::collections::{BTreeMap, HashMap};

use crate::support::backfiller::*;
use harness::faults::Faults;
use harness::mock::{MockOptions, MockPds, PdsAccount, PdsOptions, PdsState};
use harness::services::TestRedis;
use serde_json::Value;
use streams::payloads::StreamEvent;

fn realpds_json(name: &str) -> Value {
    let text = std::fs::read_to_string(testkit::realpds(name)).expect("fixture");
    serde_json::from_str(&text).expect("fixture JSON")
}

#[tokio::test]
async fn healthy_repos_are_emitted_exactly_once_each() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    // Three hosts, repos of different sizes (one empty but for its profile).
    let repos: Vec<TestRepo> = (0..9)
        .map(|i| build_repo(&did(i), i * 7, i * 13, i))
        .collect();
    let mut pdses = Vec::new();
    for chunk in repos.chunks(3) {
        let refs: Vec<&TestRepo> = chunk.iter().collect();
        pdses.push(start_pds(&plc, &refs, Faults::none(), None).await);
    }
    let mut entries: Vec<_> = repos.iter().map(|r| entry(&r.did)).collect();
    // Two inactive accounts: acknowledged without a fetch (they are not even registered).
    for (n, status) in [(100, "takendown"), (101, "deactivated")] {
        let mut e = entry(&did(n));
        e.active = false;
        e.status = Some(status.to_owned());
        entries.push(e);
    }
    enqueue(&client, &entries).await;

    let mut settings = settings(&plc, "c1");
    settings.emit_chunk = 5; // several chunks per repo
    let running = spawn(&redis, settings).await;
    let events = wait_for_repos(&client, repos.len()).await;
    harness::services::wait_until("entries acknowledged", DEADLINE, || async {
        Ok((pending(&client).await == 0).then_some(()))
    })
    .await
    .unwrap();
    let tally = running.tally.clone();
    running.stop().await;

    assert!(dead_letters(&client).await.is_empty());
    let finished = finished(&events);
    assert_eq!(finished.len(), repos.len(), "one repo event per repo");
    for repo in &repos {
        assert_eq!(creates_of(&events, &repo.did), repo.records, "{}", repo.did);
        let creates = events
            .iter()
            .filter(|e| matches!(e, StreamEvent::Create(w) if w.did == repo.did))
            .count();
        assert_eq!(
            creates,
            repo.records.len(),
            "no duplicates for {}",
            repo.did
        );
    }
    // Per repo: creates first, then its repo event, with the commit and rev of the repo.
    let mut closed: HashMap<String, bool> = HashMap::new();
    for event in &events {
        assert_eq!(event.seq(), -1);
        match event {
            StreamEvent::Create(w) => {
                assert!(!closed.contains_key(&w.did), "create after repo event");
                let repo = repos.iter().find(|r| r.did == w.did).unwrap();
                assert_eq!(
                    (w.commit.as_str(), w.rev.as_str()),
                    (repo.head.as_str(), repo.rev.as_str())
                );
                assert_eq!(w.time.len(), 24, "{}", w.time);
                assert!(w.time.ends_with('Z'));
                assert!(w.record.get("$type").is_some(), "record is atproto JSON");
            }
            StreamEvent::Repo(m) => {
                let repo = repos.iter().find(|r| r.did == m.did).unwrap();
                assert_eq!(
                    (m.commit.as_str(), m.rev.as_str()),
                    (repo.head.as_str(), repo.rev.as_str())
                );
                closed.insert(m.did.clone(), true);
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    // Likes carry their subject's CID as a string and the post's createdAt as given.
    let like = events
        .iter()
        .find_map(|e| match e {
            StreamEvent::Create(w) if w.collection == "app.bsky.feed.like" => {
                Some(w.record.clone())
            }
            _ => None,
        })
        .unwrap();
    assert!(like["subject"]["cid"].is_string());
    let (emitted, skipped, dead) = tally.finals();
    assert_eq!((emitted, skipped, dead), (repos.len() as u64, 2, 0));
    for pds in pdses {
        // Only the listed active repos were fetched: nothing for the inactive ones.
        assert_eq!(pds.limiter().requests().len(), 3);
        pds.stop().await;
    }
}

#[tokio::test]
async fn real_reference_pds_repos_verify_and_match_expected_counts() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let expected = realpds_json("expected.json");
    let by_repo = expected["byRepo"].as_object().unwrap();
    let mut accounts = Vec::new();
    let mut dids = Vec::new();
    for (i, (did, info)) in by_repo.iter().enumerate() {
        if info["active"] != Value::Bool(true) {
            continue;
        }
        let car = std::fs::read(testkit::realpds(&format!(
            "repos/{}.car",
            did.replace(':', "_")
        )))
        .unwrap();
        accounts.push(PdsAccount::from_car(did, 1_700_000_000_000 + i as i64, car.into()).unwrap());
        dids.push(did.clone());
    }
    let pds = MockPds::start(
        PdsState { accounts },
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    // The real DID documents (real keys), pointed at this PDS.
    let docs = realpds_json("did-docs.json");
    for did in &dids {
        let mut doc = docs[did]["body"].clone();
        for service in doc["service"].as_array_mut().unwrap() {
            if service["id"]
                .as_str()
                .is_some_and(|id| id.ends_with("#atproto_pds"))
            {
                service["serviceEndpoint"] =
                    Value::String(pds.url().as_str().trim_end_matches('/').to_owned());
            }
        }
        plc.state().write(|s| {
            s.documents.insert(did.clone(), doc);
        });
    }
    let entries: Vec<_> = dids.iter().map(|d| entry(d)).collect();
    enqueue(&client, &entries).await;
    let running = spawn(&redis, settings(&plc, "c1")).await;
    let events = wait_for_repos(&client, dids.len()).await;
    running.stop().await;

    assert!(
        dead_letters(&client).await.is_empty(),
        "{:?}",
        dead_letters(&client).await
    );
    let mut total = 0;
    for did in &dids {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for (collection, _, _) in creates_of(&events, did) {
            *counts.entry(collection).or_default() += 1;
            total += 1;
        }
        let want: BTreeMap<String, u64> = by_repo[did]["collections"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(c, n)| (c.clone(), n.as_u64().unwrap()))
            .collect();
        assert_eq!(counts, want, "{did}");
        let head = by_repo[did]["head"].as_str().unwrap();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StreamEvent::Repo(m) if m.did == *did && m.commit == head))
        );
    }
    assert_eq!(total, expected["totalRecords"].as_u64().unwrap());
    pds.stop().await;
}

/// At the high-water mark emission waits, holding the repo (nothing written, nothing acknowledged);
/// once consumers make room it resumes and the repo is emitted whole.
#[tokio::test]
async fn emission_waits_at_the_high_water_mark() {
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;
    let repo = build_repo(&did(1), 30, 0, 1);
    let pds = start_pds(&plc, &[&repo], Faults::none(), None).await;
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    for i in 0..10 {
        let _: String = redis::cmd("XADD")
            .arg("firehose_backfill")
            .arg("*")
            .arg("filler")
            .arg(i)
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    enqueue(&client, &[entry(&repo.did)]).await;
    let mut s = settings(&plc, "c1");
    s.high_water_mark = 10;
    s.emit_chunk = 8;
    let running = spawn(&redis, s).await;
    // The repo was fetched, then held at the mark.
    harness::services::wait_until("the repo fetched", DEADLINE, || async {
        Ok((!pds.limiter().requests().is_empty()).then_some(()))
    })
    .await
    .unwrap();
    // Held at the mark: the producer keeps re-reading the stream's length (XLEN) without writing.
    harness::services::wait_until("the producer waiting", DEADLINE, || {
        let mut conn = conn.clone();
        async move {
            let info: String = redis::cmd("INFO")
                .arg("commandstats")
                .query_async(&mut conn)
                .await?;
            let calls = info
                .lines()
                .find_map(|l| l.strip_prefix("cmdstat_xlen:calls="))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            Ok((calls >= 3).then_some(()))
        }
    })
    .await
    .unwrap();
    assert_eq!(
        pending(&client).await,
        1,
        "the entry is held, not acknowledged"
    );
    let len: u64 = redis::cmd("XLEN")
        .arg("firehose_backfill")
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 10, "nothing written over the mark");
    // A consumer catches up: it takes entries off the stream as they come.
    let taken = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let consumed = harness::services::wait_until("the repo emitted", DEADLINE, || {
        let mut conn = conn.clone();
        let taken = taken.clone();
        async move {
            let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
                .arg("firehose_backfill")
                .arg("-")
                .arg("+")
                .query_async(&mut conn)
                .await?;
            for e in &reply.ids {
                let _: u64 = redis::cmd("XDEL")
                    .arg("firehose_backfill")
                    .arg(&e.id)
                    .query_async(&mut conn)
                    .await?;
                if let Some(text) = e.get::<String>("event") {
                    let event = serde_json::from_str::<StreamEvent>(&text)?;
                    taken.lock().unwrap().push(event);
                }
            }
            Ok(taken
                .lock()
                .unwrap()
                .iter()
                .any(|e| matches!(e, StreamEvent::Repo(_)))
                .then_some(()))
        }
    })
    .await;
    consumed.unwrap();
    let events = taken.lock().unwrap().clone();
    running.stop().await;
    assert_eq!(creates_of(&events, &repo.did), repo.records);
    pds.stop().await;
}
