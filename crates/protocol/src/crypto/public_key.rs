//! A verifying key on either curve, its text forms, and low-S signature verification.

use k256::ecdsa::signature::Verifier as _;

use super::KeyKind;
use super::error::{KeyError, SignatureError, snippet};
use super::multikey;

/// Prefix of a `did:key` identifier.
const DID_KEY_PREFIX: &str = "did:key:";

/// A public signing key: secp256k1 or P-256.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PublicKey {
    /// A secp256k1 key.
    K256(k256::ecdsa::VerifyingKey),
    /// A P-256 key.
    P256(p256::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// Parses a multikey: `z` + base58btc of a multicodec prefix and a 33-byte compressed point.
    pub fn from_multikey(text: &str) -> Result<Self, KeyError> {
        let bytes = multikey::decode_base58btc(text)?;
        let (kind, point) = multikey::split_prefix(text, &bytes)?;
        Self::from_sec1(kind, point, text, "compressed point", &[33])
    }

    /// Parses `did:key:` + multikey.
    pub fn from_did_key(text: &str) -> Result<Self, KeyError> {
        let Some(multikey) = text.strip_prefix(DID_KEY_PREFIX) else {
            return Err(KeyError::MissingPrefix {
                input: snippet(text),
                expected: DID_KEY_PREFIX,
            });
        };
        Self::from_multikey(multikey)
    }

    /// Parses the legacy DID-document form: `publicKeyMultibase` holding the bare SEC1 point
    /// (compressed or uncompressed, no multicodec prefix), with the curve given by the verification
    /// method's `type` (`EcdsaSecp256k1VerificationKey2019` or `EcdsaSecp256r1VerificationKey2019`).
    pub fn from_legacy_multibase(kind: KeyKind, text: &str) -> Result<Self, KeyError> {
        let bytes = multikey::decode_base58btc(text)?;
        Self::from_sec1(kind, &bytes, text, "point", &[33, 65])
    }

    /// Decodes SEC1 point bytes of the given kind, accepting only the listed lengths (33:
    /// compressed, 65: uncompressed); `text` and `what` only describe errors.
    fn from_sec1(
        kind: KeyKind,
        point: &[u8],
        text: &str,
        what: &'static str,
        lengths: &[usize],
    ) -> Result<Self, KeyError> {
        let invalid = || KeyError::InvalidKey {
            kind,
            input: snippet(text),
            what,
        };
        // SEC1 also has identity and "compact" encodings, which the curve crates accept but no
        // atproto key may use: only the 0x02/0x03 (compressed) and 0x04 (uncompressed) tags.
        let tag_ok = matches!(
            (point.first(), point.len()),
            (Some(0x02 | 0x03), 33) | (Some(0x04), 65)
        );
        if !tag_ok || !lengths.contains(&point.len()) {
            return Err(invalid());
        }
        match kind {
            KeyKind::K256 => k256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::K256)
                .map_err(|_| invalid()),
            KeyKind::P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map(PublicKey::P256)
                .map_err(|_| invalid()),
        }
    }

    /// Which curve this key is on.
    pub fn kind(&self) -> KeyKind {
        match self {
            PublicKey::K256(_) => KeyKind::K256,
            PublicKey::P256(_) => KeyKind::P256,
        }
    }

    /// The 33-byte SEC1 compressed point.
    pub fn to_compressed_bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::K256(key) => key.to_encoded_point(true).as_bytes().to_vec(),
            PublicKey::P256(key) => key.to_encoded_point(true).as_bytes().to_vec(),
        }
    }

    /// The multikey text form (`z…`).
    pub fn to_multikey(&self) -> String {
        multikey::encode(self.kind(), &self.to_compressed_bytes())
    }

    /// The `did:key:z…` form.
    pub fn to_did_key(&self) -> String {
        format!("{DID_KEY_PREFIX}{}", self.to_multikey())
    }

    /// Checks a 64-byte `r‖s` ECDSA signature over SHA-256 of `msg` (pass the message, not a
    /// digest). High-S signatures are rejected: atproto accepts only the low-S form.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> Result<(), SignatureError> {
        if sig.len() != 64 {
            return Err(SignatureError::BadLength { len: sig.len() });
        }
        let kind = self.kind();
        match self {
            PublicKey::K256(key) => {
                let sig = k256::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| SignatureError::Malformed { kind })?;
                if sig.normalize_s().is_some() {
                    return Err(SignatureError::HighS { kind });
                }
                key.verify(msg, &sig)
                    .map_err(|_| SignatureError::Mismatch { kind })
            }
            PublicKey::P256(key) => {
                let sig = p256::ecdsa::Signature::from_slice(sig)
                    .map_err(|_| SignatureError::Malformed { kind })?;
                if sig.normalize_s().is_some() {
                    return Err(SignatureError::HighS { kind });
                }
                key.verify(msg, &sig)
                    .map_err(|_| SignatureError::Mismatch { kind })
            }
        }
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicKey({})", self.to_did_key())
    }
}

impl std::fmt::Display for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_did_key())
    }
}

impl std::str::FromStr for PublicKey {
    type Err = KeyError;

    /// Accepts either `did:key:z…` or a bare multikey `z…`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.starts_with(DID_KEY_PREFIX) {
            Self::from_did_key(text)
        } else {
            Self::from_multikey(text)
        }
    }
}
