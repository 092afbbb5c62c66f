//! The whole pipeline, end to end: the real `ingester`, `backfiller` and `indexer` binaries on a
//! simulated network with faults on every layer, private Redis (AOF) and PostgreSQL; each run
//! must end with `verify --expect` finding the database equal to the oracle.
//!
//! The binaries must be built (`cargo nextest run --workspace` builds them).

use std::time::Duration;

use harness::services::{TestPostgres, TestRedis};
use harness::sim::chaos::{Chaos, chaos_plan};
use harness::sim::pipeline::{SimulateOptions, SimulateOutcome, simulate};
use harness::sim::{FaultPreset, SimSpec};

/// A small network with the default faults: every layer misbehaves, three repos are broken.
fn options(seed: u64) -> SimulateOptions {
    let mut options = SimulateOptions::new(SimSpec::small(seed, 120, 200));
    options.deadline = Duration::from_secs(100);
    options
}

fn assert_passed(outcome: &SimulateOutcome) {
    assert!(
        outcome.passed,
        "verify --expect failed:\n{}\n{}",
        outcome.verify_report,
        outcome.figures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_on_every_layer_end_equal_to_the_oracle() {
    let outcome = simulate(options(11)).await.unwrap();
    assert_passed(&outcome);
    assert_eq!(outcome.required_dead_letters, 3, "{:?}", outcome.figures);
    assert!(
        outcome.faults_fired >= 10,
        "only {} faults fired",
        outcome.faults_fired
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_network_ends_equal_to_the_oracle_with_nothing_dead_lettered() {
    let mut options = options(12);
    options.spec.faults = FaultPreset::None;
    let outcome = simulate(options).await.unwrap();
    assert_passed(&outcome);
    assert_eq!(outcome.required_dead_letters, 0);
    assert_eq!(outcome.faults_fired, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_backfillers_and_two_indexers_share_their_groups() {
    let mut options = options(13);
    options.backfillers = 3;
    options.indexers = 2;
    let outcome = simulate(options).await.unwrap();
    assert_passed(&outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stages_killed_and_services_restarted_mid_run_lose_nothing() {
    if !TestRedis::is_private() || !TestPostgres::is_private() {
        eprintln!("skipped: restarts need private Redis and PostgreSQL");
        return;
    }
    let mut options = options(14);
    options.spec.live_events = 300;
    options.spec.events_per_sec = 40.0;
    options.backfillers = 2;
    options.deadline = Duration::from_secs(110);
    // Every stage killed once, Redis and PostgreSQL restarted once, within the live script.
    options.chaos = chaos_plan(14, 1 + 2 + 1, Duration::from_secs(6));
    let planned = options.chaos.len();
    assert!(options.chaos.iter().any(|e| e.what == Chaos::RestartRedis));
    let outcome = simulate(options).await.unwrap();
    assert_passed(&outcome);
    let carried_out = outcome
        .disruptions
        .iter()
        .filter(|d| d.starts_with("killed") || d.starts_with("restarted"))
        .count();
    assert_eq!(carried_out, planned, "{:?}", outcome.disruptions);
}

/// The bug that halted every backfill at its first million records, at CI's size: every
/// high-water mark far below the volume (300 entries against 100,000 records and more), live
/// traffic, default faults, every stage killed with SIGKILL and Redis and PostgreSQL restarted.
/// Producers must keep going because consumers keep up, streams must stay short because
/// consumers trim what they have handled, and the run must still end equal to the oracle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_water_marks_far_below_the_volume_bound_the_streams_and_lose_nothing() {
    if !TestRedis::is_private() || !TestPostgres::is_private() {
        eprintln!("skipped: restarts need private Redis and PostgreSQL");
        return;
    }
    const MARK: u64 = 300;
    let mut spec = SimSpec::small(15, 4_500, 1_500);
    spec.max_records = 120;
    spec.events_per_sec = 60.0;
    let mut options = SimulateOptions::new(spec);
    options.deadline = Duration::from_secs(420);
    options.stage_env = vec![
        ("INGESTER_HIGH_WATER_MARK".into(), MARK.to_string()),
        ("BACKFILLER_HIGH_WATER_MARK".into(), MARK.to_string()),
    ];
    options.chaos = chaos_plan(15, 1 + 1 + 1, Duration::from_secs(20));
    let outcome = simulate(options).await.unwrap();
    assert_passed(&outcome);
    println!("{}", outcome.figures.join("\n"));
    assert!(
        outcome.oracle_records >= 100_000,
        "the volume must dwarf the marks: only {} records",
        outcome.oracle_records
    );
    let peaks = &outcome.peaks;
    assert!(peaks.readings >= 20, "too few readings: {peaks:?}");
    // What a stream may hold: its unhandled backlog (the mark, plus what the writers that found
    // room wrote at once) and about one trim interval (1 s) of handled entries. Without trimming
    // firehose_backfill would hold every record ever emitted.
    for (stream, longest) in &peaks.stream_lengths {
        assert!(
            *longest <= 15_000,
            "{stream} held {longest} entries at once: not bounded by its mark and trimming ({peaks:?})"
        );
    }
    assert!(
        peaks.stream_lengths["firehose_backfill"] * 4 <= outcome.oracle_records as u64,
        "firehose_backfill held a quarter of the volume at once: {peaks:?}"
    );
    // The streams' payloads through the run are well over 60 MiB; bounded streams keep Redis
    // to a fraction of that (about 5 MiB when this test was written).
    assert!(
        peaks.redis_used_memory <= 24 * 1024 * 1024,
        "Redis grew to {} MiB",
        peaks.redis_used_memory / (1024 * 1024)
    );
}
