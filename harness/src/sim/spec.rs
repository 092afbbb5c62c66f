//! [`SimSpec`]: the size, seed, live traffic and fault preset of a simulated network.

use serde::{Deserialize, Serialize};

/// Which faults the simulated network inflicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultPreset {
    /// A well-behaved network (accounts may still be taken down, deactivated or deleted).
    None,
    /// A few faults of each kind on every layer (see [`super::preset`]).
    #[default]
    Default,
}

impl std::str::FromStr for FaultPreset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(FaultPreset::None),
            "default" => Ok(FaultPreset::Default),
            other => Err(format!("unknown fault preset {other:?} (none or default)")),
        }
    }
}

/// What network to simulate. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SimSpec {
    /// Seed of the network and the script.
    pub seed: u64,
    /// Ordinary accounts (repositories); two labelers come on top.
    pub repos: usize,
    /// PDS hosts.
    pub pds_hosts: usize,
    /// Labeler accounts, each with its own label stream.
    pub labelers: usize,
    /// Largest record count of a typical repository.
    pub max_records: u32,
    /// Live events (relay and labelers) released over the run.
    pub live_events: usize,
    /// Live events released per second.
    pub events_per_sec: f64,
    /// The faults.
    pub faults: FaultPreset,
}

impl Default for SimSpec {
    /// About 2,000 repositories on 4 PDS hosts, two labelers, 600 live events at 20/s, default
    /// faults.
    fn default() -> Self {
        Self {
            seed: 1,
            repos: 2_000,
            pds_hosts: 4,
            labelers: 2,
            max_records: 120,
            live_events: 600,
            events_per_sec: 20.0,
            faults: FaultPreset::Default,
        }
    }
}

impl SimSpec {
    /// A small network for tests: `repos` repositories on 3 hosts, `events` live events.
    pub fn small(seed: u64, repos: usize, events: usize) -> Self {
        Self {
            seed,
            repos,
            pds_hosts: 3,
            max_records: 40,
            live_events: events,
            events_per_sec: 50.0,
            ..Self::default()
        }
    }
}
