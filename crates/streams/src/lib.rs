//! The Redis Streams contract every stage shares.
//!
//! Stream and key names ([`names`]), configured hosts ([`host`]), the JSON payloads ([`payloads`]),
//! batched writes with cursors and backpressure ([`producer`]), the consumer-group runner
//! ([`consumer`]) and safe trimming ([`trim`]). `/work/shared/contract.md` is the specification.

pub mod connection;
pub mod consumer;
pub mod error;
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
