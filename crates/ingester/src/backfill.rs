//! Backfill enumeration: every repo of every configured relay (or, with `INGESTER_LIST_HOSTS`, of
//! every PDS those relays know) into `repo_backfill`, for the backfiller to fetch.
//!
//! Each host's listing resumes from `repo_backfill:cursor:{host}`. When a host has been listed to
//! the end its key holds `!ingester-done`; the ingester re-reads the key every
//! `INGESTER_BACKFILL_RECHECK_SECS` and lists again when an operator resets (or deletes) it.

mod hosts;
mod isolate;
mod lister;
mod run;

use std::time::Duration;

pub use hosts::{list_hosts, pds_host};
pub use isolate::{IsolateOptions, Isolator, PageSource, Step, XrpcPages};
pub use lister::{HostLister, ListError, Pass, SkippedCursor, skipped_key};
pub use run::{BackfillContext, run_host, run_hosts_of};

/// How the backfill listing runs.
#[derive(Debug, Clone)]
pub struct BackfillOptions {
    /// Page sizes, retries and isolation.
    pub isolate: IsolateOptions,
    /// How often a finished host's key is re-read (`INGESTER_BACKFILL_RECHECK_SECS`).
    pub recheck: Duration,
    /// Most records kept in each `repo_backfill:skipped:{host}` (`INGESTER_SKIPPED_MAX_LEN`).
    pub skipped_max_len: u64,
}
