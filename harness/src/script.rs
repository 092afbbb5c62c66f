//! The live script: a timeline of firehose and label events over a generated [`Network`], each
//! with the exact frame bytes the relay (or labeler) sends and the change it makes to the world.
//!
//! [`Script::generate`] plays the network forward from its generated state: commits that create,
//! update and delete records (many of them records that existed before the script, i.e. ones a
//! backfill may be fetching at that very moment), `#identity` (handle changes), `#account`
//! (deactivate, reactivate, takedown, delete), `#sync` (a repository reset without a commit), and
//! `#labels` from labelers (including negations). Relay seqs increase with gaps; each labeler has
//! its own seq. Every event carries a [`Change`]: for repository events, the new repository as
//! `getRepo` must serve it from then on ([`RepoSnapshot`]), so mock servers apply events in order
//! and the [`oracle`](crate::oracle) derives the expected database from them.
//!
//! [`Network`]: crate::network::Network
//!
//! - [`spec`]: [`ScriptSpec`] and [`EventWeights`].
//! - [`event`]: [`ScriptEvent`], [`Change`], [`OpTruth`], [`RepoSnapshot`], [`EventSource`].
//! - [`live_repo`]: a repository being mutated commit by commit.
//! - [`labels`]: signed labels.
//! - [`timeline`]: [`Script`] and its generator.
//! - [`to_mock`]: [`apply_to_states`], an event's change applied to the mock servers' states.

pub mod event;
pub mod labels;
pub mod live_repo;
pub mod spec;
pub mod timeline;
pub mod to_mock;

mod error;

pub use error::ScriptError;
pub use event::{Change, EventSource, OpTruth, RepoSnapshot, ScriptEvent};
pub use labels::LabelKey;
pub use spec::{EventWeights, ScriptSpec};
pub use timeline::Script;
pub use to_mock::apply_to_states;
