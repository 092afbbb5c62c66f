//! The producer against a real Redis: backpressure without loss, and cursors that never get ahead of
//! their data, even across a crash of an append-only Redis.

mod streams_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::services::{RedisOptions, TestRedis, wait_until};
use redis::AsyncCommands;
use streams::trim::run_trimmer;
use streams::{Consumer, Outcome, Producer, ProducerOptions};
use streams_support::{DEADLINE, conn, entries, handler, options, spawn, stop};
use tokio_util::sync::CancellationToken;

/// Over its high-water mark the producer holds its batch: the stream never grows past the mark by
/// more than one batch, the cursor covers exactly what was written, and once a consumer drains (and
/// the trimmer trims what it acknowledged) every entry arrives, in order, once.
#[tokio::test]
async fn producer_over_high_water_mark_waits_and_loses_nothing() {
    let (_server, client) = streams_support::redis().await;
    let mut c = conn(&client).await;
    let total = 2_000usize;
    let batch = 50usize;
    let mark = 100u64;
    let options_p = ProducerOptions {
        high_water_mark: mark,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(50),
    };
    let producer = Producer::connect(&client, options_p, CancellationToken::new())
        .await
        .unwrap();
    let writer = tokio::spawn(async move {
        for start in (0..total).step_by(batch) {
            let payloads: Vec<String> = (start..start + batch).map(|i| i.to_string()).collect();
            let cursor = (start + batch).to_string();
            producer
                .write_batch("s", "f", &payloads, Some(("s:cursor:h", &cursor)))
                .await
                .unwrap();
        }
    });

    let probe = c.clone();
    wait_until("the stream to reach its high-water mark", DEADLINE, || {
        let mut probe = probe.clone();
        async move {
            let len: u64 = probe.xlen("s").await?;
            Ok((len >= mark).then_some(()))
        }
    })
    .await
    .unwrap();
    // Nobody consumes: the producer must be holding its next batch.
    assert!(!writer.is_finished());
    let len: u64 = c.xlen("s").await.unwrap();
    assert!(
        len < mark + batch as u64,
        "grew past the mark by more than a batch: {len}"
    );
    let cursor: String = c.get("s:cursor:h").await.unwrap();
    assert_eq!(
        cursor.parse::<u64>().unwrap(),
        len,
        "cursor covers exactly the data written"
    );

    let got = Arc::new(Mutex::new(Vec::new()));
    let g2 = got.clone();
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 1;
    let consumer = Consumer::new(
        client.clone(),
        o,
        handler(move |d| {
            let got = g2.clone();
            async move {
                got.lock()
                    .unwrap()
                    .push(d.payload().unwrap().parse::<usize>().unwrap());
                Outcome::Done
            }
        }),
    );
    let (task, cancel) = spawn(consumer);
    let trim_cancel = CancellationToken::new();
    let trimmer = tokio::spawn(run_trimmer(
        streams::connection::command_connection(&client)
            .await
            .unwrap(),
        vec!["s".into()],
        Duration::from_millis(20),
        trim_cancel.clone(),
    ));
    tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("producer finishes once drained")
        .unwrap();
    wait_until("every entry consumed", DEADLINE, || {
        let n = got.lock().unwrap().len();
        async move { Ok((n == total).then_some(())) }
    })
    .await
    .unwrap();
    stop(task, cancel).await;
    trim_cancel.cancel();
    trimmer.await.unwrap();
    assert_eq!(*got.lock().unwrap(), (0..total).collect::<Vec<_>>());
    let cursor: String = c.get("s:cursor:h").await.unwrap();
    assert_eq!(cursor, total.to_string());
}

/// With an append-only Redis (`appendfsync always`) killed while a producer writes, the cursor found
/// after the restart covers exactly the entries found: never ahead of its data, never behind it.
#[tokio::test]
async fn cursor_never_ahead_of_data_after_redis_crash() {
    let mut server = TestRedis::start_with(RedisOptions {
        appendonly: true,
        ..Default::default()
    })
    .await
    .unwrap();
    if !TestRedis::is_private() {
        eprintln!("skipped: needs a private Redis (HARNESS_REDIS_URL is set)");
        return;
    }
    let client = redis::Client::open(server.url().as_str()).unwrap();
    let batch = 20usize;
    for round in 0..3 {
        let stop_writing = CancellationToken::new();
        let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writer = {
            let client = client.clone();
            let stop_writing = stop_writing.clone();
            let written = written.clone();
            tokio::spawn(async move {
                let producer = Producer::connect(
                    &client,
                    ProducerOptions::default(),
                    CancellationToken::new(),
                )
                .await
                .unwrap();
                let mut c = conn(&client).await;
                // Resume from the cursor, as an ingester does after a failure.
                let mut next: usize = c
                    .get::<_, Option<String>>("s:cursor:h")
                    .await
                    .unwrap()
                    .map_or(0, |v| v.parse().unwrap());
                while !stop_writing.is_cancelled() {
                    let payloads: Vec<String> =
                        (next..next + batch).map(|i| i.to_string()).collect();
                    let cursor = (next + batch).to_string();
                    match producer
                        .write_batch("s", "f", &payloads, Some(("s:cursor:h", &cursor)))
                        .await
                    {
                        Ok(_) => {
                            next += batch;
                            written.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        }
                        // The server is gone: stop like a crashed ingester.
                        Err(_) => return,
                    }
                }
            })
        };
        wait_until("the producer to write a few batches", DEADLINE, || {
            let n = written.load(std::sync::atomic::Ordering::SeqCst);
            async move { Ok((n >= 5).then_some(())) }
        })
        .await
        .unwrap();
        server.kill().unwrap();
        stop_writing.cancel();
        writer.await.unwrap();
        server.restart().await.unwrap();

        let mut c = conn(&client).await;
        let cursor: usize = c
            .get::<_, String>("s:cursor:h")
            .await
            .unwrap()
            .parse()
            .unwrap();
        let found: Vec<usize> = entries(&mut c, "s")
            .await
            .into_iter()
            .map(|(_, f)| f[0].1.parse().unwrap())
            .collect();
        assert!(
            cursor >= (round + 1) * 5 * batch,
            "round {round}: acknowledged batches survive the crash (cursor {cursor})"
        );
        assert_eq!(
            found,
            (0..cursor).collect::<Vec<_>>(),
            "round {round}: the entries are exactly those the cursor covers"
        );
    }
}
