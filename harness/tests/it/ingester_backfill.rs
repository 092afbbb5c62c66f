//! The backfill ingester's enumeration against relays and PDSes: both cursor styles list every
//! repo; transient 500s and timeouts skip nothing; a page that fails forever costs exactly the one
//! entry behind it, which is recorded; a finished host is listed again when an operator resets its
//! key; and with listHosts every PDS the relay knows is listed directly.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::ingester::{DEADLINE, conn, redis, stream_entries, wait_for_value};
use bytes::Bytes;
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher};
use harness::mock::{
    AccountStatus, MockOptions, MockPds, MockRelay, PdsAccount, PdsOptions, PdsState, RelayAccount,
    RelayHost, RelayState,
};
use ingester::backfill::{
    BackfillContext, BackfillOptions, IsolateOptions, run_host, run_hosts_of, skipped_key,
};
use redis::AsyncCommands;
use serde_json::Value;
use streams::names::{FIELD_REPO, INGESTER_DONE, REPO_BACKFILL, cursor_key};
use streams::{ProducerOptions, ServiceHost};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use xrpc::{ClientConfig, XrpcClient};

const LIST_REPOS: &str = "com.atproto.sync.listRepos";

fn relay_state(n: u64) -> RelayState {
    RelayState {
        accounts: (1..=n)
            .map(|id| RelayAccount {
                id,
                did: format!("did:plc:acct{id:04}"),
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

fn client(read_timeout: Duration) -> XrpcClient {
    XrpcClient::new(ClientConfig {
        read_timeout,
        request_timeout: read_timeout * 2,
        allow_private_hosts: true,
        ..ClientConfig::default()
    })
    .unwrap()
}

fn context(redis: &redis::Client, limit: u32, recheck: Duration) -> BackfillContext {
    BackfillContext {
        redis: redis.clone(),
        xrpc: client(Duration::from_secs(10)),
        options: BackfillOptions {
            isolate: IsolateOptions {
                limit,
                max_failures: 3,
                retry_base: Duration::from_millis(5),
                retry_max: Duration::from_millis(40),
            },
            recheck,
            skipped_max_len: streams::capped::DEFAULT_MAX_LEN,
        },
        producer: ProducerOptions::default(),
        cancel: CancellationToken::new(),
    }
}

fn spawn_host(ctx: &BackfillContext, host: &str) -> JoinHandle<()> {
    let (ctx, host) = (ctx.clone(), ServiceHost::parse(host).unwrap());
    tokio::spawn(async move { run_host(ctx, host).await.unwrap() })
}

async fn stop(ctx: &BackfillContext, task: JoinHandle<()>) {
    ctx.cancel.cancel();
    tokio::time::timeout(DEADLINE, task).await.unwrap().unwrap();
}

async fn listed_dids(c: &mut redis::aio::MultiplexedConnection) -> Vec<String> {
    stream_entries(c, REPO_BACKFILL, FIELD_REPO)
        .await
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["did"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn key_of(url: &str) -> String {
    cursor_key(REPO_BACKFILL, &ServiceHost::parse(url).unwrap())
}

#[tokio::test]
async fn a_page_failing_forever_costs_only_its_entry_which_is_recorded() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let when = Matcher {
        endpoint: Some(LIST_REPOS.into()),
        cursor: Some("7".into()),
        ..Matcher::default()
    };
    let faults = Faults::new(FaultPlan::none().with(FaultRule::always(
        when,
        Fault::XrpcError {
            status: 500,
            error: "DatabaseError".into(),
            message: None,
        },
    )))
    .unwrap();
    let options = MockOptions {
        faults: faults.clone(),
        ..MockOptions::default()
    };
    let relay = MockRelay::start(relay_state(40), options).await.unwrap();
    let url = relay.url().to_string();
    let ctx = context(&client, 7, Duration::from_secs(600));
    let task = spawn_host(&ctx, &url);

    wait_for_value(&c, &key_of(&url), INGESTER_DONE).await;
    let listed = listed_dids(&mut c).await;
    let expected: Vec<String> = (1..=40u64)
        .filter(|id| *id != 8)
        .map(|id| format!("did:plc:acct{id:04}"))
        .collect();
    assert_eq!(
        listed, expected,
        "everything but the entry after cursor 7, once, in order"
    );
    let host = ServiceHost::parse(&url).unwrap();
    let skipped = stream_entries(&mut c, &skipped_key(&host), "skipped").await;
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    let record: Value = serde_json::from_str(&skipped[0]).unwrap();
    assert_eq!(record["cursor"], "7");
    assert_eq!(record["next_cursor"], "8");
    assert_eq!(record["limit"], 1);
    assert!(
        record["error"].as_str().unwrap().contains("DatabaseError"),
        "{record}"
    );
    // The page shrank to one entry before anything was skipped.
    let fired = faults.fired();
    assert!(fired.len() >= 3 * 3, "{} failures", fired.len());
    stop(&ctx, task).await;
}

#[tokio::test]
async fn transient_errors_and_timeouts_skip_nothing() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let at = |cursor: &str| Matcher {
        endpoint: Some(LIST_REPOS.into()),
        cursor: Some(cursor.into()),
        ..Matcher::default()
    };
    let plan = FaultPlan::none()
        .with(FaultRule::first(2, at("10"), Fault::Status { status: 500 }))
        .with(FaultRule::first(
            2,
            at("20"),
            Fault::HtmlError { status: 503 },
        ))
        // Slower than the client waits: two timeouts.
        .with(FaultRule::first(2, at("30"), Fault::Delay { ms: 2_000 }))
        // More failures than max_failures: the page shrinks, and the host recovers before any skip.
        .with(FaultRule::first(
            5,
            at("40"),
            Fault::XrpcError {
                status: 502,
                error: "UpstreamFailure".into(),
                message: None,
            },
        ));
    let faults = Faults::new(plan).unwrap();
    let options = MockOptions {
        faults: faults.clone(),
        ..MockOptions::default()
    };
    let relay = MockRelay::start(relay_state(55), options).await.unwrap();
    let url = relay.url().to_string();
    let mut ctx = context(&client, 10, Duration::from_secs(600));
    ctx.xrpc = client_with_timeout();
    let task = spawn_host(&ctx, &url);

    wait_for_value(&c, &key_of(&url), INGESTER_DONE).await;
    let listed = listed_dids(&mut c).await;
    let expected: Vec<String> = (1..=55u64)
        .map(|id| format!("did:plc:acct{id:04}"))
        .collect();
    assert_eq!(listed, expected);
    let host = ServiceHost::parse(&url).unwrap();
    let skipped: u64 = c.xlen(skipped_key(&host)).await.unwrap();
    assert_eq!(skipped, 0);
    let fired: Vec<usize> = (0..4).map(|rule| faults.fired_count(rule)).collect();
    assert_eq!(fired, [2, 2, 2, 5]);
    stop(&ctx, task).await;
}

fn client_with_timeout() -> XrpcClient {
    client(Duration::from_millis(300))
}

fn pds_accounts(n: i64) -> Vec<PdsAccount> {
    (0..n)
        .map(|i| PdsAccount {
            did: format!("did:plc:pds{i:04}"),
            handle: None,
            created_at_ms: 1_732_000_000_000 + (i % 7) * 1000 + i,
            status: match i % 9 {
                4 => AccountStatus::Deactivated,
                5 => AccountStatus::Takendown,
                _ => AccountStatus::Active,
            },
            head: "bafyreihead".into(),
            rev: "3l3qo2vutsw2b".into(),
            car: Bytes::new(),
            signing_key: None,
        })
        .collect()
}

#[tokio::test]
async fn a_pds_cursor_listing_ends_on_its_empty_page_with_statuses() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let accounts = pds_accounts(23);
    let pds = MockPds::start(
        PdsState {
            accounts: accounts.clone(),
        },
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    let url = pds.url().to_string();
    let ctx = context(&client, 5, Duration::from_secs(600));
    let task = spawn_host(&ctx, &url);

    wait_for_value(&c, &key_of(&url), INGESTER_DONE).await;
    let entries = stream_entries(&mut c, REPO_BACKFILL, FIELD_REPO).await;
    assert_eq!(entries.len(), 23);
    let origin = url.trim_end_matches('/');
    for entry in &entries {
        let value: Value = serde_json::from_str(entry).unwrap();
        let did = value["did"].as_str().unwrap();
        let account = accounts.iter().find(|a| a.did == did).unwrap();
        assert_eq!(value["host"], origin);
        assert_eq!(value["rev"], "3l3qo2vutsw2b");
        match account.status {
            AccountStatus::Active => {
                assert_eq!(value["active"], true);
                assert!(value.get("status").is_none(), "{entry}");
            }
            status => {
                assert_eq!(value["active"], false);
                assert_eq!(value["status"], status.as_str());
            }
        }
    }
    let dids: BTreeSet<String> = entries
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(e).unwrap()["did"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(dids.len(), 23, "each repo once");
    stop(&ctx, task).await;
}

#[tokio::test]
async fn a_finished_host_is_listed_again_when_its_key_is_reset() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let relay = MockRelay::start(relay_state(12), MockOptions::default())
        .await
        .unwrap();
    let url = relay.url().to_string();
    let key = key_of(&url);
    let ctx = context(&client, 5, Duration::from_millis(100));
    let task = spawn_host(&ctx, &url);

    wait_for_value(&c, &key, INGESTER_DONE).await;
    assert_eq!(listed_dids(&mut c).await.len(), 12);
    // An operator restarts the listing from id 6.
    let _: () = c.set(&key, "6").await.unwrap();
    let probe = c.clone();
    harness::services::wait_until("the relisting", DEADLINE, || {
        let mut probe = probe.clone();
        async move {
            let len: u64 = probe.xlen(REPO_BACKFILL).await?;
            Ok((len >= 18).then_some(len))
        }
    })
    .await
    .unwrap();
    wait_for_value(&c, &key, INGESTER_DONE).await;
    let listed = listed_dids(&mut c).await;
    let again: Vec<String> = (7..=12u64)
        .map(|id| format!("did:plc:acct{id:04}"))
        .collect();
    assert_eq!(listed.len(), 18, "{listed:?}");
    assert_eq!(listed[12..], again[..]);
    stop(&ctx, task).await;
}

#[tokio::test]
async fn list_hosts_lists_every_pds_directly() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let pds_a = MockPds::start(
        PdsState {
            accounts: pds_accounts(9),
        },
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    let mut other = pds_accounts(4);
    for account in &mut other {
        account.did = account.did.replace("pds", "other");
    }
    let pds_b = MockPds::start(
        PdsState { accounts: other },
        MockOptions::default(),
        PdsOptions::default(),
    )
    .await
    .unwrap();
    let host_of = |pds: &MockPds| pds.server().host();
    let mut state = relay_state(3);
    state.hosts = vec![
        RelayHost {
            id: 1,
            hostname: host_of(&pds_a),
            account_count: 9,
            status: "active".into(),
        },
        RelayHost {
            id: 2,
            hostname: host_of(&pds_b),
            account_count: 4,
            status: "active".into(),
        },
        RelayHost {
            id: 3,
            hostname: "banned.example".into(),
            account_count: 1,
            status: "banned".into(),
        },
    ];
    let relay = MockRelay::start(state, MockOptions::default())
        .await
        .unwrap();
    let ctx = context(&client, 3, Duration::from_secs(600));
    let relay_host = ServiceHost::parse(relay.url().as_ref()).unwrap();
    let task = {
        let (ctx, pds) = (ctx.clone(), client_with_timeout());
        tokio::spawn(async move { run_hosts_of(ctx, relay_host, pds, true).await.unwrap() })
    };
    for pds in [&pds_a, &pds_b] {
        wait_for_value(&c, &key_of(pds.url().as_ref()), INGESTER_DONE).await;
    }
    let entries = stream_entries(&mut c, REPO_BACKFILL, FIELD_REPO).await;
    assert_eq!(entries.len(), 13);
    for entry in &entries {
        let value: Value = serde_json::from_str(entry).unwrap();
        let did = value["did"].as_str().unwrap();
        let pds = if did.starts_with("did:plc:pds") {
            &pds_a
        } else {
            &pds_b
        };
        assert_eq!(value["host"], pds.url().to_string().trim_end_matches('/'));
    }
    // The relay's own accounts were not listed, nor the banned host.
    assert!(entries.iter().all(|e| !e.contains("did:plc:acct")));
    let banned: Option<String> = c.get(key_of("banned.example")).await.unwrap();
    assert_eq!(banned, None);
    stop(&ctx, task).await;
}
