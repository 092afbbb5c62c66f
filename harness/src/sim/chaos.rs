//! Chaos during a simulation: each stage killed with SIGKILL at a random moment and started
//! again, Redis restarted (its append-only file keeps the streams) and PostgreSQL restarted, while
//! the pipeline works. The run must still end equal to the oracle.

use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// One disruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chaos {
    /// SIGKILL the stage at this index (0 the ingester, then backfillers, then indexers), then
    /// start it again.
    KillStage(usize),
    /// Restart Redis (SIGTERM, then start on the same port with the same data).
    RestartRedis,
    /// Restart PostgreSQL (fast shutdown, then start with the same data).
    RestartPostgres,
}

/// A disruption and when it happens, counted from the start of the stages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChaosEvent {
    /// When.
    pub at: Duration,
    /// What.
    pub what: Chaos,
}

/// Every stage killed once, Redis and PostgreSQL restarted once, each at a moment drawn (from
/// `seed`) within `window`; sorted by time.
pub fn chaos_plan(seed: u64, stages: usize, window: Duration) -> Vec<ChaosEvent> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let window_ms = window.as_millis().max(1) as u64;
    let mut events: Vec<ChaosEvent> = (0..stages)
        .map(Chaos::KillStage)
        .chain([Chaos::RestartRedis, Chaos::RestartPostgres])
        .map(|what| ChaosEvent {
            at: Duration::from_millis(rng.gen_range(0..window_ms)),
            what,
        })
        .collect();
    events.sort_by_key(|e| e.at);
    events
}
