//! The multikey text form: `z` + base58btc(multicodec varint prefix ‖ compressed point).
//!
//! Only the two prefixes atproto uses are known: `0xe7 0x01` (secp256k1-pub) and `0x80 0x24`
//! (p256-pub). The varints are fixed two-byte values, so they are matched as bytes.

use super::KeyKind;
use super::error::{KeyError, snippet};

/// Multicodec varint for `secp256k1-pub` (0xe7).
const K256_PREFIX: [u8; 2] = [0xe7, 0x01];
/// Multicodec varint for `p256-pub` (0x1200).
const P256_PREFIX: [u8; 2] = [0x80, 0x24];

/// Longest multibase text accepted. An uncompressed point with prefix is 67 bytes, about 92 base58
/// characters; the cap keeps base58 decoding (quadratic in length) cheap on hostile input.
pub(crate) const MAX_MULTIBASE_CHARS: usize = 128;

/// Decodes `z…` base58btc text into bytes, bounded in length.
pub(crate) fn decode_base58btc(input: &str) -> Result<Vec<u8>, KeyError> {
    if input.len() > MAX_MULTIBASE_CHARS {
        return Err(KeyError::TooLong {
            len: input.len(),
            max: MAX_MULTIBASE_CHARS,
        });
    }
    let Some(body) = input.strip_prefix('z') else {
        return Err(KeyError::MissingPrefix {
            input: snippet(input),
            expected: "z",
        });
    };
    multibase::Base::Base58Btc
        .decode(body)
        .map_err(|_| KeyError::BadBase58 {
            input: snippet(input),
        })
}

/// Splits decoded multikey bytes into the key kind and the key bytes after the prefix.
pub(crate) fn split_prefix<'a>(
    input: &str,
    bytes: &'a [u8],
) -> Result<(KeyKind, &'a [u8]), KeyError> {
    if let Some(rest) = bytes.strip_prefix(&K256_PREFIX) {
        Ok((KeyKind::K256, rest))
    } else if let Some(rest) = bytes.strip_prefix(&P256_PREFIX) {
        Ok((KeyKind::P256, rest))
    } else {
        Err(KeyError::UnsupportedCodec {
            input: snippet(input),
            prefix: bytes.iter().take(2).copied().collect(),
        })
    }
}

/// Encodes a compressed point of the given kind as multikey text.
pub(crate) fn encode(kind: KeyKind, compressed: &[u8]) -> String {
    let prefix = match kind {
        KeyKind::K256 => K256_PREFIX,
        KeyKind::P256 => P256_PREFIX,
    };
    let mut bytes = Vec::with_capacity(prefix.len() + compressed.len());
    bytes.extend_from_slice(&prefix);
    bytes.extend_from_slice(compressed);
    multibase::encode(multibase::Base::Base58Btc, bytes)
}
