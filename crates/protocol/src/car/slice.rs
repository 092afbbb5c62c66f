//! A whole CAR already in memory, such as the `blocks` field of a `#commit` or `#sync` frame.

use std::collections::HashMap;

use bytes::Bytes;
use cid::Cid;

use super::block::{Parsed, parse_block, parse_header};
use super::{CarError, CarLimits};

/// The roots and the verified blocks of an in-memory CAR.
#[derive(Debug, Clone, Default)]
pub struct CarSlice {
    /// The header's roots (at least one).
    pub roots: Vec<Cid>,
    /// Every block, keyed by its CID. Duplicates collapse; order is not kept.
    pub blocks: HashMap<Cid, Bytes>,
}

/// Parses and verifies a CAR held in a byte slice (copied once into a shared buffer).
pub fn parse_slice(bytes: &[u8], limits: &CarLimits) -> Result<CarSlice, CarError> {
    parse_bytes(Bytes::copy_from_slice(bytes), limits)
}

/// Parses and verifies a CAR held in `Bytes`; the blocks share its buffer without copying.
pub fn parse_bytes(bytes: Bytes, limits: &CarLimits) -> Result<CarSlice, CarError> {
    if bytes.len() as u64 > limits.max_total_bytes {
        return Err(CarError::TotalTooLarge {
            offset: 0,
            limit: limits.max_total_bytes,
        });
    }
    let (roots, mut pos) = match parse_header(&bytes)? {
        Parsed::Done(done) => done,
        Parsed::Need(_) => return Err(CarError::Truncated { offset: 0 }),
    };
    let mut blocks = HashMap::new();
    while let Some(rest) = bytes.get(pos..).filter(|rest| !rest.is_empty()) {
        match parse_block(rest, pos as u64, limits)? {
            Parsed::Done(frame) => {
                let data = bytes.slice(pos + frame.data.start..pos + frame.data.end);
                pos += frame.data.end;
                blocks.entry(frame.cid).or_insert(data);
            }
            Parsed::Need(_) => return Err(CarError::Truncated { offset: pos as u64 }),
        }
    }
    Ok(CarSlice { roots, blocks })
}
