//! Typed errors for key parsing and signature checks.
//!
//! Key errors carry the offending text (truncated), so a log line says which DID document or
//! configuration value was wrong without echoing an unbounded string from a stranger.

use super::KeyKind;

/// Longest part of an offending input echoed back in an error message.
const SNIPPET_CHARS: usize = 80;

/// Shortens untrusted text for inclusion in an error message.
pub(crate) fn snippet(input: &str) -> String {
    let mut out: String = input.chars().take(SNIPPET_CHARS).collect();
    if input.chars().nth(SNIPPET_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// Why a public or secret key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text does not start with the expected prefix (`did:key:`, or `z` for base58btc).
    #[error("key {input:?} does not start with {expected:?}")]
    MissingPrefix {
        /// The offending input, truncated.
        input: String,
        /// The prefix that was expected.
        expected: &'static str,
    },
    /// The text is longer than any key encoding can be.
    #[error("key text is {len} characters, longer than any key (at most {max})")]
    TooLong {
        /// Length of the input in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The multibase payload is not valid base58btc.
    #[error("key {input:?} is not valid base58btc")]
    BadBase58 {
        /// The offending input, truncated.
        input: String,
    },
    /// The multicodec prefix names a key type atproto does not use.
    #[error("key {input:?} has an unsupported multicodec prefix {prefix:02x?}")]
    UnsupportedCodec {
        /// The offending input, truncated.
        input: String,
        /// The first (up to two) decoded bytes.
        prefix: Vec<u8>,
    },
    /// The key bytes do not decode to a point on the curve (or a valid scalar, for secret keys).
    #[error("{kind} key {input:?} is not a valid {what}")]
    InvalidKey {
        /// The curve.
        kind: KeyKind,
        /// The offending input, truncated (hex for secret keys is never echoed: this is empty then).
        input: String,
        /// What was expected: "compressed point", "point", "secret scalar".
        what: &'static str,
    },
}

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 64 bytes: atproto signatures are raw `r‖s`, never DER.
    #[error("signature is {len} bytes, expected 64 (raw r||s, not DER)")]
    BadLength {
        /// The length that was found.
        len: usize,
    },
    /// `r` or `s` is zero or not below the curve order.
    #[error("signature is not a valid {kind} r||s pair")]
    Malformed {
        /// The curve.
        kind: KeyKind,
    },
    /// `s` is in the upper half of the curve order: malleable, and invalid in atproto.
    #[error("{kind} signature has a high S value (atproto requires low-S)")]
    HighS {
        /// The curve.
        kind: KeyKind,
    },
    /// The signature is well formed but was not made by this key over this message.
    #[error("{kind} signature does not match the key and message")]
    Mismatch {
        /// The curve.
        kind: KeyKind,
    },
}
