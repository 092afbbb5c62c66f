//! The consumer runner against a real Redis: each test breaks one rule of the contract's "Consumer
//! groups" if the runner does.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::streams::{
    DEADLINE, conn, create_group, handler, options, pending, produce, redis, spawn, stop,
};
use harness::services::wait_until;
use streams::consumer::did_partition;
use streams::{Consumer, Outcome};
use tokio::sync::Notify;

fn numbered(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{{\"n\":{i}}}")).collect()
}

fn number(d: &streams::Delivery) -> usize {
    #[derive(serde::Deserialize)]
    struct N {
        n: usize,
    }
    d.json::<N>().expect("test payload").n
}

/// Rule 2: a group whose last-delivered id is ahead of its stream is healed, at start and while
/// running; without the heal the consumer would read nothing.
#[tokio::test]
async fn group_ahead_of_its_stream_is_healed() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    produce(&client, "s", &numbered(10)).await;
    create_group(&mut c, "s", "g").await;
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg("s")
        .arg("g")
        .arg("99999999999999-0")
        .query_async(&mut c)
        .await
        .unwrap();

    let seen = Arc::new(Mutex::new(HashSet::new()));
    let s2 = seen.clone();
    let consumer = Consumer::new(
        client.clone(),
        options("g", "c1", &["s"]),
        handler(move |d| {
            let seen = s2.clone();
            async move {
                seen.lock().unwrap().insert(number(&d));
                Outcome::Done
            }
        }),
    );
    let (task, cancel) = spawn(consumer);
    wait_until("the 10 entries before the heal", DEADLINE, || {
        let n = seen.lock().unwrap().len();
        async move { Ok((n == 10).then_some(())) }
    })
    .await
    .unwrap();

    // While running: the group jumps ahead again, then new entries arrive.
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg("s")
        .arg("g")
        .arg("99999999999999-0")
        .query_async(&mut c)
        .await
        .unwrap();
    let more: Vec<String> = (10..20).map(|i| format!("{{\"n\":{i}}}")).collect();
    produce(&client, "s", &more).await;
    wait_until("the 10 entries after the second heal", DEADLINE, || {
        let n = seen.lock().unwrap().len();
        async move { Ok((n == 20).then_some(())) }
    })
    .await
    .unwrap();
    stop(task, cancel).await;
    assert_eq!(*seen.lock().unwrap(), (0..20).collect::<HashSet<_>>());
}

/// Rule 3: a consumer killed with entries pending has them claimed by another, which handles and
/// acknowledges each exactly once.
#[tokio::test]
async fn killed_consumers_entries_are_claimed_and_handled_once() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    let ids = produce(&client, "s", &numbered(50)).await;

    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicBool::new(false));
    let (st, fin) = (started.clone(), finished.clone());
    let mut o = options("g", "doomed", &["s"]);
    o.batch_size = 10;
    o.concurrency = 5;
    let doomed = Consumer::new(
        client.clone(),
        o,
        handler(move |_d| {
            let (st, fin) = (st.clone(), fin.clone());
            async move {
                st.fetch_add(1, Ordering::SeqCst);
                std::future::pending::<()>().await;
                fin.store(true, Ordering::SeqCst);
                Outcome::Done
            }
        }),
    );
    let (task, _cancel) = spawn(doomed);
    // Each of the 5 calls has started on its first entry: all 50 are held and pending.
    wait_until("the doomed consumer to hold every entry", DEADLINE, || {
        let n = started.load(Ordering::SeqCst);
        async move { Ok((n == 5).then_some(())) }
    })
    .await
    .unwrap();
    assert_eq!(pending(&mut c, "s", "g").await, 50);
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());

    let handled = Arc::new(Mutex::new(Vec::new()));
    let h2 = handled.clone();
    let mut o = options("g", "rescuer", &["s"]);
    o.claim_idle = Duration::from_millis(300);
    o.concurrency = 4;
    let rescuer = Consumer::new(
        client.clone(),
        o,
        handler(move |d| {
            let handled = h2.clone();
            async move {
                handled
                    .lock()
                    .unwrap()
                    .push((d.id().to_owned(), d.deliveries()));
                Outcome::Done
            }
        }),
    );
    let (task, cancel) = spawn(rescuer);
    let probe = c.clone();
    wait_until(
        "every entry claimed, handled and acknowledged",
        DEADLINE,
        || {
            let n = handled.lock().unwrap().len();
            let mut probe = probe.clone();
            async move { Ok((n >= 50 && pending(&mut probe, "s", "g").await == 0).then_some(())) }
        },
    )
    .await
    .unwrap();
    stop(task, cancel).await;
    assert_eq!(pending(&mut c, "s", "g").await, 0);
    let handled = handled.lock().unwrap().clone();
    let mut handled_ids: Vec<String> = handled.iter().map(|(id, _)| id.clone()).collect();
    handled_ids.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(handled_ids, expected, "each entry handled exactly once");
    assert!(
        handled.iter().all(|(_, n)| *n == 2),
        "claimed entries report their second delivery: {handled:?}"
    );
    assert!(!finished.load(Ordering::SeqCst));
}

/// Rule 7 with rule 6: entries of one DID are handled one at a time in stream order, including
/// across retries, while different DIDs run concurrently.
#[tokio::test]
async fn per_did_order_holds_under_concurrency() {
    let (_server, client) = redis().await;
    let dids = 16;
    let per_did = 60;
    // Interleave DIDs pseudo-randomly, numbering each DID's events in stream order.
    let mut next = vec![0usize; dids];
    let mut state = 0x2545_f491_u64;
    let mut payloads = Vec::new();
    while payloads.len() < dids * per_did {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let d = (state % dids as u64) as usize;
        if next[d] < per_did {
            payloads.push(format!(r#"{{"did":"did:plc:{d}","n":{}}}"#, next[d]));
            next[d] += 1;
        }
    }
    produce(&client, "s", &payloads).await;

    let done: Arc<Mutex<HashMap<String, Vec<usize>>>> = Arc::default();
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let overlaps = Arc::new(AtomicUsize::new(0));
    let max_parallel = Arc::new(AtomicUsize::new(0));
    let (d2, b2, o2, m2) = (
        done.clone(),
        busy.clone(),
        overlaps.clone(),
        max_parallel.clone(),
    );
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 16;
    o.batch_size = 3;
    let consumer = Consumer::new(
        client.clone(),
        o,
        handler(move |d| {
            let (done, busy, overlaps, max_parallel) =
                (d2.clone(), b2.clone(), o2.clone(), m2.clone());
            async move {
                let did = did_partition(&d).expect("did");
                let n = number(&d);
                {
                    let mut busy = busy.lock().unwrap();
                    if !busy.insert(did.clone()) {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    max_parallel.fetch_max(busy.len(), Ordering::SeqCst);
                }
                // Uneven work so that unordered handling would reorder.
                tokio::time::sleep(Duration::from_micros(((n * 7919) % 5 * 400) as u64)).await;
                busy.lock().unwrap().remove(&did);
                if n % 13 == 5 && d.deliveries() == 1 {
                    return Outcome::Retry("transient".into());
                }
                done.lock().unwrap().entry(did).or_default().push(n);
                Outcome::Done
            }
        }),
    )
    .with_partition(did_partition);
    let (task, cancel) = spawn(consumer);
    wait_until("every event handled", DEADLINE, || {
        let n: usize = done.lock().unwrap().values().map(Vec::len).sum();
        async move { Ok((n == dids * per_did).then_some(())) }
    })
    .await
    .unwrap();
    stop(task, cancel).await;
    assert_eq!(
        overlaps.load(Ordering::SeqCst),
        0,
        "two events of one DID in work at once"
    );
    for (did, seen) in done.lock().unwrap().iter() {
        assert_eq!(*seen, (0..per_did).collect::<Vec<_>>(), "order of {did}");
    }
    assert!(
        max_parallel.load(Ordering::SeqCst) > 1,
        "different DIDs should run concurrently"
    );
}

/// Records every call's entries as (did, n), failing entry n == 7 of did:plc:a once, and counts
/// calls that held a DID another call held at the same time.
#[derive(Default)]
struct RunRecorder {
    calls: Mutex<Vec<Vec<(String, usize)>>>,
    done: Mutex<HashMap<String, Vec<usize>>>,
    busy: Mutex<HashSet<String>>,
    overlaps: AtomicUsize,
}

/// The consumer's handle on a shared [`RunRecorder`].
struct RunHandler(Arc<RunRecorder>);

impl streams::Handler for RunHandler {
    async fn handle(&self, batch: Vec<streams::Delivery>) -> Vec<Outcome> {
        self.0.record(batch).await
    }
}

impl RunRecorder {
    async fn record(&self, batch: Vec<streams::Delivery>) -> Vec<Outcome> {
        let entries: Vec<(String, usize, u64)> = batch
            .iter()
            .map(|d| (did_partition(d).expect("did"), number(d), d.deliveries()))
            .collect();
        let dids: HashSet<String> = entries.iter().map(|(did, _, _)| did.clone()).collect();
        {
            let mut busy = self.busy.lock().unwrap();
            for did in &dids {
                if !busy.insert(did.clone()) {
                    self.overlaps.fetch_add(1, Ordering::SeqCst);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
        let mut out = Vec::new();
        let mut done = self.done.lock().unwrap();
        for (did, n, deliveries) in &entries {
            if did == "did:plc:a" && *n == 7 && *deliveries == 1 {
                out.push(Outcome::Retry("transient".into()));
            } else {
                done.entry(did.clone()).or_default().push(*n);
                out.push(Outcome::Done);
            }
        }
        drop(done);
        let mut busy = self.busy.lock().unwrap();
        for did in &dids {
            busy.remove(did);
        }
        self.calls
            .lock()
            .unwrap()
            .push(entries.into_iter().map(|(did, n, _)| (did, n)).collect());
        out
    }
}

/// With `key_run`, a DID's entries that are back to back in the stream go to one call, in
/// order, while no two calls ever hold the same DID; when one fails, the later ones of its run
/// are handled again after it, so the last handling of each is in stream order.
#[tokio::test]
async fn key_runs_hand_a_dids_entries_over_together_in_order() {
    let (_server, client) = redis().await;
    let mut payloads: Vec<String> = (0..30)
        .map(|n| format!(r#"{{"did":"did:plc:a","n":{n}}}"#))
        .collect();
    for n in 0..20 {
        let did = if n % 2 == 0 { "b" } else { "c" };
        payloads.push(format!(r#"{{"did":"did:plc:{did}","n":{}}}"#, n / 2));
    }
    produce(&client, "s", &payloads).await;
    let recorder = Arc::new(RunRecorder::default());
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 4;
    o.batch_size = 3;
    o.read_count = 100;
    o.key_run = 1000;
    o.retry_delay = Duration::from_millis(10);
    let (task, cancel) = spawn(
        Consumer::new(client.clone(), o, RunHandler(recorder.clone()))
            .with_partition(did_partition),
    );
    let probe = conn(&client).await;
    let total = payloads.len();
    wait_until("every entry acknowledged", DEADLINE, || {
        let mut probe = probe.clone();
        let handled: usize = recorder.done.lock().unwrap().values().map(Vec::len).sum();
        async move {
            // The group exists once entries were handled.
            if handled < total {
                return Ok(None);
            }
            Ok((pending(&mut probe, "s", "g").await == 0).then_some(()))
        }
    })
    .await
    .unwrap();
    stop(task, cancel).await;
    assert_eq!(
        recorder.overlaps.load(Ordering::SeqCst),
        0,
        "a DID in two calls at once"
    );
    let done = recorder.done.lock().unwrap();
    // 0..=6 and 8..=29 handled in the first call, 7 failed; then 7 and, after it, 8..=29 again.
    let a: Vec<usize> = (0..30).filter(|n| *n != 7).chain(7..30).collect();
    assert_eq!(
        done["did:plc:a"], a,
        "the run in order, then the failed entry and its successors"
    );
    assert_eq!(done["did:plc:b"], (0..10).collect::<Vec<_>>());
    assert_eq!(done["did:plc:c"], (0..10).collect::<Vec<_>>());
    let calls = recorder.calls.lock().unwrap();
    let longest = calls
        .iter()
        .map(|call| call.iter().filter(|(did, _)| did == "did:plc:a").count())
        .max()
        .unwrap_or(0);
    assert!(
        longest > 3,
        "a's entries went one batch_size at a time: {calls:?}"
    );
}

/// Rule 6: with 100,000 entries and one that never finishes until released, every other entry is
/// handled and acknowledged while the slow one is still in work.
#[tokio::test]
async fn one_slow_entry_does_not_hold_up_the_rest() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    let total = 100_000;
    let slow = 1_000;
    let ids = produce(&client, "s", &numbered(total)).await;

    let release = Arc::new(Notify::new());
    let slow_started = Arc::new(AtomicBool::new(false));
    let slow_done = Arc::new(AtomicBool::new(false));
    let others = Arc::new(AtomicUsize::new(0));
    let (r2, ss, sd, o2) = (
        release.clone(),
        slow_started.clone(),
        slow_done.clone(),
        others.clone(),
    );
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 16;
    o.read_count = 500;
    let consumer = Consumer::new(
        client.clone(),
        o,
        handler(move |d| {
            let (release, ss, sd, others) = (r2.clone(), ss.clone(), sd.clone(), o2.clone());
            async move {
                if number(&d) == slow {
                    ss.store(true, Ordering::SeqCst);
                    release.notified().await;
                    sd.store(true, Ordering::SeqCst);
                } else {
                    others.fetch_add(1, Ordering::SeqCst);
                }
                Outcome::Done
            }
        }),
    );
    let (task, cancel) = spawn(consumer);
    let probe = c.clone();
    wait_until("all other entries handled and acknowledged", DEADLINE, || {
        let n = others.load(Ordering::SeqCst);
        let mut probe = probe.clone();
        async move { Ok((n == total - 1 && pending(&mut probe, "s", "g").await == 1).then_some(())) }
    })
    .await
    .unwrap();
    assert!(slow_started.load(Ordering::SeqCst));
    assert!(
        !slow_done.load(Ordering::SeqCst),
        "the slow entry is still in work"
    );
    let still: redis::Value = redis::cmd("XPENDING")
        .arg("s")
        .arg("g")
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        format!("{still:?}").contains(&ids[slow]),
        "the pending one is the slow one"
    );
    release.notify_one();
    wait_until("the slow entry acknowledged", DEADLINE, || {
        let mut probe = probe.clone();
        async move { Ok((pending(&mut probe, "s", "g").await == 0).then_some(())) }
    })
    .await
    .unwrap();
    stop(task, cancel).await;
    assert!(slow_done.load(Ordering::SeqCst));
}

/// The indexer's shape: one group over several streams, batches per call; every entry of each stream
/// is handled once and acknowledged on its own stream.
#[tokio::test]
async fn one_runner_reads_several_streams() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    produce(&client, "a", &numbered(300)).await;
    produce(&client, "b", &numbered(200)).await;
    let seen: Arc<Mutex<HashSet<(String, usize)>>> = Arc::default();
    let s2 = seen.clone();
    let mut o = options("g", "c", &["a", "b"]);
    o.batch_size = 25;
    o.concurrency = 3;
    let consumer = Consumer::new(
        client.clone(),
        o,
        handler(move |d| {
            let seen = s2.clone();
            async move {
                assert!(
                    seen.lock()
                        .unwrap()
                        .insert((d.stream().to_owned(), number(&d)))
                );
                Outcome::Done
            }
        }),
    );
    let (task, cancel) = spawn(consumer);
    wait_until("both streams handled", DEADLINE, || {
        let n = seen.lock().unwrap().len();
        async move { Ok((n == 500).then_some(())) }
    })
    .await
    .unwrap();
    stop(task, cancel).await;
    assert_eq!(pending(&mut c, "a", "g").await, 0);
    assert_eq!(pending(&mut c, "b", "g").await, 0);
}

/// On cancel the runner stops handing out entries, lets the calls in flight finish, acknowledges
/// them and returns; what was read but not started stays pending for the next run.
#[tokio::test]
async fn cancel_finishes_in_flight_work_and_flushes_acks() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    produce(&client, "s", &numbered(20)).await;
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (g2, st, fin) = (gate.clone(), started.clone(), finished.clone());
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 2;
    let consumer = Consumer::new(
        client.clone(),
        o,
        handler(move |_d| {
            let (gate, st, fin) = (g2.clone(), st.clone(), fin.clone());
            async move {
                st.fetch_add(1, Ordering::SeqCst);
                let _permit = gate.acquire().await.expect("gate");
                fin.fetch_add(1, Ordering::SeqCst);
                Outcome::Done
            }
        }),
    );
    let (task, cancel) = spawn(consumer);
    wait_until("two calls in flight", DEADLINE, || {
        let n = started.load(Ordering::SeqCst);
        async move { Ok((n == 2).then_some(())) }
    })
    .await
    .unwrap();
    cancel.cancel();
    gate.add_permits(100);
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("runner returns")
        .unwrap()
        .unwrap();
    assert_eq!(
        started.load(Ordering::SeqCst),
        2,
        "nothing new started after cancel"
    );
    assert_eq!(finished.load(Ordering::SeqCst), 2);
    assert_eq!(
        pending(&mut c, "s", "g").await,
        18,
        "the two finished were acknowledged"
    );
}

/// Work that lasts longer than `claim_idle` (a huge repo in the backfiller) is not claimed away from
/// a live consumer: the runner keeps its entries fresh, so each is handled exactly once.
#[tokio::test]
async fn long_work_is_not_claimed_from_a_live_consumer() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    produce(&client, "s", &numbered(6)).await;
    let handled: Arc<Mutex<Vec<usize>>> = Arc::default();
    let mut runners = Vec::new();
    for name in ["c1", "c2"] {
        let h2 = handled.clone();
        let mut o = options("g", name, &["s"]);
        o.claim_idle = Duration::from_millis(200);
        o.claim_interval = Duration::from_millis(50);
        o.concurrency = 3;
        let consumer = Consumer::new(
            client.clone(),
            o,
            handler(move |d| {
                let handled = h2.clone();
                async move {
                    // Work lasting several claim_idle periods.
                    tokio::time::sleep(Duration::from_millis(1000)).await;
                    handled.lock().unwrap().push(number(&d));
                    Outcome::Done
                }
            }),
        );
        runners.push(spawn(consumer));
    }
    let probe = c.clone();
    wait_until("all entries handled and acknowledged", DEADLINE, || {
        let n = handled.lock().unwrap().len();
        let mut probe = probe.clone();
        async move { Ok((n >= 6 && pending(&mut probe, "s", "g").await == 0).then_some(())) }
    })
    .await
    .unwrap();
    for (task, cancel) in runners {
        stop(task, cancel).await;
    }
    let mut handled = handled.lock().unwrap().clone();
    handled.sort_unstable();
    assert_eq!(
        handled,
        (0..6).collect::<Vec<_>>(),
        "each entry handled once"
    );
    assert_eq!(pending(&mut c, "s", "g").await, 0);
}
