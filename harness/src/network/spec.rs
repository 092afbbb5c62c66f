//! [`NetworkSpec`]: everything the generator needs to know, serde-friendly, with defaults that make
//! a small but varied network.

use serde::{Deserialize, Serialize};

use super::NetworkError;

/// The largest number of accounts a network may hold (account indexes are 24-bit in seeds).
pub const MAX_ACCOUNTS: usize = 1 << 24;

/// What network to generate. Missing fields take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSpec {
    /// The seed: same spec and seed, same bytes.
    pub seed: u64,
    /// Ordinary accounts (labelers come on top).
    pub accounts: usize,
    /// PDS hosts, named `pds1.test` … `pdsN.test`.
    pub pds_hosts: usize,
    /// Labeler accounts, each with its own host `labelerN.test`.
    pub labelers: usize,
    /// Share of accounts on did:web (the rest are did:plc).
    pub did_web_fraction: f64,
    /// Share of accounts signing with P-256 (the rest use secp256k1).
    pub p256_fraction: f64,
    /// Share of accounts whose repository holds no record at all.
    pub empty_fraction: f64,
    /// Share of accounts deactivated before the script starts.
    pub deactivated_fraction: f64,
    /// Share of accounts taken down before the script starts.
    pub takendown_fraction: f64,
    /// Share of accounts deleted before the script starts.
    pub deleted_fraction: f64,
    /// Record count of a typical repository: log-uniform in `[min, max]`.
    pub typical_records: RecordRange,
    /// Share of heavy repositories.
    pub heavy_fraction: f64,
    /// Record count of a heavy repository: log-uniform in `[min, max]`.
    pub heavy_records: RecordRange,
    /// If set, account 0 gets exactly this many records (e.g. 1,000,000).
    pub giant_records: Option<u32>,
    /// The moment the live script starts, in Unix milliseconds; all history is before it.
    pub base_time_ms: i64,
    /// How far back accounts were created, in days.
    pub history_days: u32,
}

/// An inclusive range of record counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordRange {
    /// Fewest records.
    pub min: u32,
    /// Most records.
    pub max: u32,
}

impl Default for NetworkSpec {
    /// 200 accounts on 3 PDSes with one labeler; repos of 10 to 1,000 records, 0.2 % heavy.
    fn default() -> Self {
        Self {
            seed: 1,
            accounts: 200,
            pds_hosts: 3,
            labelers: 1,
            did_web_fraction: 0.05,
            p256_fraction: 0.2,
            empty_fraction: 0.02,
            deactivated_fraction: 0.01,
            takendown_fraction: 0.01,
            deleted_fraction: 0.01,
            typical_records: RecordRange {
                min: 10,
                max: 1_000,
            },
            heavy_fraction: 0.002,
            heavy_records: RecordRange {
                min: 10_000,
                max: 100_000,
            },
            giant_records: None,
            // 2026-11-01T00:00:00.000Z
            base_time_ms: 1_793_491_200_000,
            history_days: 700,
        }
    }
}

impl NetworkSpec {
    /// A small network for unit tests: `accounts` accounts, repos of 0 to 60 records, no heavy ones.
    pub fn small(seed: u64, accounts: usize) -> Self {
        Self {
            seed,
            accounts,
            typical_records: RecordRange { min: 1, max: 60 },
            heavy_fraction: 0.0,
            ..Self::default()
        }
    }

    /// Refuses specs the generator cannot honour.
    pub fn validate(&self) -> Result<(), NetworkError> {
        let bad = |what: String| Err(NetworkError::Spec(what));
        if self.accounts + self.labelers > MAX_ACCOUNTS {
            return bad(format!("more than {MAX_ACCOUNTS} accounts"));
        }
        if self.pds_hosts == 0 {
            return bad("at least one PDS host is needed".into());
        }
        let fractions = [
            ("did_web_fraction", self.did_web_fraction),
            ("p256_fraction", self.p256_fraction),
            ("empty_fraction", self.empty_fraction),
            ("deactivated_fraction", self.deactivated_fraction),
            ("takendown_fraction", self.takendown_fraction),
            ("deleted_fraction", self.deleted_fraction),
            ("heavy_fraction", self.heavy_fraction),
        ];
        for (name, value) in fractions {
            if !(0.0..=1.0).contains(&value) {
                return bad(format!("{name} = {value} is not in [0, 1]"));
            }
        }
        let inactive = self.deactivated_fraction + self.takendown_fraction + self.deleted_fraction;
        if inactive > 1.0 {
            return bad(format!("inactive fractions add up to {inactive} > 1"));
        }
        for (name, range) in [
            ("typical_records", self.typical_records),
            ("heavy_records", self.heavy_records),
        ] {
            if range.min > range.max {
                return bad(format!("{name}: min {} > max {}", range.min, range.max));
            }
        }
        if self.history_days == 0 {
            return bad("history_days must be at least 1".into());
        }
        if self.base_time_ms < i64::from(self.history_days) * 86_400_000 {
            return bad("base_time_ms is before the start of history".into());
        }
        Ok(())
    }
}
