//! Mock servers of the simulated AT Protocol network: real HTTP and WebSocket on 127.0.0.1.
//!
//! Each mock binds an ephemeral port, serves plain-data state (DIDs, CAR bytes, frames as bytes,
//! DID documents as JSON) that the test or the network generator fills and may change while it
//! is served, obeys a [`Faults`](crate::faults::Faults) plan, and stops gracefully. They behave
//! like the real servers recorded in `fixtures/realpds/` (cursor formats, error bodies,
//! frames byte for byte).
//!
//! - [`MockRelay`]: `listRepos`, `listHosts`, `getRepo` (302 to the PDS), `subscribeRepos`.
//! - [`MockPds`]: `listRepos`, `getRepo`, `resolveHandle`, `subscribeRepos`, rate limits.
//! - [`MockPlc`]: the PLC directory.
//! - [`MockWeb`]: did:web documents and handle checks, for any number of host names.
//! - [`MockLabeler`]: a labeler's `subscribeLabels`.
//! - [`EventLog`]: the sequenced, bounded frames behind every stream.

mod error;
mod events;
mod fault_layer;
mod labeler;
mod listener;
mod params;
mod pds;
mod plc;
mod rate_limit;
mod relay;
mod respond;
mod server;
mod shared;
mod subscribe;
mod web;

pub use error::MockError;
pub use events::EventLog;
pub use labeler::MockLabeler;
pub use pds::{AccountStatus, MockPds, PdsAccount, PdsOptions, PdsState};
pub use plc::{MockPlc, PlcState};
pub use rate_limit::{RateLimit, RateLimiter, RequestRecord};
pub use relay::{MockRelay, RelayAccount, RelayHost, RelayState};
pub use server::MockServer;
pub use shared::Shared;
pub use web::{MockWeb, WebState};

use crate::faults::Faults;

/// Settings every mock takes.
#[derive(Debug, Clone)]
pub struct MockOptions {
    /// The fault plan (share one [`Faults`] between servers to drive them from one plan).
    pub faults: Faults,
    /// Events a stream retains; older cursors get `OutdatedCursor`.
    pub retained_events: usize,
    /// Live events a stream consumer may fall behind before `ConsumerTooSlow`.
    pub max_consumer_lag: usize,
}

impl Default for MockOptions {
    /// No faults, 100,000 retained events, 10,000 events of lag.
    fn default() -> Self {
        Self {
            faults: Faults::none(),
            retained_events: 100_000,
            max_consumer_lag: 10_000,
        }
    }
}
