//! CAR v1 files: the container atproto uses for repositories and for the blocks of `#commit` frames.
//!
//! A CAR is a varint-prefixed DAG-CBOR header `{roots, version: 1}` followed by blocks, each
//! `varint(len) | CID | data`. Everything read here comes from strangers, so every block is checked
//! against its CID (SHA-256, the only hash atproto uses), every length is bounded by [`CarLimits`],
//! and every problem is a [`CarError`] that says what went wrong and at which byte offset.
//!
//! - [`CarReader`]: streams blocks from any `AsyncRead`, for repositories of any size.
//! - [`parse_slice`] / [`parse_bytes`]: a whole CAR already in memory (a frame's `blocks`).
//! - [`CarWriter`] / [`write_car`]: the other direction, for the harness and the repo writer.

mod block;
mod error;
mod reader;
mod slice;
mod writer;

pub(crate) use block::cid_from_digest;
pub use block::{CODEC_DAG_CBOR, CODEC_RAW, cid_for};
pub use error::CarError;
pub use reader::CarReader;
pub use slice::{CarSlice, parse_bytes, parse_slice};
pub use writer::{CarWriter, encode_car, write_car};

/// Bounds on what a CAR may make us read and hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarLimits {
    /// Largest block data accepted, in bytes (the CID is not counted).
    pub max_block_bytes: usize,
    /// Largest whole CAR accepted, in bytes, header included.
    pub max_total_bytes: u64,
}

impl Default for CarLimits {
    /// 2 MiB per block (records are at most 1 MB, MST nodes are small) and 2 GiB in total.
    fn default() -> Self {
        Self {
            max_block_bytes: 2 * 1024 * 1024,
            max_total_bytes: 2 * 1024 * 1024 * 1024,
        }
    }
}
