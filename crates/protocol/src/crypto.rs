//! Signing keys as the AT Protocol uses them: secp256k1 (`k256`) and NIST P-256 (`p256`).
//!
//! Every atproto signature is ECDSA over the SHA-256 of the message, encoded as 64 bytes `r‖s`, and
//! must be in low-S form: a high-S signature is malleable, so verifiers reject it and signers never
//! produce it. Public keys travel as multikeys (`z` + base58btc of a multicodec prefix and the
//! 33-byte compressed point), or as `did:key:` + multikey.
//!
//! - [`PublicKey`]: parse, print and verify.
//! - [`Keypair`]: generate or load a secret key, and sign.

mod error;
mod keypair;
mod multikey;
mod public_key;

pub use error::{KeyError, SignatureError};
pub use keypair::Keypair;
pub use public_key::PublicKey;

/// The two curves atproto allows for signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// secp256k1, JWT algorithm `ES256K`.
    K256,
    /// NIST P-256 (secp256r1), JWT algorithm `ES256`.
    P256,
}

impl KeyKind {
    /// The JWT algorithm name for signatures made with this kind of key.
    pub fn jwt_alg(self) -> &'static str {
        match self {
            KeyKind::K256 => "ES256K",
            KeyKind::P256 => "ES256",
        }
    }
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyKind::K256 => "k256",
            KeyKind::P256 => "p256",
        })
    }
}
