//! XRPC client and identity resolution for the pipeline's network edges.
//!
//! Everything a stage fetches from a stranger goes through here: relay and PDS sync endpoints
//! (`listRepos`, `listHosts`, `getRepo`, `getRepoStatus`, `getLatestCommit`), DID documents (PLC
//! and did:web) and handle checks. Every body is read under a size cap, every failure is a typed
//! error that says which call on which host failed, and destinations on private networks are
//! refused unless the operator allows them (test networks run on `localhost`).
//!
//! - [`client`]: [`XrpcClient`] and its configuration.
//! - [`error`]: [`XrpcError`], the named XRPC errors and their classification.
//! - [`rate_limit`]: [`RateLimitInfo`] parsed from response headers.
//! - [`sync`]: the `com.atproto.sync.*` response types.
//! - [`repo_body`]: [`RepoBody`], a streamed, size-capped `getRepo` body.
//! - [`host_policy`]: which destinations count as private.
//! - [`identity`]: [`IdentityResolver`]: DIDs to PDS endpoint, signing key and handle; handles to DIDs.

#![warn(missing_docs)]

mod body;
pub mod client;
pub mod error;
pub mod host_policy;
pub mod identity;
pub mod rate_limit;
pub mod repo_body;
pub mod sync;

pub use client::{ClientConfig, XrpcClient};
pub use error::XrpcError;
pub use identity::{
    IdentityConfig, IdentityError, IdentityResolver, ResolvedIdentity, identity_from_document,
};
pub use rate_limit::RateLimitInfo;
pub use repo_body::{RepoBody, RepoBodyError};
pub use sync::{LatestCommit, ListHostsPage, ListReposPage, ListedHost, ListedRepo, RepoStatus};
