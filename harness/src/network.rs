//! The simulated network's MODEL: a deterministic generator of PDS hosts, accounts, keys, handles
//! and repositories full of lexicon-shaped records.
//!
//! Everything is a pure function of a [`NetworkSpec`] (which carries the seed): the same spec gives
//! byte-identical CARs on every machine. Generation is split so that nothing big is held twice:
//! [`Network::generate`] makes the cheap part (accounts, keys, identities, each repo's *plan*, and
//! the small table of "anchor" posts that other records point at), and each repository is built
//! on demand ([`Network::build_repo`], [`Network::for_each_repo`] in parallel) from its plan.
//!
//! Every record is a function of `(seed, account, slot)` alone, and records that point at other
//! accounts' posts (likes, reposts, replies, quotes) point only at anchor posts, whose CIDs the
//! network precomputes. That is what lets one repository be built without building the others.
//!
//! Host names (`pds3.test`, `labeler1.test`, `alice-7.web.test`) are identities, not addresses:
//! the mock servers map them to local ports and pass that mapping to [`did_document`].
//!
//! - [`spec`]: [`NetworkSpec`], the knobs, with defaults.
//! - [`account`]: [`Account`], [`AccountStatus`], [`DidMethod`].
//! - [`identity`]: DIDs, handles and DID documents.
//! - [`plan`]: [`RepoPlan`], which slot of a repository holds which kind of record.
//! - [`records`]: the lexicon record builders.
//! - [`text`]: post text with facets (byte offsets over UTF-8).
//! - [`repo`]: [`GeneratedRepo`] and [`GeneratedRecord`].
//! - [`model`]: [`Network`] itself.
//! - [`mock_state`]: the network as the mock servers' states ([`MockStates`], [`Endpoints`]).

pub mod account;
pub mod identity;
pub mod mock_state;
pub mod model;
pub mod plan;
pub mod records;
pub mod repo;
pub mod spec;
pub mod text;

mod error;
pub(crate) mod seeds;

pub use account::{Account, AccountStatus, DidMethod};
pub use error::NetworkError;
pub use identity::did_document;
pub use mock_state::{Endpoints, MockStates};
pub use model::{Network, StrongRef};
pub use plan::{RepoPlan, Slot};
pub use repo::{GeneratedRecord, GeneratedRepo};
pub use spec::NetworkSpec;
