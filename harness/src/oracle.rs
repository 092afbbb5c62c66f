//! The oracle: what the database must hold once the pipeline has taken in a generated network
//! and a prefix of its live script, written as a manifest that `verify --expect` compares against
//! PostgreSQL (and the dead-letter streams).
//!
//! [`Oracle::new`] builds every repository once (in parallel) and keeps each one's records and
//! head; [`Oracle::manifest`] replays the first `applied` script events over that state, takes the
//! planned repo-breaking faults into account ([`RepoBreak`]: this DID's `getRepo` is broken, so its
//! backfill must end in the dead-letter stream with this reason), and says what must be true.
//!
//! # Manifest format (`format: "harness-manifest/1"`)
//!
//! One JSON object; every list is sorted (by `uri`, `did`, or label key) so manifests diff well.
//!
//! | field | meaning |
//! |---|---|
//! | `format` | `"harness-manifest/1"` |
//! | `network_seed`, `script_seed` | what generated the world (`script_seed` null without a script) |
//! | `events_applied` | how many script events (relay and labeler, timeline order) are in the truth |
//! | `relay_seq` | seq of the last relay event applied (null if none) |
//! | `labeler_seqs` | `{labeler DID: seq of its last event applied}` |
//! | `actors` | one per account: see below |
//! | `records` | `[{uri, cid, rev, required}]`: records that may be in `record` |
//! | `absent` | `[{uri, rev}]`: records that must **not** be in `record` (as live rows) |
//! | `labels` | `[{src, uri, cid, val, exp}]`: exactly the rows of `label` (`cid` is `""` for account labels) |
//! | `dead_letters` | `[{did, stream, reason, required}]` |
//!
//! `actors[]`: `{did, pds, handle, handle_from_event, status, status_from_event, head, rev,
//! head_from_event}`. `status` is null when active, else `deactivated`, `takendown` or `deleted`
//! (the upstream truth; the indexer can only know it from an `#account` event, which
//! `status_from_event` says happened). `handle` is the current handle (`handle_from_event`: an
//! `#identity` announced it). `head`/`rev` are the repository's current commit and rev (null for
//! deleted accounts); `actor_sync` may hold them, or an older commit if `head_from_event` is false
//! and no backfill was possible.
//!
//! Rules `verify` applies:
//! - Every `records[]` entry with `required: true` is in `record` with exactly that `cid`; its
//!   stored `rev` is at least the entry's `rev` (the commit that wrote that content) and at most
//!   the actor's `rev`.
//! - An entry with `required: false` may be missing (it could only arrive through a backfill that
//!   timing may have prevented, e.g. the account was taken down mid-script); if present, its `cid`
//!   must match.
//! - For every DID in `actors`, `record` holds no URI outside `records[]` (records are exhaustive).
//! - No `absent[]` URI is in `record`.
//! - `label` equals `labels[]` (keyed by `src, uri, cid, val`; `exp` compared as stored).
//! - Every `dead_letters[]` entry with `required: true` has an entry in `stream` whose DID matches
//!   and whose reason contains `reason` (case-insensitive); `required: false` ones may be there.
//!   No other DID may be dead-lettered from `repo_backfill`.
//!
//! - [`manifest`]: [`Manifest`] and its entries, `write`/`read`.
//! - [`compute`]: [`Oracle`], [`RepoBreak`].

pub mod compute;
pub mod manifest;

mod error;

pub use compute::{Oracle, RepoBreak};
pub use error::OracleError;
pub use manifest::{
    AbsentRecord, ActorExpectation, DeadLetterExpectation, LabelExpectation, MANIFEST_FORMAT,
    Manifest, RecordExpectation,
};
