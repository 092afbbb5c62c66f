//! Handle to DID: DNS TXT `_atproto.<handle>`, then `https://<handle>/.well-known/atproto-did`,
//! or, when an operator configures one, `com.atproto.identity.resolveHandle` at a resolver service.
//!
//! A handle only counts when exactly one DID is claimed. "Nothing found" is `Ok(None)`; a lookup
//! that failed for transient reasons (DNS server failure, timeout, 5xx) with no other method
//! succeeding is an error, so callers do not mark a handle invalid because a server hiccuped.

use hickory_resolver::TokioResolver;
use hickory_resolver::proto::rr::RData;
use protocol::syntax::Did;
use url::Url;

use super::IdentityError;
use crate::body::read_capped;
use crate::client::XrpcClient;
use crate::error::XrpcError;

/// The `/.well-known/atproto-did` body is a DID and maybe a newline; anything bigger is wrong.
const WELL_KNOWN_CAP: usize = 2048;

/// What one resolution method found.
enum Found {
    /// Exactly one DID.
    Did(Did),
    /// Definitely nothing (no record, 404, garbage, or several DIDs).
    Nothing,
    /// Could not tell; the reason is kept for the error.
    Unavailable(String),
}

/// The DIDs claimed by TXT strings (`did=<did>`), deduplicated.
fn dids_in_txt<'a>(strings: impl Iterator<Item = &'a str>) -> Found {
    let mut found: Option<Did> = None;
    for text in strings {
        let Some(value) = text.trim().strip_prefix("did=") else {
            continue;
        };
        let Ok(did) = value.parse::<Did>() else {
            continue;
        };
        match &found {
            Some(existing) if *existing != did => return Found::Nothing,
            _ => found = Some(did),
        }
    }
    found.map_or(Found::Nothing, Found::Did)
}

async fn via_dns(dns: Option<&TokioResolver>, handle: &str) -> Found {
    let name = format!("_atproto.{handle}.");
    let Some(dns) = dns else {
        return Found::Unavailable("no DNS resolver could be configured".to_owned());
    };
    match dns.txt_lookup(name.as_str()).await {
        Ok(lookup) => {
            // A record's character-strings are one logical value; join them before parsing.
            let values: Vec<String> = lookup
                .answers()
                .iter()
                .filter_map(|record| match &record.data {
                    RData::TXT(txt) => Some(
                        txt.txt_data
                            .iter()
                            .map(|part| String::from_utf8_lossy(part))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect();
            dids_in_txt(values.iter().map(String::as_str))
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Found::Nothing,
        Err(e) => Found::Unavailable(format!("DNS TXT {name}: {e}")),
    }
}

async fn via_well_known(client: &XrpcClient, handle: &str) -> Found {
    const CALL: &str = "atproto-did";
    let Ok(url) = Url::parse(&format!("https://{handle}/.well-known/atproto-did")) else {
        return Found::Nothing;
    };
    let request = client
        .http()
        .get(url.clone())
        .timeout(client.config().request_timeout);
    match client.send(CALL, &url, request).await {
        Ok(mut response) => match read_capped(&mut response, WELL_KNOWN_CAP).await {
            Ok(body) => std::str::from_utf8(&body)
                .ok()
                .and_then(|text| text.trim().parse::<Did>().ok())
                .map_or(Found::Nothing, Found::Did),
            Err(_) => Found::Nothing,
        },
        Err(e) if is_definite_miss(&e) => Found::Nothing,
        Err(e) => Found::Unavailable(e.to_string()),
    }
}

/// Answers that mean "this host does not vouch for the handle": 4xx other than 429, refused
/// hosts, and hosts that do not exist.
fn is_definite_miss(error: &XrpcError) -> bool {
    match error {
        XrpcError::RateLimited { .. } => false,
        XrpcError::PrivateHost { .. } | XrpcError::BadUrl { .. } | XrpcError::TooLarge { .. } => {
            true
        }
        other => other.status().is_some_and(|s| (400..500).contains(&s)),
    }
}

/// Resolves through DNS and then HTTPS.
pub(crate) async fn resolve_directly(
    client: &XrpcClient,
    dns: Option<&TokioResolver>,
    handle: &str,
) -> Result<Option<Did>, IdentityError> {
    let dns_result = via_dns(dns, handle).await;
    if let Found::Did(did) = dns_result {
        return Ok(Some(did));
    }
    match (dns_result, via_well_known(client, handle).await) {
        (_, Found::Did(did)) => Ok(Some(did)),
        (Found::Unavailable(reason), _) | (_, Found::Unavailable(reason)) => {
            Err(IdentityError::HandleUnavailable {
                handle: handle.to_owned(),
                reason,
            })
        }
        _ => Ok(None),
    }
}

/// Resolves through a `com.atproto.identity.resolveHandle` service.
pub(crate) async fn resolve_via_service(
    client: &XrpcClient,
    service: &Url,
    handle: &str,
) -> Result<Option<Did>, IdentityError> {
    match client.resolve_handle(service, handle).await {
        Ok(text) => Ok(text.parse::<Did>().ok()),
        // The reference PDS answers an unknown handle with 400 InvalidRequest "Unable to resolve
        // handle"; newer servers say HandleNotFound.
        Err(e) if e.status() == Some(400) || e.status() == Some(404) => Ok(None),
        Err(e) => Err(IdentityError::HandleUnavailable {
            handle: handle.to_owned(),
            reason: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn did_of(found: Found) -> Option<String> {
        match found {
            Found::Did(did) => Some(did.to_string()),
            _ => None,
        }
    }

    #[test]
    fn txt_values() {
        let one = ["did=did:plc:ewvi7nxzyoun6zhxrhs64oiz"];
        assert_eq!(
            did_of(dids_in_txt(one.into_iter())).as_deref(),
            Some("did:plc:ewvi7nxzyoun6zhxrhs64oiz")
        );
        let noise = [
            "v=spf1 -all",
            "did=did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "did=not a did",
        ];
        assert!(did_of(dids_in_txt(noise.into_iter())).is_some());
        let conflicting = [
            "did=did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "did=did:web:example.com",
        ];
        assert!(matches!(
            dids_in_txt(conflicting.into_iter()),
            Found::Nothing
        ));
        assert!(matches!(dids_in_txt([].into_iter()), Found::Nothing));
    }
}
