//! Handle verification for `identity` events, behind a trait so tests can stand in for DNS and
//! HTTPS. The real one re-resolves the DID document and keeps the handle only if it resolves
//! back to the DID.

use std::future::Future;

use xrpc::IdentityResolver;

/// Why a handle could not be checked now.
#[derive(Debug, Clone, thiserror::Error)]
#[error("verifying the handle of {did}: {reason}")]
pub struct VerifyError {
    /// The DID.
    pub did: String,
    /// What failed.
    pub reason: String,
}

/// Finds a DID's current, verified handle.
pub trait HandleVerifier: Send + Sync + 'static {
    /// The DID's handle if its document claims it and it resolves back to the DID, lower-cased;
    /// `Ok(None)` when it has none; `Err` when that cannot be known now (try later).
    fn verified_handle(
        &self,
        did: &str,
    ) -> impl Future<Output = Result<Option<String>, VerifyError>> + Send;
}

/// [`HandleVerifier`] over the network, through `xrpc::IdentityResolver`.
#[derive(Debug, Clone)]
pub struct ResolverVerifier {
    resolver: IdentityResolver,
}

impl ResolverVerifier {
    /// Verifies with `resolver`.
    pub fn new(resolver: IdentityResolver) -> Self {
        Self { resolver }
    }
}

impl HandleVerifier for ResolverVerifier {
    async fn verified_handle(&self, did: &str) -> Result<Option<String>, VerifyError> {
        // An identity event says the document may have changed: never trust the cache here.
        self.resolver.invalidate(did);
        let failed = |e: xrpc::IdentityError| VerifyError {
            did: did.to_owned(),
            reason: e.to_string(),
        };
        let identity = match self.resolver.resolve_did(did).await {
            Ok(identity) => identity,
            // A DID that is gone or invalid has no handle.
            Err(e) if e.is_permanent() => return Ok(None),
            Err(e) => return Err(failed(e)),
        };
        match self.resolver.verified_handle(&identity).await {
            Ok(handle) => Ok(handle.map(|h| h.to_lowercase())),
            Err(e) if e.is_permanent() => Ok(None),
            Err(e) => Err(failed(e)),
        }
    }
}
