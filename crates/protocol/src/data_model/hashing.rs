//! CIDs for blocks (dag-cbor) and blobs (raw), and checking bytes against a CID.
//!
//! atproto uses CIDv1 with sha2-256 only; anything else is refused rather than trusted.

use cid::Cid;
use multihash::Multihash;
use sha2::{Digest, Sha256};

use super::DataModelError;

/// Multicodec code of DAG-CBOR (records, commits, MST nodes).
pub const CODEC_DAG_CBOR: u64 = 0x71;
/// Multicodec code of raw bytes (blobs).
pub const CODEC_RAW: u64 = 0x55;
/// Multihash code of sha2-256.
pub const SHA2_256: u64 = 0x12;

/// The CIDv1 (dag-cbor, sha2-256) of a DAG-CBOR block.
pub fn cid_for_cbor(bytes: &[u8]) -> Cid {
    Cid::new_v1(CODEC_DAG_CBOR, sha256_multihash(bytes))
}

/// The CIDv1 (raw, sha2-256) of a blob.
pub fn cid_for_raw(bytes: &[u8]) -> Cid {
    Cid::new_v1(CODEC_RAW, sha256_multihash(bytes))
}

/// Checks that `bytes` hash to `cid`'s sha2-256 digest (the codec is not checked).
pub fn verify_cid(cid: &Cid, bytes: &[u8]) -> Result<(), DataModelError> {
    let hash = cid.hash();
    if hash.code() != SHA2_256 || hash.size() != 32 {
        return Err(DataModelError::UnsupportedHash {
            cid: *cid,
            code: hash.code(),
        });
    }
    if hash.digest() == &Sha256::digest(bytes)[..] {
        Ok(())
    } else {
        Err(DataModelError::HashMismatch { cid: *cid })
    }
}

/// The sha2-256 multihash of `bytes`.
fn sha256_multihash(bytes: &[u8]) -> Multihash<64> {
    let digest = Sha256::digest(bytes);
    // A 32-byte digest always fits a 64-byte multihash; wrap only fails for longer digests.
    Multihash::wrap(SHA2_256, &digest[..]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cids_and_verification() {
        let cid = cid_for_cbor(b"\xa0");
        assert_eq!(cid.codec(), CODEC_DAG_CBOR);
        assert!(verify_cid(&cid, b"\xa0").is_ok());
        assert_eq!(
            verify_cid(&cid, b"\xa1"),
            Err(DataModelError::HashMismatch { cid })
        );
        let raw = cid_for_raw(b"hello");
        assert_eq!(raw.codec(), CODEC_RAW);
        assert!(raw.to_string().starts_with("bafkrei"));
        let identity = Cid::new_v1(CODEC_RAW, Multihash::wrap(0x00, b"hello").unwrap());
        assert!(matches!(
            verify_cid(&identity, b"hello"),
            Err(DataModelError::UnsupportedHash { code: 0, .. })
        ));
    }
}
