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
