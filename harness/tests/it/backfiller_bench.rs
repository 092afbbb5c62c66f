//! Benchmark (ignored by default): records and repos per second end to end (PDS → `getRepo` →
//! verify → `firehose_backfill`) on loopback without rate limits, and the peak RSS (`VmHWM`) of the
//! backfiller process at concurrency 10 with a repo of a million records among the inputs.
//!
//! Build the binary optimised first, then run (`--release` also makes building the test repos,
//! which is not measured, a few times faster); it ends with a `report | …` line, which
//! `ci/perf-report.sh` gathers into the README's Performance table:
//!
//! ```sh
//! cargo build --release -p backfiller
//! BACKFILLER_BIN=target/release/backfiller \
//!   cargo test --release -p harness --test backfiller_bench -- --ignored --nocapture
//! ```
//!
//! `BENCH_REPOS` (default 100) repos of `BENCH_RECORDS` (2000) records over four PDS hosts, plus
//! one repo of `BENCH_LARGE` (1000000) records on a fifth.

use std::time::{Duration, Instant};

use crate::support::backfiller::*;
use harness::faults::Faults;
use harness::services::{ChildSpec, TestRedis, peak_rss_kib, wait_until};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// p50 and p99 of `backfiller_repo_seconds` (ms), from the `/metrics` on `port`.
async fn repo_latency(port: u16) -> (f64, f64) {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let quantile = |q: &str| -> f64 {
        let prefix = format!("backfiller_repo_seconds{{quantile=\"{q}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(f64::NAN, |secs| secs * 1000.0)
    };
    (quantile("0.5"), quantile("0.99"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly with an optimised binary"]
async fn throughput_and_peak_memory() {
    let n_repos = env_u64("BENCH_REPOS", 100);
    let per_repo = env_u64("BENCH_RECORDS", 2_000);
    let large = env_u64("BENCH_LARGE", 1_000_000);
    let redis = TestRedis::start().await.unwrap();
    let client = client(&redis);
    let plc = start_plc().await;

    let built = Instant::now();
    let (repos, big) = tokio::task::spawn_blocking(move || {
        let repos: Vec<TestRepo> = (0..n_repos)
            .map(|i| build_repo(&did(i), per_repo / 2, per_repo - per_repo / 2 - 1, i))
            .collect();
        let big = build_repo(&did(1_000_000), large / 4, large - large / 4 - 1, 99);
        (repos, big)
    })
    .await
    .unwrap();
    let total_records: u64 =
        repos.iter().map(|r| r.records.len() as u64).sum::<u64>() + big.records.len() as u64;
    eprintln!(
        "built {} repos ({} records, large CAR {} MiB) in {:?}",
        repos.len() + 1,
        total_records,
        big.car.len() >> 20,
        built.elapsed()
    );
    let mut pdses = Vec::new();
    for chunk in repos.chunks(repos.len().div_ceil(4).max(1)) {
        let refs: Vec<&TestRepo> = chunk.iter().collect();
        pdses.push(start_pds(&plc, &refs, Faults::none(), None).await);
    }
    pdses.push(start_pds(&plc, &[&big], Faults::none(), None).await);
    // The large repo comes first so it is in flight alongside the others.
    let mut entries = vec![entry(&big.did)];
    entries.extend(repos.iter().map(|r| entry(&r.did)));
    enqueue(&client, &entries).await;
    let expected_events = total_records + entries.len() as u64;

    let bin =
        std::env::var("BACKFILLER_BIN").unwrap_or_else(|_| "target/release/backfiller".into());
    let bin = if std::path::Path::new(&bin).is_absolute() {
        std::path::PathBuf::from(bin)
    } else {
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(bin)
    };
    let started = Instant::now();
    let mut child = ChildSpec::program("backfiller", bin)
        .env("REDIS_URL", redis.url())
        .env("PLC_URL", plc.url().as_str())
        .env("ALLOW_PRIVATE_HOSTS", "true")
        .env("BACKFILLER_CONCURRENCY", "10")
        .env("BACKFILLER_PER_HOST_RPS", "100000")
        .env("BACKFILLER_PER_HOST_CONCURRENCY", "10")
        .env("BACKFILLER_PER_HOST_QUEUE", "64")
        // Nothing consumes the output here: a high-water mark below it would stall the run.
        .env(
            "BACKFILLER_HIGH_WATER_MARK",
            (expected_events * 2).to_string(),
        )
        .env("METRICS_PORT", "0")
        .env("RUST_LOG", "warn,runtime=info")
        .spawn()
        .unwrap();
    let pid = child.pid();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut peak = 0;
    wait_until("every event written", Duration::from_secs(600), || {
        let mut conn = conn.clone();
        if let Some(rss) = peak_rss_kib(&pid.to_string()) {
            peak = peak.max(rss);
        }
        async move {
            let len: u64 = redis::cmd("XLEN")
                .arg("firehose_backfill")
                .query_async(&mut conn)
                .await?;
            Ok((len >= expected_events).then_some(()))
        }
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    if let Some(rss) = peak_rss_kib(&pid.to_string()) {
        peak = peak.max(rss);
    }
    let len: u64 = redis::cmd("XLEN")
        .arg("firehose_backfill")
        .query_async(&mut conn)
        .await
        .unwrap();
    let port = child.metrics_port().expect("the metrics port in the log");
    let (p50, p99) = repo_latency(port).await;
    let status = child.stop(Duration::from_secs(60)).await.unwrap();
    eprintln!(
        "{} records of {} repos in {:?}: {:.0} records/s, {:.1} repos/s; peak RSS {} MiB",
        total_records,
        entries.len(),
        elapsed,
        total_records as f64 / elapsed.as_secs_f64(),
        entries.len() as f64 / elapsed.as_secs_f64(),
        peak >> 10
    );
    println!(
        "report | backfiller: repo_backfill → getRepo → firehose_backfill | {n_repos} repos of {per_repo} \
         records and one of {large}, 10 at a time | {:.0} records/s ({:.1} repos/s) | \
         {p50:.0} / {p99:.0} ms per repo in the stage | {} MiB",
        total_records as f64 / elapsed.as_secs_f64(),
        entries.len() as f64 / elapsed.as_secs_f64(),
        peak >> 10
    );
    assert!(status.success(), "{}", child.log_tail(20));
    assert!(peak < 1 << 20, "peak RSS {} MiB is over 1 GiB", peak >> 10);
    assert_eq!(len, expected_events, "every record exactly once");
    assert!(dead_letters(&client).await.is_empty());
    for pds in pdses {
        pds.stop().await;
    }
}
