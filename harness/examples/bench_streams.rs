//! Throughput of the streams layer against a private redis-server, beside `redis-benchmark`'s XADD
//! figure on the same server in the same run.
//!
//! `cargo run -p harness --example bench_streams [-- ENTRIES]` (default 200000). Reports entries/s
//! for the producer (MULTI/EXEC batches of XADDs, ~300-byte JSON payloads) and for the consumer
//! runner (read + handle + pipelined XACK), for the indexer's shape (batches) and the backfiller's
//! (one entry per call).

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use harness::services::{TestRedis, wait_until};
use streams::{Consumer, ConsumerOptions, Delivery, Handler, Outcome, Producer, ProducerOptions};
use tokio_util::sync::CancellationToken;

/// Entries per MULTI/EXEC.
const BATCH: usize = 1000;
/// Producer tasks writing at once on the shared connection.
const WRITERS: usize = 8;

struct Count(Arc<AtomicUsize>);

impl Handler for Count {
    async fn handle(&self, batch: Vec<Delivery>) -> Vec<Outcome> {
        self.0.fetch_add(batch.len(), Ordering::Relaxed);
        vec![Outcome::Done; batch.len()]
    }
}

fn payload(i: usize) -> String {
    let p = format!(
        r#"{{"type":"create","seq":{i},"time":"2026-11-27T12:34:56.789Z","did":"did:plc:ewvi7nxzyoun6zhxrhs64oiz","commit":"bafyreia4bz2s4ar2x3xc6njxr3ztxfrvn7s6a","rev":"3l3qo2vutsw2b","collection":"app.bsky.feed.like","rkey":"3l3qo2vuowo2b","cid":"bafyreib","record":{{"$type":"app.bsky.feed.like","createdAt":"2026-11-27T12:34:56.000Z"}}}}"#
    );
    p
}

fn redis_benchmark(port: &str, n: usize, value: &str) -> anyhow::Result<f64> {
    let out = Command::new("redis-benchmark")
        .args(["-p", port, "-n", &n.to_string(), "-P", "16", "-q"])
        .args(["XADD", "benchstream", "*", "field", value])
        .output()
        .context("running redis-benchmark")?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `-q` prints "<command>: <rps> requests per second, p50=…" after progress lines ending in \r.
    let last = text.rsplit('\r').next().unwrap_or_default();
    let Some(rps) = last
        .split(": ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse::<f64>().ok())
    else {
        bail!("cannot read redis-benchmark output: {text:?}");
    };
    Ok(rps)
}

async fn produce(client: &redis::Client, stream: &str, n: usize) -> anyhow::Result<f64> {
    let producer =
        Producer::connect(client, ProducerOptions::default(), CancellationToken::new()).await?;
    let payloads: Arc<Vec<String>> = Arc::new((0..n).map(payload).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..WRITERS {
        let (producer, payloads, next, stream) = (
            producer.clone(),
            payloads.clone(),
            next.clone(),
            stream.to_owned(),
        );
        tasks.spawn(async move {
            loop {
                let start = next.fetch_add(BATCH, Ordering::Relaxed);
                if start >= payloads.len() {
                    return Ok::<(), streams::StreamsError>(());
                }
                let end = (start + BATCH).min(payloads.len());
                let cursor = end.to_string();
                producer
                    .write_batch(
                        &stream,
                        "event",
                        &payloads[start..end],
                        Some(("bench:cursor", &cursor)),
                    )
                    .await?;
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

async fn consume(
    client: &redis::Client,
    stream: &str,
    n: usize,
    batch_size: usize,
    concurrency: usize,
) -> anyhow::Result<f64> {
    let mut options = ConsumerOptions::new("bench", format!("c-{batch_size}"), [stream]);
    options.batch_size = batch_size;
    options.concurrency = concurrency;
    options.read_count = 1000;
    options.max_buffered = 5000;
    options.block = Duration::from_millis(100);
    let handled = Arc::new(AtomicUsize::new(0));
    let consumer = Consumer::new(client.clone(), options, Count(handled.clone()));
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(consumer.run(cancel.clone()));
    let mut conn = client.get_multiplexed_async_connection().await?;
    wait_until("every entry handled and acknowledged", Duration::from_secs(600), || {
        let done = handled.load(Ordering::Relaxed) >= n;
        let mut conn = conn.clone();
        let stream = stream.to_owned();
        async move {
            if !done {
                return Ok(None);
            }
            let summary: redis::Value = redis::cmd("XPENDING").arg(&stream).arg("bench").query_async(&mut conn).await?;
            Ok(matches!(summary, redis::Value::Array(ref p) if matches!(p.first(), Some(redis::Value::Int(0)))).then_some(()))
        }
    })
    .await?;
    let rate = n as f64 / started.elapsed().as_secs_f64();
    cancel.cancel();
    task.await??;
    let _: () = redis::cmd("DEL").arg(stream).query_async(&mut conn).await?;
    Ok(rate)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let server = TestRedis::start().await?;
    let url = server.url();
    let port = url
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .trim_end_matches('/')
        .to_owned();
    let client = redis::Client::open(url.as_str())?;

    let bench_small = redis_benchmark(&port, n, "value")?;
    let bench_300 = redis_benchmark(&port, n, &payload(0))?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let _: () = redis::cmd("DEL")
        .arg("benchstream")
        .query_async(&mut conn)
        .await?;

    let produced = produce(&client, "bench_batches", n).await?;
    let consumed_batches = consume(&client, "bench_batches", n, 100, 8).await?;
    produce(&client, "bench_single", n).await?;
    let consumed_single = consume(&client, "bench_single", n, 1, 10).await?;

    println!("entries: {n}, payload: {} bytes", payload(0).len());
    println!("redis-benchmark XADD -P 16, value 'value':      {bench_small:>10.0} entries/s");
    println!(
        "redis-benchmark XADD -P 16, {}-byte value:    {bench_300:>10.0} entries/s",
        payload(0).len()
    );
    println!(
        "producer (MULTI/EXEC of {BATCH}, {WRITERS} writers):     {produced:>10.0} entries/s ({:.0}% of redis-benchmark at the same size)",
        100.0 * produced / bench_300
    );
    println!("consumer, batches of 100, concurrency 8:       {consumed_batches:>10.0} entries/s");
    println!("consumer, one entry per call, concurrency 10:  {consumed_single:>10.0} entries/s");
    Ok(())
}
