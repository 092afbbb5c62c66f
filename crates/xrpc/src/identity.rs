//! Identity resolution: a DID to its PDS endpoint, signing key and claimed handle; a handle to
//! its DID.
//!
//! did:plc documents come from the PLC directory (`GET {plc}/{did}`), did:web documents from
//! `https://{host}/.well-known/did.json`. Results are cached with a TTL in a bounded cache, and
//! concurrent lookups of one DID share one request, because a backfill resolves each of millions of
//! DIDs once while the live indexer resolves a few DIDs very often.

mod cache;
mod document;
mod error;
mod handle;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use protocol::crypto::PublicKey;
use protocol::syntax::{Did, Handle};
use serde::Deserialize;
use url::Url;

pub use error::IdentityError;

use crate::client::XrpcClient;
use crate::host_policy::is_private_url;
use cache::Cache;
use document::DidDocument;

/// Longest input echoed back in an error.
const ECHO_CHARS: usize = 100;

/// Settings of an [`IdentityResolver`].
#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// The PLC directory (`PLC_URL`), e.g. `https://plc.directory`.
    pub plc_url: Url,
    /// Accept PDS endpoints and did:web hosts on private networks, and fetch did:web documents
    /// from such hosts over plain HTTP (`ALLOW_PRIVATE_HOSTS`; test networks only). The
    /// [`XrpcClient`] passed in must allow them too.
    pub allow_private_hosts: bool,
    /// How long a resolved identity is trusted.
    pub ttl: Duration,
    /// How long "not found" and invalid documents are remembered.
    pub negative_ttl: Duration,
    /// Most DIDs (and, separately, handles) cached at once.
    pub max_entries: usize,
    /// A `com.atproto.identity.resolveHandle` service to ask instead of DNS and HTTPS
    /// (`HANDLE_RESOLVER_URL`).
    pub handle_resolver_url: Option<Url>,
    /// DNS servers for handle TXT lookups instead of the system's (`/etc/resolv.conf`).
    pub dns_servers: Vec<SocketAddr>,
}

impl IdentityConfig {
    /// Defaults for the given PLC directory: one hour TTL, five minutes for negative answers,
    /// 100 000 entries, DNS and HTTPS handle checks, no private hosts.
    pub fn new(plc_url: Url) -> Self {
        IdentityConfig {
            plc_url,
            allow_private_hosts: false,
            ttl: Duration::from_secs(60 * 60),
            negative_ttl: Duration::from_secs(5 * 60),
            max_entries: 100_000,
            handle_resolver_url: None,
            dns_servers: Vec::new(),
        }
    }
}

/// What a DID document says about an atproto account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedIdentity {
    /// The DID that was resolved.
    pub did: Did,
    /// The `#atproto_pds` service endpoint.
    pub pds_endpoint: Url,
    /// The `#atproto` signing key: repo commits must be signed by it.
    pub signing_key: PublicKey,
    /// The handle the document claims (first `at://` of `alsoKnownAs`), lower-cased; not verified:
    /// see [`IdentityResolver::resolve_handle`].
    pub handle: Option<String>,
}

/// Reads a DID document the caller already holds (a file, a captured PLC answer) the same way a
/// resolved one is read: it must be about `did`, and its endpoint obeys `allow_private_hosts`.
pub fn identity_from_document(
    did: &str,
    document: &serde_json::Value,
    allow_private_hosts: bool,
) -> Result<ResolvedIdentity, IdentityError> {
    let parsed: Did = did.parse().map_err(|e| IdentityError::InvalidDid {
        did: did.chars().take(ECHO_CHARS).collect(),
        reason: format!("{e}"),
    })?;
    let document = DidDocument::deserialize(document).map_err(|e| IdentityError::BadDocument {
        did: did.to_owned(),
        reason: format!("not a DID document: {e}"),
    })?;
    document.into_identity(&parsed, allow_private_hosts)
}

/// Resolves DIDs and handles, with caching. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct IdentityResolver {
    client: XrpcClient,
    config: Arc<IdentityConfig>,
    dids: Arc<Cache<ResolvedIdentity>>,
    handles: Arc<Cache<Option<Did>>>,
    dns: Option<TokioResolver>,
}

impl std::fmt::Debug for IdentityResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityResolver")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl IdentityResolver {
    /// A resolver using `client` for HTTP. DNS uses `config.dns_servers`, else the system
    /// configuration, else Cloudflare's public resolvers (when `/etc/resolv.conf` is unreadable).
    pub fn new(client: XrpcClient, config: IdentityConfig) -> Self {
        let dns = build_dns(&config.dns_servers);
        IdentityResolver {
            client,
            dids: Arc::new(Cache::new(
                config.ttl,
                config.negative_ttl,
                config.max_entries,
            )),
            handles: Arc::new(Cache::new(
                config.ttl,
                config.negative_ttl,
                config.max_entries,
            )),
            config: Arc::new(config),
            dns,
        }
    }

    /// Resolves a DID (`did:plc:…` or `did:web:…`) to its PDS endpoint, signing key and handle
    /// claim, from the cache when fresh.
    pub async fn resolve_did(
        &self,
        did: impl AsRef<str>,
    ) -> Result<ResolvedIdentity, IdentityError> {
        let text = did.as_ref();
        let did: Did = text.parse().map_err(|e| IdentityError::InvalidDid {
            did: text.chars().take(ECHO_CHARS).collect(),
            reason: format!("{e}"),
        })?;
        let key = did.as_str().to_owned();
        self.dids.get_or_fetch(&key, || self.fetch_did(did)).await
    }

    /// Forgets a cached DID, e.g. after a commit failed to verify with its cached key (the
    /// account may have rotated it).
    pub fn invalidate(&self, did: &str) {
        self.dids.invalidate(did);
    }

    /// Number of DIDs currently cached (a gauge for operators).
    pub fn cached_dids(&self) -> usize {
        self.dids.len()
    }

    /// Resolves a handle to the DID it points to, or `None` when no method vouches for it.
    /// A handle is valid for a DID when this returns that DID and the DID's document claims
    /// the handle.
    pub async fn resolve_handle(&self, handle: &str) -> Result<Option<Did>, IdentityError> {
        let parsed: Handle = handle.parse().map_err(|e| IdentityError::InvalidHandle {
            handle: handle.chars().take(ECHO_CHARS).collect(),
            reason: format!("{e}"),
        })?;
        let normalized = parsed.as_str().to_ascii_lowercase();
        self.handles
            .get_or_fetch(&normalized, || async {
                match &self.config.handle_resolver_url {
                    Some(service) => {
                        handle::resolve_via_service(&self.client, service, &normalized).await
                    }
                    None => {
                        handle::resolve_directly(&self.client, self.dns.as_ref(), &normalized).await
                    }
                }
            })
            .await
    }

    /// The handle of `identity` if it is verified both ways (the document claims it and the
    /// handle resolves back to the DID), else `None`.
    pub async fn verified_handle(
        &self,
        identity: &ResolvedIdentity,
    ) -> Result<Option<String>, IdentityError> {
        let Some(handle) = &identity.handle else {
            return Ok(None);
        };
        let resolved = self.resolve_handle(handle).await?;
        Ok((resolved.as_ref() == Some(&identity.did)).then(|| handle.clone()))
    }

    async fn fetch_did(&self, did: Did) -> Result<ResolvedIdentity, IdentityError> {
        let url = self.document_url(&did)?;
        let fetched = self
            .client
            .fetch_json::<DidDocument>("did-document", &url)
            .await;
        let document = match fetched {
            Ok((document, _)) => document,
            Err(e) if matches!(e.status(), Some(404 | 410)) => {
                let message = match &e {
                    crate::XrpcError::Xrpc { message, error, .. } => {
                        message.clone().unwrap_or_else(|| error.clone())
                    }
                    other => other.to_string(),
                };
                return Err(IdentityError::NotFound {
                    did: did.to_string(),
                    message,
                });
            }
            Err(e) => {
                return Err(IdentityError::Fetch {
                    did: did.to_string(),
                    source: Arc::new(e),
                });
            }
        };
        document.into_identity(&did, self.config.allow_private_hosts)
    }

    fn document_url(&self, did: &Did) -> Result<Url, IdentityError> {
        let unsupported = |reason| IdentityError::UnsupportedDid {
            did: did.to_string(),
            reason,
        };
        match did.method() {
            "plc" => {
                let mut url = self.config.plc_url.clone();
                let prefix = url.path().trim_end_matches('/').to_owned();
                url.set_path(&format!("{prefix}/{did}"));
                Ok(url)
            }
            "web" => {
                let host = did.identifier();
                if host.contains(':') {
                    return Err(unsupported("did:web with a path"));
                }
                // A port is percent-encoded in did:web (`localhost%3A2583`).
                let host = host.replace("%3A", ":").replace("%3a", ":");
                let probe = Url::parse(&format!("http://{host}/"))
                    .map_err(|_| unsupported("did:web host is not a valid host name"))?;
                let private = is_private_url(&probe);
                if private && !self.config.allow_private_hosts {
                    return Err(IdentityError::Fetch {
                        did: did.to_string(),
                        source: Arc::new(crate::XrpcError::PrivateHost {
                            call: "did-document",
                            url: probe.to_string(),
                        }),
                    });
                }
                // Test networks serve did:web documents from localhost over plain HTTP.
                let scheme = if private { "http" } else { "https" };
                Url::parse(&format!("{scheme}://{host}/.well-known/did.json"))
                    .map_err(|_| unsupported("did:web host is not a valid host name"))
            }
            _ => Err(unsupported("only did:plc and did:web are supported")),
        }
    }
}

fn build_dns(servers: &[SocketAddr]) -> Option<TokioResolver> {
    let provider = TokioRuntimeProvider::default();
    if !servers.is_empty() {
        let name_servers = servers
            .iter()
            .map(|addr| {
                let mut udp = ConnectionConfig::udp();
                udp.port = addr.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = addr.port();
                NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
            })
            .collect();
        let config = ResolverConfig::from_name_servers(name_servers);
        if let Ok(resolver) = TokioResolver::builder_with_config(config, provider.clone()).build() {
            return Some(resolver);
        }
    }
    if let Ok(resolver) = TokioResolver::builder_tokio().and_then(|b| b.build()) {
        return Some(resolver);
    }
    let fallback = ResolverConfig::udp_and_tcp(&hickory_resolver::config::CLOUDFLARE);
    // Building from a static configuration without TLS does not fail in practice; if it ever
    // does, handle checks report DNS as unavailable instead of stopping the process.
    TokioResolver::builder_with_config(fallback, provider)
        .build()
        .ok()
}
