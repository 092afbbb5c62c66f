//! A secret signing key on either curve; signatures are always produced in low-S form.

use k256::ecdsa::signature::Signer as _;
use k256::elliptic_curve::rand_core::CryptoRngCore;

use super::error::KeyError;
use super::{KeyKind, PublicKey};

/// A secret signing key: secp256k1 or P-256.
#[derive(Clone)]
pub enum Keypair {
    /// A secp256k1 key.
    K256(k256::ecdsa::SigningKey),
    /// A P-256 key.
    P256(p256::ecdsa::SigningKey),
}

impl Keypair {
    /// A fresh random secp256k1 key.
    pub fn generate_k256(rng: &mut impl CryptoRngCore) -> Self {
        Keypair::K256(k256::ecdsa::SigningKey::random(rng))
    }

    /// A fresh random P-256 key.
    pub fn generate_p256(rng: &mut impl CryptoRngCore) -> Self {
        Keypair::P256(p256::ecdsa::SigningKey::random(rng))
    }

    /// Loads a 32-byte big-endian secret scalar (deterministic test networks derive these from a
    /// seed). Zero or out-of-range scalars are refused.
    pub fn from_secret_bytes(kind: KeyKind, bytes: &[u8]) -> Result<Self, KeyError> {
        // The secret itself is never echoed into the error.
        let invalid = || KeyError::InvalidKey {
            kind,
            input: String::new(),
            what: "32-byte secret scalar",
        };
        if bytes.len() != 32 {
            return Err(invalid());
        }
        match kind {
            KeyKind::K256 => k256::ecdsa::SigningKey::from_slice(bytes)
                .map(Keypair::K256)
                .map_err(|_| invalid()),
            KeyKind::P256 => p256::ecdsa::SigningKey::from_slice(bytes)
                .map(Keypair::P256)
                .map_err(|_| invalid()),
        }
    }

    /// The 32-byte big-endian secret scalar, for persisting a generated key.
    pub fn secret_bytes(&self) -> [u8; 32] {
        match self {
            Keypair::K256(key) => key.to_bytes().into(),
            Keypair::P256(key) => key.to_bytes().into(),
        }
    }

    /// Which curve this key is on.
    pub fn kind(&self) -> KeyKind {
        match self {
            Keypair::K256(_) => KeyKind::K256,
            Keypair::P256(_) => KeyKind::P256,
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Keypair::K256(key) => PublicKey::K256(*key.verifying_key()),
            Keypair::P256(key) => PublicKey::P256(*key.verifying_key()),
        }
    }

    /// Signs SHA-256 of `msg` (RFC 6979 deterministic nonce) and returns `r‖s` with low S.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        match self {
            Keypair::K256(key) => {
                let sig: k256::ecdsa::Signature = key.sign(msg);
                sig.normalize_s().unwrap_or(sig).to_bytes().into()
            }
            Keypair::P256(key) => {
                let sig: p256::ecdsa::Signature = key.sign(msg);
                sig.normalize_s().unwrap_or(sig).to_bytes().into()
            }
        }
    }
}

impl std::fmt::Debug for Keypair {
    /// Shows only the public half: secrets never reach logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keypair({})", self.public_key().to_did_key())
    }
}
