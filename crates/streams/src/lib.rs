//! The Redis Streams contract every stage shares.
//!
//! Stream and key names ([`names`]), configured hosts ([`host`]), the JSON payloads ([`payloads`]),
//! batched writes with cursors ([`producer`]) and the backlog they wait on ([`backlog`]), the
//! consumer-group runner ([`consumer`]), safe trimming ([`trim`]) and the capped side streams
//! (dead letters, skip records: [`capped`]). `docs/contract.md` is the specification.

pub mod backlog;
pub mod capped;
pub mod connection;
pub mod consumer;
pub mod error;
mod event_wire;
pub mod host;
mod lua;
pub mod names;
pub mod payloads;
pub mod producer;
pub mod trim;

pub use consumer::{Consumer, ConsumerOptions, Delivery, Handler, Outcome};
pub use error::{Result, StreamsError};
pub use host::{HostError, ServiceHost};
pub use producer::{Producer, ProducerOptions};
