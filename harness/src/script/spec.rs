//! [`ScriptSpec`]: how long the script is and what it is made of.

use serde::{Deserialize, Serialize};

use super::ScriptError;

/// What live script to generate over a network. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScriptSpec {
    /// The script's seed (mixed with the network's).
    pub seed: u64,
    /// How many events.
    pub events: usize,
    /// The relay's first seq.
    pub first_seq: i64,
    /// Consecutive relay seqs differ by 1 to this (gaps, as when a PDS erases events).
    pub max_seq_gap: i64,
    /// Mean milliseconds between events.
    pub step_ms: u64,
    /// Only repositories of at most this many records receive commits and syncs (each commit
    /// rebuilds the repository's CAR).
    pub max_repo_records: u32,
    /// Relative frequency of each kind of event.
    pub weights: EventWeights,
}

/// Relative frequencies of the kinds of events.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventWeights {
    /// `#commit`.
    pub commit: u32,
    /// `#identity`.
    pub identity: u32,
    /// `#account`.
    pub account: u32,
    /// `#sync`.
    pub sync: u32,
    /// `#labels`.
    pub labels: u32,
}

impl Default for EventWeights {
    /// Mostly commits, as on the real firehose.
    fn default() -> Self {
        Self {
            commit: 80,
            identity: 5,
            account: 4,
            sync: 3,
            labels: 8,
        }
    }
}

impl Default for ScriptSpec {
    /// 300 events from seq 100.
    fn default() -> Self {
        Self {
            seed: 1,
            events: 300,
            first_seq: 100,
            max_seq_gap: 3,
            step_ms: 20,
            max_repo_records: 2_000,
            weights: EventWeights::default(),
        }
    }
}

impl ScriptSpec {
    /// Refuses specs the generator cannot honour.
    pub fn validate(&self) -> Result<(), ScriptError> {
        let w = &self.weights;
        if w.commit + w.identity + w.account + w.sync + w.labels == 0 {
            return Err(ScriptError::Spec("every event weight is zero".into()));
        }
        if self.max_seq_gap < 1 || self.first_seq < 0 {
            return Err(ScriptError::Spec(
                "seqs must start at 0 or more and grow by at least 1".into(),
            ));
        }
        Ok(())
    }
}
