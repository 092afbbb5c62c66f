//! Rule 5 against a real Redis: poison entries reach `<stream>_dlq` with their reason and attempts
//! while the stream keeps flowing, including poison that killed its consumer before.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::support::streams::{
    DEADLINE, conn, create_group, entries, handler, options, pending, produce, redis, spawn, stop,
};
use harness::services::wait_until;
use streams::{Consumer, Outcome};

fn field<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no field {name} in {fields:?}"))
}

#[tokio::test]
async fn poison_reaches_the_dlq_after_max_deliveries_and_the_stream_flows() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    let mut payloads: Vec<String> = (0..200).map(|i| format!("ok {i}")).collect();
    payloads[20] = "poison".into();
    payloads[40] = "invalid".into();
    let ids = produce(&client, "s", &payloads).await;

    let calls: Arc<Mutex<HashMap<String, u64>>> = Arc::default();
    let c2 = calls.clone();
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 4;
    o.batch_size = 5;
    let consumer = Consumer::new(
        client.clone(),
        o,
        handler(move |d| {
            let calls = c2.clone();
            async move {
                let payload = d.payload().expect("payload").to_owned();
                *calls.lock().unwrap().entry(payload.clone()).or_default() += 1;
                match payload.as_str() {
                    "poison" => Outcome::Retry("cannot parse".into()),
                    "invalid" => Outcome::DeadLetter("record cannot be valid".into()),
                    _ => Outcome::Done,
                }
            }
        }),
    );
    let (task, cancel) = spawn(consumer);
    let probe = c.clone();
    wait_until(
        "both poisons dead-lettered and the rest acknowledged",
        DEADLINE,
        || {
            let mut probe = probe.clone();
            async move {
                let dlq = entries(&mut probe, "s_dlq").await.len();
                Ok((dlq == 2 && pending(&mut probe, "s", "g").await == 0).then_some(()))
            }
        },
    )
    .await
    .unwrap();

    // The stream keeps flowing after the poison.
    let later: Vec<String> = (0..50).map(|i| format!("later {i}")).collect();
    produce(&client, "s", &later).await;
    wait_until("later entries handled", DEADLINE, || {
        let n = calls
            .lock()
            .unwrap()
            .keys()
            .filter(|k| k.starts_with("later"))
            .count();
        async move { Ok((n == 50).then_some(())) }
    })
    .await
    .unwrap();
    stop(task, cancel).await;

    let calls = calls.lock().unwrap().clone();
    assert_eq!(calls["poison"], 5, "poison handled max_deliveries times");
    assert_eq!(
        calls["invalid"], 1,
        "permanent errors are dead-lettered at once"
    );
    assert!(calls.iter().all(|(k, n)| k == "poison" || *n == 1));
    let dlq = entries(&mut c, "s_dlq").await;
    let by_source: HashMap<&str, &Vec<(String, String)>> = dlq
        .iter()
        .map(|(_, f)| (field(f, "source_id"), f))
        .collect();
    let poison = by_source[ids[20].as_str()];
    assert_eq!(field(poison, "f"), "poison");
    assert_eq!(field(poison, "attempts"), "5");
    assert!(field(poison, "reason").contains("cannot parse"));
    let invalid = by_source[ids[40].as_str()];
    assert_eq!(field(invalid, "f"), "invalid");
    assert_eq!(field(invalid, "attempts"), "1");
    assert_eq!(field(invalid, "reason"), "record cannot be valid");
    assert_eq!(pending(&mut c, "s", "g").await, 0);
}

/// An entry that killed its consumer on every delivery (so no handler ever reported failure) is
/// dead-lettered on re-read once its delivery count from Redis exceeds the limit, without being
/// handled again; the entries behind it are handled.
#[tokio::test]
async fn crash_looping_entry_is_dead_lettered_on_reread() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    let ids = produce(&client, "s", &["killer".to_owned(), "fine".to_owned()]).await;
    create_group(&mut c, "s", "g").await;
    // Five deliveries of the first entry to consumer "c", none acknowledged.
    let _: redis::Value = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("COUNT")
        .arg(1)
        .arg("STREAMS")
        .arg("s")
        .arg(">")
        .query_async(&mut c)
        .await
        .unwrap();
    for _ in 0..4 {
        let _: redis::Value = redis::cmd("XCLAIM")
            .arg("s")
            .arg("g")
            .arg("c")
            .arg(0)
            .arg(&ids[0])
            .query_async(&mut c)
            .await
            .unwrap();
    }

    let handled: Arc<Mutex<Vec<String>>> = Arc::default();
    let h2 = handled.clone();
    let consumer = Consumer::new(
        client.clone(),
        options("g", "c", &["s"]),
        handler(move |d| {
            let handled = h2.clone();
            async move {
                handled
                    .lock()
                    .unwrap()
                    .push(d.payload().unwrap().to_owned());
                Outcome::Done
            }
        }),
    );
    let (task, cancel) = spawn(consumer);
    let probe = c.clone();
    wait_until("killer dead-lettered, fine handled", DEADLINE, || {
        let mut probe = probe.clone();
        let n = handled.lock().unwrap().len();
        async move {
            let dlq = entries(&mut probe, "s_dlq").await.len();
            Ok((dlq == 1 && n == 1 && pending(&mut probe, "s", "g").await == 0).then_some(()))
        }
    })
    .await
    .unwrap();
    stop(task, cancel).await;
    assert_eq!(*handled.lock().unwrap(), vec!["fine".to_owned()]);
    let dlq = entries(&mut c, "s_dlq").await;
    let fields = &dlq[0].1;
    assert_eq!(field(fields, "f"), "killer");
    assert_eq!(field(fields, "source_id"), ids[0]);
    assert_eq!(field(fields, "attempts"), "6");
}

/// Rule 8's cap: a dead-letter stream keeps its newest `dlq_max_len` entries, however many are
/// dead-lettered, while the stream itself keeps flowing and is acknowledged to the end.
#[tokio::test]
async fn the_dlq_keeps_its_newest_entries_up_to_its_cap() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    let payloads: Vec<String> = (0..60).map(|i| format!("bad {i}")).collect();
    produce(&client, "s", &payloads).await;
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 1;
    o.dlq_max_len = 10;
    let consumer = Consumer::new(
        client.clone(),
        o,
        handler(|_| async { Outcome::DeadLetter("cannot be valid".into()) }),
    );
    let (task, cancel) = spawn(consumer);
    let probe = c.clone();
    wait_until(
        "every entry dead-lettered and acknowledged",
        DEADLINE,
        || {
            let mut probe = probe.clone();
            async move {
                let last = entries(&mut probe, "s_dlq")
                    .await
                    .last()
                    .map(|(_, f)| field(f, "f").to_owned());
                let done =
                    last.as_deref() == Some("bad 59") && pending(&mut probe, "s", "g").await == 0;
                Ok(done.then_some(()))
            }
        },
    )
    .await
    .unwrap();
    stop(task, cancel).await;
    let kept: Vec<String> = entries(&mut c, "s_dlq")
        .await
        .iter()
        .map(|(_, f)| field(f, "f").to_owned())
        .collect();
    let newest: Vec<String> = (50..60).map(|i| format!("bad {i}")).collect();
    assert_eq!(kept, newest, "the newest ten, in order");
}
