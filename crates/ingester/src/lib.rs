//! The `ingester`: the pipeline's entrance from the network into Redis Streams.
//!
//! Modes (`INGESTER_MODE`): `firehose` reads every relay's `subscribeRepos` into `firehose_live`,
//! `labeler` every labeler's `subscribeLabels` into `label_live`, `backfill` every relay's
//! `listRepos` (or, with `INGESTER_LIST_HOSTS`, every PDS the relays know) into `repo_backfill`;
//! `all` runs the three. `docs/contract.md` is the specification of the streams, payloads,
//! cursor keys and settings; what this crate adds to it:
//!
//! | key | what |
//! |---|---|
//! | `firehose_live:skipped:{host}`, `label_live:skipped:{host}` | frames stepped past because they could not be decoded or converted: `{"seq","after_seq","error","time","frame_len","frame"?}` (field `skipped`) |
//! | `repo_backfill:skipped:{host}` | listRepos entries stepped past because they fail even alone: `{"host","cursor","next_cursor","limit","error","time"}` (field `skipped`) |
//!
//! Each skip record is written in the same MULTI/EXEC as the cursor that passes it, so nothing is
//! ever skipped without a trace. Metrics (on `METRICS_PORT`): `ingester_frames_total`,
//! `ingester_frames_skipped_total`, `ingester_reconnects_total`, `ingester_entries_written_total`,
//! `ingester_cursor`, `ingester_backfill_repos_total`, `ingester_backfill_page_failures_total`,
//! `ingester_backfill_skipped_total`, `ingester_backfill_stuck` (1 while a listing cannot advance),
//! plus the streams crate's backpressure gauges.
//!
//! - [`config`]: settings (environment and flags).
//! - [`live`]: subscriptions: reader, bounded queue, batching writer.
//! - [`backfill`]: listing with failure isolation, listHosts enumeration.
//! - [`backoff`]: jittered exponential delays.
//! - [`app`]: the supervised tasks of the binary.

pub mod app;
pub mod backfill;
pub mod backoff;
pub mod config;
pub mod live;
