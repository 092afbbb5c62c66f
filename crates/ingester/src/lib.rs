//! The `ingester`: the pipeline's entrance from the network into Redis Streams.

pub mod backfill;
pub mod backoff;
pub mod live;
