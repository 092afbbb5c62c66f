//! Reading a DID document: the PDS endpoint, the `#atproto` signing key and the handle claim.
//!
//! Documents come from strangers (did:web) or from a directory that stores what strangers sent
//! (PLC), so every field is checked: the document must be about the DID we asked for, ids may be
//! relative (`#atproto`) or absolute (`did:…#atproto`) but must belong to that DID, and the
//! endpoint must be an http(s) URL that is not on a private network unless that is allowed.

use protocol::crypto::{KeyKind, PublicKey};
use protocol::syntax::{Did, Handle};
use serde::Deserialize;
use serde_json::Value;
use url::Url;

use super::IdentityError;
use super::ResolvedIdentity;
use crate::host_policy::is_private_url;

/// The parts of a DID document atproto reads; everything else is ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DidDocument {
    id: String,
    #[serde(default)]
    also_known_as: Vec<Value>,
    #[serde(default)]
    verification_method: Vec<Value>,
    #[serde(default)]
    service: Vec<Value>,
}

/// Whether `id` names `fragment` of `did`, in relative or absolute form.
fn is_fragment_of(id: &str, did: &str, fragment: &str) -> bool {
    let Some(rest) = id.strip_suffix(fragment) else {
        return false;
    };
    rest == "#" || rest.strip_suffix('#') == Some(did)
}

fn str_field<'a>(value: &'a Value, name: &str) -> Option<&'a str> {
    value.get(name)?.as_str()
}

impl DidDocument {
    /// Extracts the identity, checking that the document is about `did`.
    pub(crate) fn into_identity(
        self,
        did: &Did,
        allow_private_hosts: bool,
    ) -> Result<ResolvedIdentity, IdentityError> {
        let bad = |reason: String| IdentityError::BadDocument {
            did: did.to_string(),
            reason,
        };
        if self.id != did.as_str() {
            return Err(bad(format!(
                "document is about {:?}",
                self.id.chars().take(100).collect::<String>()
            )));
        }
        let signing_key = self.signing_key(did)?;
        let pds_endpoint = self.pds_endpoint(did, allow_private_hosts)?;
        Ok(ResolvedIdentity {
            did: did.clone(),
            pds_endpoint,
            signing_key,
            handle: self.handle(),
        })
    }

    fn signing_key(&self, did: &Did) -> Result<PublicKey, IdentityError> {
        let method = self
            .verification_method
            .iter()
            .find(|m| {
                str_field(m, "id").is_some_and(|id| is_fragment_of(id, did.as_str(), "atproto"))
            })
            .ok_or_else(|| IdentityError::BadDocument {
                did: did.to_string(),
                reason: "no #atproto verification method".to_owned(),
            })?;
        let multibase =
            str_field(method, "publicKeyMultibase").ok_or_else(|| IdentityError::BadDocument {
                did: did.to_string(),
                reason: "#atproto verification method has no publicKeyMultibase".to_owned(),
            })?;
        let legacy_kind = match str_field(method, "type") {
            Some("EcdsaSecp256k1VerificationKey2019") => Some(KeyKind::K256),
            Some("EcdsaSecp256r1VerificationKey2019") => Some(KeyKind::P256),
            _ => None,
        };
        // Legacy types carry a bare point; "Multikey" (and anything else) a prefixed multikey.
        // Some servers put a multikey under a legacy type, so fall back to that reading.
        let parsed = match legacy_kind {
            Some(kind) => PublicKey::from_legacy_multibase(kind, multibase)
                .or_else(|legacy_err| PublicKey::from_multikey(multibase).map_err(|_| legacy_err)),
            None => PublicKey::from_multikey(multibase),
        };
        parsed.map_err(|source| IdentityError::BadSigningKey {
            did: did.to_string(),
            source,
        })
    }

    fn pds_endpoint(&self, did: &Did, allow_private_hosts: bool) -> Result<Url, IdentityError> {
        let bad = |reason: String| IdentityError::BadDocument {
            did: did.to_string(),
            reason,
        };
        let service = self
            .service
            .iter()
            .find(|s| {
                str_field(s, "id").is_some_and(|id| is_fragment_of(id, did.as_str(), "atproto_pds"))
                    && str_field(s, "type") == Some("AtprotoPersonalDataServer")
            })
            .ok_or_else(|| bad("no #atproto_pds AtprotoPersonalDataServer service".to_owned()))?;
        let text = str_field(service, "serviceEndpoint")
            .ok_or_else(|| bad("#atproto_pds serviceEndpoint is not a string".to_owned()))?;
        let endpoint = Url::parse(text).map_err(|e| bad(format!("PDS endpoint {text:?}: {e}")))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host().is_none() {
            return Err(bad(format!("PDS endpoint {text:?} is not an http(s) URL")));
        }
        if !allow_private_hosts && is_private_url(&endpoint) {
            return Err(IdentityError::PrivateEndpoint {
                did: did.to_string(),
                endpoint: endpoint.to_string(),
            });
        }
        Ok(endpoint)
    }

    /// The first `at://` entry of `alsoKnownAs`, if it is a valid handle (lower-cased).
    fn handle(&self) -> Option<String> {
        let claim = self
            .also_known_as
            .iter()
            .filter_map(Value::as_str)
            .find_map(|aka| aka.strip_prefix("at://"))?;
        claim
            .parse::<Handle>()
            .ok()
            .map(|h| h.as_str().to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragment_ids_relative_and_absolute() {
        let did = "did:plc:abc";
        assert!(is_fragment_of("#atproto", did, "atproto"));
        assert!(is_fragment_of("did:plc:abc#atproto", did, "atproto"));
        assert!(!is_fragment_of("did:plc:other#atproto", did, "atproto"));
        assert!(!is_fragment_of("#atproto_label", did, "atproto"));
        assert!(!is_fragment_of("#xatproto", did, "atproto"));
        assert!(!is_fragment_of("atproto", did, "atproto"));
    }
}
