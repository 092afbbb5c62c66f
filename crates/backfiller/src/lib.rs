//! The backfiller: reads `repo_backfill` through its consumer group, fetches each listed repo from
//! its PDS, verifies it, and writes one `create` event per record and a closing `repo` event to
//! `firehose_backfill` (see `docs/contract.md`).
//!
//! - [`config`]: the environment and flags, and the [`Settings`] the rest runs on.
//! - [`hosts`]: per-PDS-host queues, concurrency, request spacing and 429 parking.
//! - [`fetch`]: DID resolution, `getRepo`, and verification of the CAR.
//! - [`emit`]: records to events, written in pipelined chunks under the high-water mark.
//! - [`failure`]: which failures dead-letter a repo at once and which are retried.
//! - [`requeue`]: sending a repo to the back of the stream without counting a delivery.
//! - [`handler`]: the consumer handler tying these together, and the outcome [`Tally`].
//! - [`run`]: building and running the whole service.

pub mod config;
pub mod emit;
pub mod failure;
pub mod fetch;
pub mod handler;
pub mod hosts;
pub mod requeue;
pub mod run;

pub use config::{ALIASES, Args, Settings};
pub use handler::{Backfiller, Tally};
pub use run::{RunError, Service};
