//! The backfiller's end-to-end proof on a generated network: 1,000 accounts on ten mock PDSes
//! (one repo of 100,000 records among them), resolved through a mock PLC directory, with faults
//! of every kind at once, fed to `repo_backfill` as the ingester lists them.
//!
//! What must hold at the end:
//! - `firehose_backfill` holds exactly the generator's records of every healthy repo (did,
//!   collection, rkey, cid), each once, and one `repo` event per healthy repo; nothing of a faulty
//!   one;
//! - every faulty repo is in `repo_backfill_dlq` with its reason, and nothing else is;
//! - emitted + skipped (inactive) + dead-lettered = entries fed, and nothing is left pending;
//! - no PDS ever saw more requests in a one-second window than the backfiller's per-host rate
//!   (each mock also enforces that rate and never had to refuse a request).
//!
//! One host answers 429 to every `getRepo` until every other repo is accounted for: its repos
//! must neither stall the others nor be dead-lettered, and once it recovers they are all emitted.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::support::backfiller::{client, dead_letters, enqueue, pending, settings, spawn};
use harness::faults::{Fault, FaultRule, Faults, Matcher, RepoDefect};
use harness::mock::{
    AccountStatus as MockStatus, MockOptions, MockPds, MockPlc, PdsOptions, RateLimit,
};
use harness::network::{Account, Endpoints, Network, NetworkSpec};
use harness::services::{TestRedis, wait_until};
use streams::payloads::RepoBackfillEntry;

/// Seed of the network (chosen so that account 0, the giant repo, is active).
const SEED: u64 = 20_261_127;
/// Accounts and PDS hosts.
const ACCOUNTS: usize = 1_000;
const HOSTS: usize = 10;
/// Records of account 0's repo.
const GIANT: u32 = 100_000;
/// Requests per second per PDS host: the backfiller's pace and each mock's own limit.
const RPS: u32 = 25;
/// Longest wait for each phase.
const PHASE_DEADLINE: Duration = Duration::from_secs(100);
/// A DID the directory has never heard of.
const UNKNOWN_DID: &str = "did:plc:bf2nobodyhome23456723456";
/// The DID a forged commit names.
const OTHER_DID: &str = "did:plc:bf2someoneelse2345672345";

/// `(collection, rkey, cid)` of records.
type Records = BTreeSet<(String, String, String)>;

/// What is done to a victim repo.
enum Action {
    /// A fault rule aimed at its `getRepo`.
    Rule(fn(Matcher) -> FaultRule),
    /// Its account changes status at the PDS after it was listed as active.
    Status(MockStatus),
    /// It disappears from the PDS after it was listed.
    Remove,
}

/// A fault for one repo and what must come of it: dead-lettered with a reason containing the
/// text, or (`None`) emitted in full after the retries.
fn victim_table() -> Vec<(&'static str, Action, Option<&'static str>)> {
    use Action::{Remove, Rule, Status};
    vec![
        (
            "bad signature",
            Rule(|m| FaultRule::always(m, broken(RepoDefect::BadSignature))),
            Some("bad signature"),
        ),
        (
            "wrong DID",
            Rule(|m| {
                FaultRule::always(
                    m,
                    broken(RepoDefect::OtherDid {
                        did: OTHER_DID.to_owned(),
                    }),
                )
            }),
            Some("wrong DID"),
        ),
        (
            "taken down",
            Status(MockStatus::Takendown),
            Some("RepoTakendown"),
        ),
        (
            "deactivated",
            Status(MockStatus::Deactivated),
            Some("RepoDeactivated"),
        ),
        ("missing", Remove, Some("RepoNotFound")),
        (
            "always truncated",
            Rule(|m| FaultRule::always(m, Fault::Truncate { at_byte: 120 })),
            Some("corrupt CAR"),
        ),
        (
            "bad block hash",
            Rule(|m| FaultRule::always(m, broken(RepoDefect::BadBlockHash))),
            Some("corrupt CAR"),
        ),
        (
            "missing block",
            Rule(|m| FaultRule::always(m, broken(RepoDefect::MissingBlock))),
            Some("corrupt CAR"),
        ),
        (
            "wrong root",
            Rule(|m| FaultRule::always(m, broken(RepoDefect::WrongRoot))),
            Some("corrupt CAR"),
        ),
        (
            "always 503",
            Rule(|m| FaultRule::always(m, Fault::Status { status: 503 })),
            Some("503"),
        ),
        (
            "two 500s",
            Rule(|m| FaultRule::first(2, m, Fault::Status { status: 500 })),
            None,
        ),
        (
            "one 502 page from a proxy",
            Rule(|m| FaultRule::first(1, m, Fault::HtmlError { status: 502 })),
            None,
        ),
        (
            "one timeout",
            Rule(|m| FaultRule::first(1, m, Fault::Delay { ms: 2_500 })),
            None,
        ),
        (
            "one truncated download",
            Rule(|m| FaultRule::first(1, m, Fault::Truncate { at_byte: 120 })),
            None,
        ),
        (
            "one reset connection",
            Rule(|m| FaultRule::first(1, m, Fault::Reset)),
            None,
        ),
        (
            "one corrupt download",
            Rule(|m| FaultRule::first(1, m, broken(RepoDefect::BadBlockHash))),
            None,
        ),
    ]
}

fn broken(defect: RepoDefect) -> Fault {
    Fault::BrokenRepo { defect }
}

fn get_repo(did: Option<&str>) -> Matcher {
    Matcher {
        endpoint: Some("com.atproto.sync.getRepo".to_owned()),
        did: did.map(str::to_owned),
        ..Matcher::default()
    }
}

fn spec() -> NetworkSpec {
    NetworkSpec {
        accounts: ACCOUNTS,
        pds_hosts: HOSTS,
        labelers: 0,
        // did:web hosts are names in the generator, not addresses the backfiller can reach.
        did_web_fraction: 0.0,
        typical_records: harness::network::spec::RecordRange { min: 1, max: 60 },
        heavy_fraction: 0.0,
        giant_records: Some(GIANT),
        ..NetworkSpec::small(SEED, ACCOUNTS)
    }
}

/// Which host plays which part.
struct Roles {
    /// Holds account 0's giant repo (no host-wide fault).
    giant: usize,
    /// Answers 429 to every `getRepo` until released.
    blocked: usize,
    /// Sends every body a little at a time.
    trickle: usize,
    /// Start with a burst of 429s.
    bursts: [usize; 2],
}

fn roles(network: &Network) -> Roles {
    let giant = network.accounts().first().map_or(0, |a| a.pds);
    let others: Vec<usize> = (0..HOSTS).filter(|h| *h != giant).collect();
    Roles {
        giant,
        blocked: others[others.len() - 1],
        trickle: others[others.len() - 2],
        bursts: [others[0], others[1]],
    }
}

/// The generated network served by a PLC directory and ten PDSes, each with its own fault plan
/// and a rate limit of [`RPS`].
struct World {
    network: Network,
    /// `repo_backfill` entries as a relay lists the accounts.
    listed: Vec<RepoBackfillEntry>,
    plc: MockPlc,
    pdses: Vec<MockPds>,
    faults: Vec<Faults>,
}

async fn start_world() -> World {
    // The servers first: DID documents name their addresses.
    let plc = MockPlc::start(Default::default(), MockOptions::default())
        .await
        .unwrap();
    let mut pdses = Vec::with_capacity(HOSTS);
    let mut faults = Vec::with_capacity(HOSTS);
    for _ in 0..HOSTS {
        let f = Faults::none();
        let options = MockOptions {
            faults: f.clone(),
            ..MockOptions::default()
        };
        let limit = PdsOptions {
            rate_limit: Some(RateLimit {
                limit: RPS,
                window_secs: 1,
            }),
        };
        pdses.push(
            MockPds::start(Default::default(), options, limit)
                .await
                .unwrap(),
        );
        faults.push(f);
    }
    let endpoints = Endpoints {
        pds: pdses
            .iter()
            .map(|p| p.url().as_str().trim_end_matches('/').to_owned())
            .collect(),
        ..Endpoints::default()
    };
    let (network, states) = tokio::task::spawn_blocking(move || {
        let network = Network::generate(spec()).unwrap();
        let states = network.mock_states(&endpoints, 2).unwrap();
        (network, states)
    })
    .await
    .unwrap();
    for (pds, state) in pdses.iter().zip(states.pds) {
        pds.state().replace(state);
    }
    plc.state().replace(states.plc);
    let listed = states
        .relay
        .accounts
        .iter()
        .map(|a| RepoBackfillEntry {
            did: a.did.clone(),
            host: "https://relay.test".to_owned(),
            rev: a.rev.clone(),
            status: a.status.clone(),
            active: a.active,
        })
        .collect();
    World {
        network,
        listed,
        plc,
        pdses,
        faults,
    }
}

/// The faults in force and what they must produce.
struct Planted {
    roles: Roles,
    /// Reason (a part of it) by DID, for every repo that must be dead-lettered.
    dead: HashMap<String, &'static str>,
    /// Repos whose faults pass: `(what, did)`.
    recovering: Vec<(&'static str, String)>,
    /// Repos with a fault rule: `(what, host, did)`.
    ruled: Vec<(&'static str, usize, String)>,
}

/// Puts the host-wide faults and one repo per row of [`victim_table`] in place, the latter on
/// repos with records away from the blocked and trickling hosts.
fn plant(world: &World) -> Planted {
    let roles = roles(&world.network);
    let faults = &world.faults;
    let host_wide = |host: usize, rule| faults[host].push(rule).unwrap();
    let rate_limited = Fault::RateLimited {
        retry_after_secs: 1,
    };
    host_wide(
        roles.blocked,
        FaultRule::always(get_repo(None), rate_limited.clone()),
    );
    host_wide(
        roles.trickle,
        FaultRule::always(
            get_repo(None),
            Fault::Trickle {
                chunk_bytes: 512,
                interval_ms: 1,
            },
        ),
    );
    for host in roles.bursts {
        host_wide(
            host,
            FaultRule::first(8, get_repo(None), rate_limited.clone()),
        );
    }
    let avoid = [roles.blocked, roles.trickle];
    let mut eligible =
        world.network.accounts().iter().skip(1).filter(move |a| {
            a.status.is_active() && a.plan.records >= 2 && !avoid.contains(&a.pds)
        });
    let mut planted = Planted {
        roles,
        dead: HashMap::new(),
        recovering: Vec::new(),
        ruled: Vec::new(),
    };
    for (name, action, dead) in victim_table() {
        let account = eligible.next().expect("enough eligible accounts");
        let did = account.did.clone();
        let pds = &world.pdses[account.pds];
        match action {
            Action::Rule(rule) => {
                faults[account.pds]
                    .push(rule(get_repo(Some(&did))))
                    .unwrap();
                planted.ruled.push((name, account.pds, did.clone()));
            }
            Action::Status(status) => pds.state().write(|s| {
                for a in s.accounts.iter_mut().filter(|a| a.did == did) {
                    a.status = status;
                }
            }),
            Action::Remove => pds.state().write(|s| s.accounts.retain(|a| a.did != did)),
        }
        match dead {
            Some(reason) => {
                planted.dead.insert(did, reason);
            }
            None => planted.recovering.push((name, did)),
        }
    }
    planted
        .dead
        .insert(UNKNOWN_DID.to_owned(), "unresolvable DID");
    planted
}

/// Every create and repo event of `firehose_backfill`, read in pages.
struct Output {
    creates: HashMap<String, Records>,
    /// `repo` events per DID.
    repos: HashMap<String, usize>,
    /// `create` events in all.
    total: usize,
}

async fn read_output(client: &redis::Client) -> Output {
    #[derive(serde::Deserialize)]
    struct Event {
        #[serde(rename = "type")]
        kind: String,
        did: String,
        collection: Option<String>,
        rkey: Option<String>,
        cid: Option<String>,
    }
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut out = Output {
        creates: HashMap::new(),
        repos: HashMap::new(),
        total: 0,
    };
    let mut from = "-".to_owned();
    loop {
        let page: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg("firehose_backfill")
            .arg(&from)
            .arg("+")
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut conn)
            .await
            .unwrap();
        let Some(last) = page.ids.last() else {
            return out;
        };
        from = format!("({}", last.id);
        for entry in &page.ids {
            let text: String = entry.get("event").expect("event field");
            let event: Event = serde_json::from_str(&text).expect("event JSON");
            match event.kind.as_str() {
                "create" => {
                    out.total += 1;
                    out.creates.entry(event.did).or_default().insert((
                        event.collection.unwrap_or_default(),
                        event.rkey.unwrap_or_default(),
                        event.cid.unwrap_or_default(),
                    ));
                }
                "repo" => *out.repos.entry(event.did).or_default() += 1,
                other => panic!("unexpected {other} event in firehose_backfill"),
            }
        }
    }
}

/// The dead letters are exactly the planted ones, each with its reason; the retried ones used
/// every delivery.
async fn check_dead_letters(client: &redis::Client, planted: &Planted, max_deliveries: u64) {
    let dead = dead_letters(client).await;
    assert_eq!(dead.len(), planted.dead.len(), "{dead:#?}");
    for (did, reason) in &dead {
        let want = planted
            .dead
            .get(did)
            .unwrap_or_else(|| panic!("{did} dead-lettered but healthy: {reason}"));
        assert!(reason.contains(want), "{did}: {reason:?} lacks {want:?}");
        if *want == "corrupt CAR" || *want == "503" {
            let last = format!("delivery {max_deliveries} of {max_deliveries}");
            assert!(reason.contains(&last), "{reason}");
        }
    }
}

/// `firehose_backfill` holds the generator's records of every healthy repo, each once, one
/// `repo` event per healthy repo, and nothing of the others. Returns the records expected.
fn check_output(output: &Output, network: &Network, planted: &Planted) -> usize {
    let healthy: Vec<&Account> = network
        .accounts()
        .iter()
        .filter(|a| a.status.is_active() && !planted.dead.contains_key(&a.did))
        .collect();
    assert_eq!(output.repos.len(), healthy.len());
    let mut expected_total = 0;
    for account in healthy {
        let did = &account.did;
        let records: Records = network
            .records(account)
            .unwrap()
            .into_iter()
            .map(|r| (r.collection, r.rkey, r.cid.to_string()))
            .collect();
        assert_eq!(output.repos.get(did), Some(&1), "one repo event for {did}");
        let got = output.creates.get(did);
        let same = got.map_or(records.is_empty(), |got| *got == records);
        let n = got.map_or(0, BTreeSet::len);
        assert!(same, "{did}: {n} records emitted of {}", records.len());
        expected_total += records.len();
    }
    assert_eq!(output.total, expected_total, "each record exactly once");
    assert!(output.creates.keys().all(|d| !planted.dead.contains_key(d)));
    expected_total
}

/// Every planted fault was served, and the repos whose faults pass were emitted.
fn check_faults_served(world: &World, planted: &Planted, output: &Output) {
    for (name, did) in &planted.recovering {
        assert!(output.repos.contains_key(did), "{name}: {did} emitted");
    }
    for (name, host, did) in &planted.ruled {
        let fired = world.faults[*host].fired();
        let hit = fired.iter().any(|f| f.target.did.as_deref() == Some(did));
        assert!(hit, "{name}: the fault on {did} was served");
    }
    let roles = &planted.roles;
    assert!(
        world.faults[roles.trickle].fired_count(0) > 0,
        "bodies trickled"
    );
    for host in roles.bursts {
        let burst = world.faults[host].fired_count(0);
        assert_eq!(burst, 8, "the burst of 429s was served");
    }
}

/// No one-second window at any host held more than [`RPS`] requests, and no host refused one.
fn check_pace(world: &World) {
    for (host, pds) in world.pdses.iter().enumerate() {
        let peak = pds.limiter().max_in_window(None, Duration::from_secs(1));
        assert!(
            peak <= RPS as usize,
            "host {host}: {peak} requests in a second"
        );
        let refused = pds.limiter().limited_count();
        assert_eq!(refused, 0, "host {host} refused requests");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_repos_on_a_faulty_network() {
    let begin = Instant::now();
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let world = start_world().await;
    let generated = begin.elapsed();
    let accounts = world.network.accounts();
    assert!(
        accounts[0].status.is_active(),
        "pick a seed with account 0 active"
    );
    let planted = plant(&world);
    let blocked = planted.roles.blocked;

    // The input: every account as listed (giant first), and a DID nobody knows.
    let mut entries = world.listed.clone();
    entries.push(RepoBackfillEntry {
        did: UNKNOWN_DID.to_owned(),
        host: "https://relay.test".to_owned(),
        rev: "3n3bpaa76x22t".to_owned(),
        status: None,
        active: true,
    });
    let inactive = entries.iter().filter(|e| !e.active).count() as u64;
    let blocked_active: Vec<&Account> = accounts
        .iter()
        .filter(|a| a.pds == blocked && a.status.is_active())
        .collect();
    assert!(inactive > 0 && blocked_active.len() > 16);
    let input = entries.len() as u64;
    enqueue(&client, &entries).await;

    let mut s = settings(&world.plc, "bf2");
    s.per_host_rps = f64::from(RPS);
    s.per_host_concurrency = 4;
    s.concurrency = 10;
    s.per_host_queue = 16;
    s.http_timeout = Duration::from_secs(1);
    s.park_hold = Duration::from_secs(2);
    s.retry_delay = Duration::from_millis(20);
    let max_deliveries = s.max_deliveries;
    let started = Instant::now();
    let running = spawn(&redis, s).await;
    let tally = running.tally.clone();
    let accounted = || {
        let (e, s, d) = tally.finals();
        e + s + d
    };

    // Phase 1: everything but the blocked host's active repos ends while it keeps refusing.
    let others = input - blocked_active.len() as u64;
    wait_until("every other host's repos", PHASE_DEADLINE, || async {
        Ok((accounted() >= others).then_some(()))
    })
    .await
    .unwrap();
    let phase1 = started.elapsed();
    assert_eq!(accounted(), others, "nothing of the blocked host ended");
    assert!(
        world.faults[blocked].fired_count(0) > 0,
        "the host was asked"
    );
    assert!(
        tally.requeued.load(Ordering::Relaxed) > 0,
        "the blocked host's overflow went to the back of the stream"
    );
    let so_far = read_output(&client).await;
    let dead_so_far = dead_letters(&client).await;
    for account in &blocked_active {
        assert!(!so_far.repos.contains_key(&account.did), "{}", account.did);
        assert!(dead_so_far.iter().all(|(d, _)| *d != account.did));
    }

    // Phase 2: the host recovers; its repos are emitted, none dead-lettered.
    world.faults[blocked].clear();
    wait_until("every entry accounted for", PHASE_DEADLINE, || async {
        Ok((accounted() >= input).then_some(()))
    })
    .await
    .unwrap();
    wait_until("nothing pending", PHASE_DEADLINE, || async {
        Ok((pending(&client).await == 0).then_some(()))
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    running.stop().await;

    // emitted + skipped + dead-lettered = input, each as expected.
    let (emitted, skipped, dead) = tally.finals();
    assert_eq!(emitted + skipped + dead, input);
    assert_eq!(skipped, inactive);
    assert_eq!(dead, planted.dead.len() as u64);
    check_dead_letters(&client, &planted, max_deliveries).await;
    let output = read_output(&client).await;
    let records = tokio::task::block_in_place(|| check_output(&output, &world.network, &planted));
    assert_eq!(emitted, output.repos.len() as u64);
    let giant = &accounts[0].did;
    assert_eq!(
        output.creates.get(giant).map(BTreeSet::len),
        Some(GIANT as usize)
    );
    check_faults_served(&world, &planted, &output);
    check_pace(&world);
    eprintln!(
        "{} entries ({records} records, giant on host {}): network generated in {generated:?}, \
         backfilled in {elapsed:?} (blocked host released after {phase1:?}), {dead} dead \
         letters, {skipped} inactive; whole test {:?}",
        entries.len(),
        planted.roles.giant,
        begin.elapsed()
    );
    for pds in world.pdses {
        pds.stop().await;
    }
    world.plc.stop().await;
}
