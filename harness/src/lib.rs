//! Test harness for the pipeline: real local services (Redis, PostgreSQL, our own binaries) that
//! tests start, break and restart, and the simulated AT Protocol network.
//!
//! Nothing in the workspace depends on this crate; it only serves tests in `harness/tests/`.

pub mod faults;
pub mod mock;
pub mod network;
pub mod oracle;
pub mod script;
pub mod services;
pub mod sim;
