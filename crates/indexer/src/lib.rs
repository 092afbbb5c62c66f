//! The indexer: the last stage of the pipeline, turning stream events into rows of the Bluesky
//! AppView schema in PostgreSQL.
//!
//! [`schema`] owns that schema: the migrations shipped with the crate, `indexer migrate`, and
//! the refusal to run on an outdated database. [`records`] maps one record's JSON to the typed
//! rows of its collection, without touching the database. [`apply`] writes batches of stream
//! changes under the indexing rules; [`handler`] feeds it from the streams, with handles checked
//! through [`verify`] and concurrent batches merged into shared transactions by [`coalesce`];
//! [`config`] and [`run`] are the binary's run mode.

pub mod apply;
pub mod coalesce;
pub mod config;
pub mod handler;
pub mod records;
pub mod run;
pub mod schema;
pub mod verify;
