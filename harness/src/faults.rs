//! Fault plans: declarative descriptions of what the simulated network does wrong, and when.
//!
//! A [`FaultPlan`] is plain data (serde, so a scenario can live in a JSON or TOML file): a list of
//! [`FaultRule`]s, each a [`Matcher`] that aims it (host, XRPC method, DID, cursor, frame number),
//! a [`Fault`] to inflict, and how many times (`times: None` is persistent). Every matching rule
//! fires, except that only the first one that replaces the answer fires (a status, a 429, a
//! reset, a dropped stream…); delays, trickles, truncations and stalls compose. The mock servers hold
//! a [`Faults`] handle, consult it at every request and before every stream frame, and record
//! what fired so a test can assert that its fault was really exercised.
//!
//! - [`plan`]: the data: rules, matchers, fault kinds.
//! - [`active`]: [`Faults`], the live plan with its counters, shared by servers and tests.
//! - [`repo_defect`]: [`corrupt_repo`], which rewrites a repository CAR to carry exactly one
//!   defect (re-signing where needed so that no other defect appears).

pub mod active;
pub mod plan;
pub mod repo_defect;

mod error;

pub use active::{Faults, FiredFault};
pub use error::FaultError;
pub use plan::{Checkpoint, Fault, FaultPlan, FaultRule, Matcher, Target};
pub use repo_defect::{RepoDefect, corrupt_repo};
