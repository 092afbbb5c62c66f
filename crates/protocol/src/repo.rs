//! Repositories: the signed commit, the bounded-memory loader, and the writer.
//!
//! A repository is a CAR whose root is a signed commit pointing at an MST of records. The loader
//! reads one from any `AsyncRead` (a `getRepo` body), verifies every block, the commit and the
//! tree, and yields the records in key order while holding at most a configurable amount of record
//! data in memory. The writer builds the same structure from records, for the simulated network.
//!
//! - [`commit`]: [`Commit`] and [`UnsignedCommit`], their encoding and signatures.
//! - [`loader`]: [`load_repo`], [`LoadedRepo`], [`RepoRecord`].
//! - [`writer`]: [`RepoBuilder`], [`BuiltRepo`], [`BlockOrder`].

pub mod commit;
pub mod loader;
pub mod writer;

mod arena;
mod error;
mod first_write;
mod store;

pub use commit::{Commit, UnsignedCommit};
pub use error::{BlockKind, RepoError};
pub use loader::{LoadOptions, LoadedRepo, Records, RepoRecord, load_repo};
pub use store::INDEX_BYTES_PER_BLOCK;
pub use writer::{BlockOrder, BuiltRepo, RepoBuilder};
