//! [`IdentityError`]: why a DID or handle could not be resolved.
//!
//! Errors are `Clone` because concurrent lookups of one DID share a single fetch and all receive
//! its outcome; the transport error inside is therefore behind an `Arc`.

use std::sync::Arc;

use protocol::crypto::KeyError;

use crate::error::XrpcError;

/// A failed DID or handle resolution.
#[derive(Debug, Clone, thiserror::Error)]
pub enum IdentityError {
    /// Not a syntactically valid DID.
    #[error("invalid DID {did:?}: {reason}")]
    InvalidDid {
        /// The offending text (truncated).
        did: String,
        /// Why it is invalid.
        reason: String,
    },
    /// Not a syntactically valid handle.
    #[error("invalid handle {handle:?}: {reason}")]
    InvalidHandle {
        /// The offending text (truncated).
        handle: String,
        /// Why it is invalid.
        reason: String,
    },
    /// A DID method atproto does not use (only `plc` and `web`), or a did:web with a path.
    #[error("unsupported DID {did}: {reason}")]
    UnsupportedDid {
        /// The DID.
        did: String,
        /// What is unsupported.
        reason: &'static str,
    },
    /// The directory does not know the DID, or it was tombstoned (PLC 404/410, did:web 404).
    #[error("DID {did} not found: {message}")]
    NotFound {
        /// The DID.
        did: String,
        /// The server's message.
        message: String,
    },
    /// The document could not be fetched (timeout, 5xx, transport, refused host, bad JSON).
    #[error("fetching the DID document of {did}: {source}")]
    Fetch {
        /// The DID.
        did: String,
        /// The underlying error.
        #[source]
        source: Arc<XrpcError>,
    },
    /// The document is not usable as an atproto identity.
    #[error("DID document of {did} is invalid: {reason}")]
    BadDocument {
        /// The DID.
        did: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `#atproto` verification method holds no key we can read.
    #[error("DID document of {did} has an unreadable #atproto key: {source}")]
    BadSigningKey {
        /// The DID.
        did: String,
        /// The key error.
        #[source]
        source: KeyError,
    },
    /// The PDS endpoint is on a private network, and those are not allowed.
    #[error("DID document of {did} points at a private PDS endpoint {endpoint}")]
    PrivateEndpoint {
        /// The DID.
        did: String,
        /// The refused endpoint.
        endpoint: String,
    },
    /// A handle could not be checked because its DNS or HTTPS answers failed transiently.
    #[error("resolving handle {handle}: {reason}")]
    HandleUnavailable {
        /// The handle.
        handle: String,
        /// What failed.
        reason: String,
    },
}

impl IdentityError {
    /// The DID does not exist (or no longer does).
    pub fn is_not_found(&self) -> bool {
        matches!(self, IdentityError::NotFound { .. })
    }

    /// Asking again soon will give the same answer: everything but transient fetch failures.
    pub fn is_permanent(&self) -> bool {
        match self {
            IdentityError::Fetch { source, .. } => source.is_permanent(),
            IdentityError::HandleUnavailable { .. } => false,
            _ => true,
        }
    }
}
