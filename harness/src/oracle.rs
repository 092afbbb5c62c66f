//! The oracle: what the database must hold once the pipeline has taken in a generated network
//! and a prefix of its live script, written as a manifest that `verify --expect` compares against
//! PostgreSQL (and the dead-letter streams).
//!
//! [`Oracle::new`] builds every repository once (in parallel) and keeps each one's records and
//! head; [`Oracle::manifest`] replays the first `applied` script events over that state, takes the
//! planned repo-breaking faults into account ([`RepoBreak`]: this DID's `getRepo` is broken, so its
//! backfill must end in the dead-letter stream with this reason), and says what must be true.
//!
//! The manifest format and the rules `verify` applies to it are documented in
//! [`verify::manifest`] and [`verify::expect`]: the types are verify's, so the harness writes
//! exactly what `verify --expect` reads.
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
    Manifest, ManifestError, RecordExpectation,
};
