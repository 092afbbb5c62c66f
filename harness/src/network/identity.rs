//! DIDs, handles and DID documents of generated accounts.

use protocol::crypto::PublicKey;
use rand::Rng;
use serde_json::{Value, json};

/// The base32 alphabet of did:plc identifiers.
const PLC_ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// Names handles are made of.
const NAMES: &[&str] = &[
    "alice", "bob", "carla", "dan", "erin", "femi", "gus", "hana", "ivan", "jun", "kai", "lena",
    "mo", "nia", "omar", "pia", "quin", "rosa", "sam", "tara", "uma", "vic", "wren", "xia", "yuki",
    "zoe",
];

/// A did:plc identifier: `did:plc:` and 24 base32 characters.
pub(crate) fn plc_did(rng: &mut impl Rng) -> String {
    let mut did = String::with_capacity(32);
    did.push_str("did:plc:");
    for _ in 0..24 {
        let i = rng.gen_range(0..PLC_ALPHABET.len());
        did.push(char::from(PLC_ALPHABET[i]));
    }
    did
}

/// A name for account `index`, unique thanks to the index.
pub(crate) fn account_name(rng: &mut impl Rng, index: usize) -> String {
    let name = NAMES[rng.gen_range(0..NAMES.len())];
    format!("{name}-{index}")
}

/// The host a did:web account lives at (also its handle).
pub(crate) fn web_host(name: &str) -> String {
    format!("{name}.web.test")
}

/// The DID document the PLC directory (or the did:web host) serves for an account.
///
/// `pds_endpoint` is the PDS's URL as the test network reaches it (e.g. `http://127.0.0.1:40123`);
/// `labeler` adds the `#atproto_label` key and the `#atproto_labeler` service.
pub fn did_document(
    did: &str,
    handle: &str,
    key: &PublicKey,
    pds_endpoint: &str,
    labeler: Option<(&PublicKey, &str)>,
) -> Value {
    let mut methods = vec![json!({
        "id": format!("{did}#atproto"),
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": key.to_multikey(),
    })];
    let mut services = vec![json!({
        "id": "#atproto_pds",
        "type": "AtprotoPersonalDataServer",
        "serviceEndpoint": pds_endpoint,
    })];
    if let Some((label_key, endpoint)) = labeler {
        methods.push(json!({
            "id": format!("{did}#atproto_label"),
            "type": "Multikey",
            "controller": did,
            "publicKeyMultibase": label_key.to_multikey(),
        }));
        services.push(json!({
            "id": "#atproto_labeler",
            "type": "AtprotoLabeler",
            "serviceEndpoint": endpoint,
        }));
    }
    json!({
        "@context": [
            "https://www.w3.org/ns/did/v1",
            "https://w3id.org/security/multikey/v1",
        ],
        "id": did,
        "alsoKnownAs": [format!("at://{handle}")],
        "verificationMethod": methods,
        "service": services,
    })
}
