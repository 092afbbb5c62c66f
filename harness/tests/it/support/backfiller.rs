//! Helpers for the backfiller's tests: signed repos, a PLC directory and PDSes on loopback, entries
//! in `repo_backfill`, an in-process backfiller, and readers for what it wrote.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use backfiller::{Service, Settings, Tally};
use bytes::Bytes;
use harness::faults::Faults;
use harness::mock::{
    MockOptions, MockPds, MockPlc, PdsAccount, PdsOptions, PdsState, PlcState, RateLimit,
};
use harness::network::did_document;
use harness::services::{TestRedis, wait_until};
use protocol::crypto::Keypair;
use protocol::data_model::json_to_cbor;
use protocol::repo::{BlockOrder, RepoBuilder};
use serde_json::json;
use streams::payloads::{RepoBackfillEntry, StreamEvent};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use super::{DEADLINE, key};

/// Base32-sortable, as TIDs and did:plc identifiers use.
const B32: &[u8] = b"234567abcdefghijklmnopqrstuvwxyz";

/// A valid, unique did:plc for `n`.
pub fn did(n: u64) -> String {
    let mut s = String::from("did:plc:");
    for i in (0..24).rev() {
        let digit = if i < 12 { (n >> (5 * i)) & 31 } else { 0 };
        s.push(B32[digit as usize] as char);
    }
    s
}

/// A valid TID for `n` (as a record key).
pub fn tid(n: u64) -> String {
    let mut s = String::from("3");
    for i in (0..12).rev() {
        s.push(B32[((n >> (5 * i)) & 31) as usize] as char);
    }
    s
}

/// What a test repo holds: `(collection, rkey, cid)` of every record.
pub struct TestRepo {
    /// The DID.
    pub did: String,
    /// The key that signed it.
    pub key: Keypair,
    /// Its CAR as the PDS serves it.
    pub car: Bytes,
    /// Commit CID.
    pub head: String,
    /// Rev.
    pub rev: String,
    /// Every record.
    pub records: BTreeSet<(String, String, String)>,
}

/// A signed repo of `did` with a profile, `posts` posts and `likes` likes.
pub fn build_repo(did: &str, posts: u64, likes: u64, seed: u64) -> TestRepo {
    let key = key(seed);
    let rev = "3n3bpaa76x22t";
    let mut builder = RepoBuilder::new(did, rev);
    let mut add = |collection: &str, rkey: &str, value: serde_json::Value| {
        builder.add(
            collection,
            rkey,
            Bytes::from(json_to_cbor(&value).expect("cbor")),
        );
    };
    add(
        "app.bsky.actor.profile",
        "self",
        json!({"$type": "app.bsky.actor.profile", "displayName": format!("user {seed}")}),
    );
    for i in 0..posts {
        add(
            "app.bsky.feed.post",
            &tid(i),
            json!({"$type": "app.bsky.feed.post", "text": format!("post {i} of {did}"), "createdAt": "2026-01-01T00:00:00.000Z"}),
        );
    }
    for i in 0..likes {
        add(
            "app.bsky.feed.like",
            &tid(1_000_000 + i),
            json!({"$type": "app.bsky.feed.like", "subject": {"uri": format!("at://{did}/app.bsky.feed.post/{}", tid(0)), "cid": "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"}, "createdAt": "2026-01-01T00:00:00.000Z"}),
        );
    }
    let built = builder.build(&key).expect("build repo");
    let records = built
        .records()
        .map(|(k, cid, _)| {
            let (c, r) = k.split_once('/').expect("key");
            (c.to_owned(), r.to_owned(), cid.to_string())
        })
        .collect();
    let car = Bytes::from(built.to_car(BlockOrder::ReferencePds).expect("car"));
    TestRepo {
        did: did.to_owned(),
        head: built.commit_cid().to_string(),
        rev: rev.to_owned(),
        key,
        car,
        records,
    }
}

/// A PDS account serving `repo`.
pub fn account(repo: &TestRepo, created_at_ms: i64) -> PdsAccount {
    let mut a = PdsAccount::from_car(&repo.did, created_at_ms, repo.car.clone()).expect("account");
    a.signing_key = Some(repo.key.clone());
    a
}

/// Starts an empty PLC directory.
pub async fn start_plc() -> MockPlc {
    MockPlc::start(PlcState::default(), MockOptions::default())
        .await
        .expect("plc")
}

/// Starts a PDS hosting `repos`, with `faults` and an optional rate limit, and registers each DID
/// in `plc` with this PDS as its endpoint.
pub async fn start_pds(
    plc: &MockPlc,
    repos: &[&TestRepo],
    faults: Faults,
    rate_limit: Option<RateLimit>,
) -> MockPds {
    let accounts = repos
        .iter()
        .enumerate()
        .map(|(i, r)| account(r, 1_700_000_000_000 + i as i64))
        .collect();
    let pds = MockPds::start(
        PdsState { accounts },
        MockOptions {
            faults,
            ..MockOptions::default()
        },
        PdsOptions { rate_limit },
    )
    .await
    .expect("pds");
    for repo in repos {
        register(plc, &repo.did, &repo.key, pds.url().as_str());
    }
    pds
}

/// Publishes a DID document for `did` with `key` and `endpoint`.
pub fn register(plc: &MockPlc, did: &str, key: &Keypair, endpoint: &str) {
    let handle = format!("{}.test", did.trim_start_matches("did:plc:"));
    let doc = did_document(
        did,
        &handle,
        &key.public_key(),
        endpoint.trim_end_matches('/'),
        None,
    );
    plc.state().write(|s| {
        s.documents.insert(did.to_owned(), doc);
    });
}

/// A `repo_backfill` entry for an active repo.
pub fn entry(did: &str) -> RepoBackfillEntry {
    RepoBackfillEntry {
        did: did.to_owned(),
        host: "https://relay.test".to_owned(),
        rev: "3n3bpaa76x22t".to_owned(),
        status: None,
        active: true,
    }
}

/// Appends entries to `repo_backfill`.
pub async fn enqueue(client: &redis::Client, entries: &[RepoBackfillEntry]) {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    for chunk in entries.chunks(500) {
        let mut pipe = redis::pipe();
        for e in chunk {
            pipe.cmd("XADD")
                .arg("repo_backfill")
                .arg("*")
                .arg("repo")
                .arg(serde_json::to_string(e).expect("json"))
                .ignore();
        }
        let () = pipe.query_async(&mut conn).await.expect("XADD");
    }
}

/// Settings for a backfiller talking to `plc` on loopback, with quick retries.
pub fn settings(plc: &MockPlc, consumer: &str) -> Settings {
    let mut s = Settings::new(consumer);
    s.plc_url = plc.url();
    s.allow_private_hosts = true;
    s.per_host_rps = 1000.0;
    s.per_host_concurrency = 4;
    s.retry_delay = Duration::from_millis(20);
    s.overflow_wait = Duration::from_millis(200);
    s.http_timeout = Duration::from_secs(2);
    s
}

/// A backfiller running in this process.
pub struct Running {
    /// Stops it.
    pub cancel: CancellationToken,
    /// Its task.
    pub task: JoinHandle<Result<(), backfiller::RunError>>,
    /// Its outcome totals.
    pub tally: Arc<Tally>,
}

impl Running {
    /// Stops it and waits for a clean end.
    pub async fn stop(self) {
        self.cancel.cancel();
        let ended = tokio::time::timeout(DEADLINE, self.task)
            .await
            .expect("backfiller drains in time");
        ended.expect("task").expect("clean stop");
    }
}

/// Starts a backfiller in this process.
pub async fn spawn(redis: &TestRedis, settings: Settings) -> Running {
    let client = redis::Client::open(redis.url()).expect("client");
    let cancel = CancellationToken::new();
    let service = Service::build(&settings, client, cancel.clone())
        .await
        .expect("build");
    let tally = service.tally();
    let c = cancel.clone();
    let task = tokio::spawn(async move { service.run(c).await });
    Running {
        cancel,
        task,
        tally,
    }
}

/// A Redis client for `redis`.
pub fn client(redis: &TestRedis) -> redis::Client {
    redis::Client::open(redis.url()).expect("client")
}

/// Every event in `firehose_backfill`.
pub async fn emitted(client: &redis::Client) -> Vec<StreamEvent> {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("firehose_backfill")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|e| {
            let text: String = e.get("event").expect("event field");
            serde_json::from_str(&text).expect("event JSON")
        })
        .collect()
}

/// Every dead letter in `repo_backfill_dlq`: `(did, reason)`.
pub async fn dead_letters(client: &redis::Client) -> Vec<(String, String)> {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg("repo_backfill_dlq")
        .arg("-")
        .arg("+")
        .query_async(&mut conn)
        .await
        .expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|e| {
            let repo: String = e.get("repo").expect("repo field");
            let reason: String = e.get("reason").expect("reason field");
            let entry: RepoBackfillEntry = serde_json::from_str(&repo).expect("payload unchanged");
            (entry.did, reason)
        })
        .collect()
}

/// DIDs with a `repo` event, in order.
pub fn finished(events: &[StreamEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Repo(m) => Some(m.did.clone()),
            _ => None,
        })
        .collect()
}

/// `(collection, rkey, cid)` of every `create` of `did`.
pub fn creates_of(events: &[StreamEvent], did: &str) -> BTreeSet<(String, String, String)> {
    events
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Create(w) if w.did == did => {
                Some((w.collection.clone(), w.rkey.clone(), w.cid.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Waits until `n` repos are finished (emitted or dead-lettered) and returns the events.
pub async fn wait_for_repos(client: &redis::Client, n: usize) -> Vec<StreamEvent> {
    wait_until("repos finished", DEADLINE, || async {
        let events = emitted(client).await;
        let done = finished(&events).len() + dead_letters(client).await.len();
        Ok((done >= n).then_some(events))
    })
    .await
    .expect("repos finished in time")
}

/// Entries of `repo_backfill` not yet acknowledged by the backfiller's group.
pub async fn pending(client: &redis::Client) -> u64 {
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let reply: redis::Value = redis::cmd("XPENDING")
        .arg("repo_backfill")
        .arg("repo_backfill_group")
        .query_async(&mut conn)
        .await
        .expect("XPENDING");
    match reply {
        redis::Value::Array(items) => match items.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            _ => 0,
        },
        _ => 0,
    }
}
