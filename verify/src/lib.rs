//! `verify`: tells an operator (and CI) whether the pipeline is healthy and complete.
//!
//! It reads Redis and PostgreSQL twice, a sample window apart, judges the operator's success
//! criteria one by one ([`verdict`]), and with `--expect` compares the database with the harness's
//! oracle ([`expect`], [`manifest`]). It never writes to either.
//!
//! The library exists so the harness can write manifests with the same types verify reads.

pub mod db_probe;
pub mod expect;
pub mod manifest;
pub mod redis_probe;
pub mod report;
pub mod snapshot;
pub mod verdict;
