//! The producer against a real Redis: backpressure on the unhandled backlog without loss, streams
//! that stay short however much goes through them, and cursors that never get ahead of their data,
//! even across a crash of an append-only Redis.

use std::sync::Arc;
use std::time::Duration;

use crate::support::streams::{
    DEADLINE, collector, conn, create_group, entries, options, read_group, spawn, stop,
};
use harness::services::{RedisOptions, TestRedis, wait_until};
use redis::AsyncCommands;
use streams::{Consumer, Producer, ProducerOptions};
use tokio_util::sync::CancellationToken;

/// Over its high-water mark the producer holds its batch: the stream never grows past the mark by
/// more than one batch, the cursor covers exactly what was written, and once a consumer drains
/// every entry arrives, in order, once.
#[tokio::test]
async fn producer_over_high_water_mark_waits_and_loses_nothing() {
    let (_server, client) = crate::support::streams::redis().await;
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

    let (got, collect) = collector();
    let mut o = options("g", "c", &["s"]);
    o.concurrency = 1;
    let consumer = Consumer::new(client.clone(), o, collect);
    let (task, cancel) = spawn(consumer);
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
    assert_eq!(*got.lock().unwrap(), (0..total).collect::<Vec<_>>());
    let cursor: String = c.get("s:cursor:h").await.unwrap();
    assert_eq!(cursor, total.to_string());
}

/// The bug that halted every backfill at its first million records: entries that every group has
/// acknowledged must not count against the mark, and the consumer must trim them. A producer writes
/// two hundred times its mark through a consumer that keeps up; it never stops for good, every
/// entry arrives once, and the stream stays far shorter than what went through it (it holds the
/// backlog plus about one trim interval of handled entries).
#[tokio::test]
async fn a_producer_runs_far_past_its_mark_while_the_consumer_keeps_up() {
    let (_server, client) = crate::support::streams::redis().await;
    let total = 40_000usize;
    let batch = 50usize;
    let mark = 200u64;
    let producer = Producer::connect(
        &client,
        ProducerOptions {
            high_water_mark: mark,
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        },
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let (got, collect) = collector();
    let consumer = Consumer::new(client.clone(), options("g", "c", &["s"]), collect);
    let (task, cancel) = spawn(consumer);
    let longest = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let sampler = {
        let longest = longest.clone();
        let mut c = conn(&client).await;
        tokio::spawn(async move {
            loop {
                let len: u64 = c.xlen("s").await.unwrap_or(0);
                longest.fetch_max(len, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let writer = tokio::spawn(async move {
        for start in (0..total).step_by(batch) {
            let payloads: Vec<String> = (start..start + batch).map(|i| i.to_string()).collect();
            producer
                .write_batch("s", "f", &payloads, None)
                .await
                .unwrap();
        }
    });
    tokio::time::timeout(DEADLINE, writer)
        .await
        .expect("the producer never stops for good: acknowledged entries do not count")
        .unwrap();
    wait_until("every entry consumed", DEADLINE, || {
        let n = got.lock().unwrap().len();
        async move { Ok((n == total).then_some(())) }
    })
    .await
    .unwrap();
    // Trimming follows the consumer: once everything is acknowledged, little is left.
    let mut c = conn(&client).await;
    wait_until("the stream trimmed to what is unhandled", DEADLINE, || {
        let mut c = c.clone();
        async move {
            let len: u64 = c.xlen("s").await?;
            Ok((len < 2 * mark).then_some(()))
        }
    })
    .await
    .unwrap();
    sampler.abort();
    stop(task, cancel).await;
    assert_eq!(*got.lock().unwrap(), (0..total).collect::<Vec<_>>());
    let longest = longest.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        longest < total as u64 / 4,
        "the stream held {longest} of {total} entries at once: trimming did not keep up"
    );
    let len: u64 = c.xlen("s").await.unwrap();
    assert!(
        len < 2 * mark,
        "{len} entries left after everything was handled"
    );
}

/// A group that has not handled its entries holds the producer back even when another group on
/// the same stream has handled them all: the backlog is the largest among the groups.
#[tokio::test]
async fn the_slowest_group_sets_the_backlog() {
    let (_server, client) = crate::support::streams::redis().await;
    let mut c = conn(&client).await;
    let mut cm = streams::connection::command_connection(&client)
        .await
        .unwrap();
    assert_eq!(
        streams::backlog::unhandled_backlog(&mut cm, "s")
            .await
            .unwrap(),
        0,
        "a missing stream has no backlog"
    );
    let payloads: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    crate::support::streams::produce(&client, "s", &payloads).await;
    assert_eq!(
        streams::backlog::unhandled_backlog(&mut cm, "s")
            .await
            .unwrap(),
        30,
        "without a group, the stream's length"
    );
    for group in ["fast", "slow"] {
        create_group(&mut c, "s", group).await;
    }
    // "fast" reads everything and acknowledges 20; "slow" reads 5 and acknowledges none.
    let fast = read_group(&mut c, "s", "fast", 30).await;
    let _: u64 = redis::cmd("XACK")
        .arg("s")
        .arg("fast")
        .arg(&fast[..20])
        .query_async(&mut c)
        .await
        .unwrap();
    read_group(&mut c, "s", "slow", 5).await;
    // fast: lag 0 + pending 10; slow: lag 25 + pending 5.
    assert_eq!(
        streams::backlog::unhandled_backlog(&mut cm, "s")
            .await
            .unwrap(),
        30
    );
    let _: u64 = redis::cmd("XGROUP")
        .arg("DESTROY")
        .arg("s")
        .arg("slow")
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(
        streams::backlog::unhandled_backlog(&mut cm, "s")
            .await
            .unwrap(),
        10,
        "acknowledged entries never count"
    );
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
