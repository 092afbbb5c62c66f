//! The byte-level grammar of a CAR, shared by the streaming reader and the in-memory parser:
//! varints, the header, and one block frame (`varint(len) | CID | data`) with its hash check.
//!
//! Every function here looks at a byte slice that may hold only part of what it needs and answers
//! [`Parsed::Need`] in that case, so the streaming reader can read more and try again while the
//! in-memory parser reports a truncation.

use std::ops::Range;

use cid::Cid;
use cid::multihash::Multihash;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{CarError, CarLimits};

/// Multicodec of DAG-CBOR: commits, MST nodes and records.
pub const CODEC_DAG_CBOR: u64 = 0x71;
/// Multicodec of raw bytes (blobs).
pub const CODEC_RAW: u64 = 0x55;
/// Multihash code of SHA2-256, the only hash atproto uses.
const SHA2_256: u64 = 0x12;
/// Bytes of every CID atproto allows: version, codec, hash code, digest length, 32-byte digest.
pub(crate) const CID_LEN: usize = 36;
/// A header is two or three CIDs in practice; this bounds what a stranger can make us buffer.
const MAX_HEADER_BYTES: u64 = 64 * 1024;
/// A u64 varint never needs more than ten bytes.
const MAX_VARINT_BYTES: usize = 10;

/// The CID (v1, SHA2-256) of `data` under `codec`.
pub fn cid_for(codec: u64, data: &[u8]) -> Cid {
    let digest: [u8; 32] = Sha256::digest(data).into();
    cid_from_digest(codec, &digest)
}

/// Builds a CIDv1 from a SHA2-256 digest.
pub(crate) fn cid_from_digest(codec: u64, digest: &[u8; 32]) -> Cid {
    // A 32-byte digest always fits the 64-byte multihash, so `wrap` cannot fail here; the fallback
    // keeps that fact out of the panic paths.
    let hash = Multihash::wrap(SHA2_256, digest).unwrap_or_default();
    Cid::new_v1(codec, hash)
}

/// The outcome of parsing from a buffer that may be incomplete.
#[derive(Debug)]
pub(crate) enum Parsed<T> {
    /// Parsed; the value says how many bytes it used.
    Done(T),
    /// The buffer must hold at least this many bytes before parsing can finish.
    Need(usize),
}

/// Reads an unsigned LEB128 varint. `Ok(None)` means the buffer ends inside it; `Err(())` means it
/// is longer than ten bytes or overflows 64 bits.
pub(crate) fn read_varint(buf: &[u8]) -> Result<Option<(u64, usize)>, ()> {
    let mut value: u64 = 0;
    for (i, &byte) in buf.iter().enumerate().take(MAX_VARINT_BYTES) {
        let bits = u64::from(byte & 0x7f);
        if i == MAX_VARINT_BYTES - 1 && byte > 1 {
            return Err(());
        }
        value |= bits << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if buf.len() >= MAX_VARINT_BYTES {
        Err(())
    } else {
        Ok(None)
    }
}

/// Appends `value` as an unsigned LEB128 varint.
pub(crate) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[derive(Deserialize)]
struct RawHeader {
    #[serde(default)]
    roots: Option<Vec<Cid>>,
    version: u64,
}

/// Parses the header at the start of `buf`: its roots and the bytes it used.
pub(crate) fn parse_header(buf: &[u8]) -> Result<Parsed<(Vec<Cid>, usize)>, CarError> {
    let (len, prefix) = match read_varint(buf) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Parsed::Need(buf.len() + 1)),
        Err(()) => return Err(CarError::BadVarint { offset: 0 }),
    };
    if len == 0 || len > MAX_HEADER_BYTES {
        return Err(CarError::BadHeader {
            reason: format!("header length {len} is outside 1..={MAX_HEADER_BYTES}"),
        });
    }
    let end = prefix + len as usize;
    let Some(bytes) = buf.get(prefix..end) else {
        return Ok(Parsed::Need(end));
    };
    let raw: RawHeader =
        serde_ipld_dagcbor::from_slice(bytes).map_err(|e| CarError::BadHeader {
            reason: format!("not a DAG-CBOR {{roots, version}} map: {e}"),
        })?;
    if raw.version != 1 {
        return Err(CarError::BadHeader {
            reason: format!("version {} (only CAR v1 is supported)", raw.version),
        });
    }
    match raw.roots {
        Some(roots) if !roots.is_empty() => Ok(Parsed::Done((roots, end))),
        _ => Err(CarError::BadHeader {
            reason: "no roots".to_owned(),
        }),
    }
}

/// One block frame located in a buffer.
#[derive(Debug)]
pub(crate) struct BlockFrame {
    /// The block's CID, already checked against its data.
    pub cid: Cid,
    /// Where the data lies in the buffer.
    pub data: Range<usize>,
}

/// Parses and verifies the block frame at the start of `buf`, which sits at byte `offset` of the CAR.
pub(crate) fn parse_block(
    buf: &[u8],
    offset: u64,
    limits: &CarLimits,
) -> Result<Parsed<BlockFrame>, CarError> {
    let (len, prefix) = match read_varint(buf) {
        Ok(Some(v)) => v,
        Ok(None) => return Ok(Parsed::Need(buf.len() + 1)),
        Err(()) => return Err(CarError::BadVarint { offset }),
    };
    let cid_offset = offset + prefix as u64;
    if len < CID_LEN as u64 {
        return Err(CarError::BadCid {
            offset: cid_offset,
            reason: "block is shorter than a CID",
        });
    }
    let data_len = len - CID_LEN as u64;
    if data_len > limits.max_block_bytes as u64 {
        return Err(CarError::BlockTooLarge {
            offset,
            len: data_len,
            limit: limits.max_block_bytes,
        });
    }
    if offset + prefix as u64 + len > limits.max_total_bytes {
        return Err(CarError::TotalTooLarge {
            offset,
            limit: limits.max_total_bytes,
        });
    }
    let end = prefix + len as usize;
    if buf.len() < end {
        return Ok(Parsed::Need(end));
    }
    let (codec, digest) = match buf.get(prefix..prefix + CID_LEN) {
        Some(cid) => check_cid(cid).map_err(|reason| CarError::BadCid {
            offset: cid_offset,
            reason,
        })?,
        None => return Ok(Parsed::Need(end)),
    };
    let data = prefix + CID_LEN..end;
    let Some(bytes) = buf.get(data.clone()) else {
        return Ok(Parsed::Need(end));
    };
    let actual: [u8; 32] = Sha256::digest(bytes).into();
    let cid = cid_from_digest(codec, &digest);
    if actual != digest {
        return Err(CarError::HashMismatch { cid, offset });
    }
    Ok(Parsed::Done(BlockFrame { cid, data }))
}

/// Checks that 36 bytes are a CIDv1 atproto allows; returns its codec and digest.
fn check_cid(bytes: &[u8]) -> Result<(u64, [u8; 32]), &'static str> {
    let (head, digest) = bytes.split_at_checked(4).ok_or("CID too short")?;
    match head {
        [0x12, 0x20, ..] => Err("CIDv0 is not allowed"),
        [0x01, codec, 0x12, 0x20] => {
            let codec = u64::from(*codec);
            if codec != CODEC_DAG_CBOR && codec != CODEC_RAW {
                return Err("codec is neither dag-cbor nor raw");
            }
            let digest = <[u8; 32]>::try_from(digest).map_err(|_| "digest is not 32 bytes")?;
            Ok((codec, digest))
        }
        [0x01, _, 0x12, _] => Err("sha2-256 digest is not 32 bytes"),
        [0x01, _, _, _] => Err("hash is not sha2-256 or codec is not dag-cbor or raw"),
        _ => Err("not a CIDv1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overflow() {
        for value in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut out = Vec::new();
            write_varint(&mut out, value);
            assert_eq!(read_varint(&out), Ok(Some((value, out.len()))));
            assert_eq!(read_varint(&out[..out.len() - 1]), Ok(None));
        }
        assert_eq!(read_varint(&[0xff; 10]), Err(()));
        assert_eq!(
            read_varint(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]),
            Err(())
        );
    }

    #[test]
    fn cid_for_matches_cid_crate_encoding() {
        let cid = cid_for(CODEC_DAG_CBOR, b"\xa0");
        let bytes = cid.to_bytes();
        assert_eq!(bytes.len(), CID_LEN);
        assert_eq!(
            check_cid(&bytes).map(|(codec, _)| codec),
            Ok(CODEC_DAG_CBOR)
        );
        assert!(cid.to_string().starts_with("bafyrei"));
    }

    #[test]
    fn rejects_foreign_cids() {
        let mut bytes = cid_for(CODEC_DAG_CBOR, b"x").to_bytes();
        bytes[1] = 0x70;
        assert!(check_cid(&bytes).is_err());
        bytes[1] = 0x71;
        bytes[2] = 0x13;
        assert!(check_cid(&bytes).is_err());
        assert!(check_cid(&[0x12, 0x20, 0, 0]).is_err());
    }
}
