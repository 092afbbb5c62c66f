//! Where `inspect car` gets the key that must have signed the commit: a DID document on disk, the
//! PLC directory, or nowhere (then the signature is reported as not checked).

use std::path::Path;

use anyhow::{Context, Result, bail};
use protocol::crypto::PublicKey;
use serde_json::Value;
use url::Url;
use xrpc::{ClientConfig, IdentityConfig, IdentityResolver, XrpcClient, identity_from_document};

/// The `#atproto` key of `did` from a JSON file holding either one DID document, or an object
/// mapping DIDs to documents (or to captured PLC answers `{"status", "body"}`, as in
/// `fixtures/realpds/did-docs.json`).
pub fn from_document_file(path: &Path, did: &str) -> Result<PublicKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading DID document file {}", path.display()))?;
    let json: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let document = match json.get(did) {
        Some(entry) => entry.get("body").unwrap_or(entry),
        None if json.get("id").is_some() => &json,
        None => bail!("{} holds no DID document for {did}", path.display()),
    };
    // The endpoint is not contacted, so a private one is no reason to refuse the key.
    let identity = identity_from_document(did, document, true)
        .with_context(|| format!("reading the DID document of {did} in {}", path.display()))?;
    Ok(identity.signing_key)
}

/// The `#atproto` key of `did` as the PLC directory (or the did:web host) publishes it now.
pub async fn from_directory(plc: &str, did: &str, allow_private_hosts: bool) -> Result<PublicKey> {
    let plc_url = Url::parse(plc).with_context(|| format!("--plc {plc:?} is not a URL"))?;
    let client = XrpcClient::new(ClientConfig {
        allow_private_hosts,
        ..ClientConfig::default()
    })
    .context("building the HTTP client")?;
    let mut config = IdentityConfig::new(plc_url);
    config.allow_private_hosts = allow_private_hosts;
    let identity = IdentityResolver::new(client, config)
        .resolve_did(did)
        .await
        .with_context(|| format!("resolving {did}"))?;
    Ok(identity.signing_key)
}
