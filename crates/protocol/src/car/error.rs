//! The ways a CAR can be wrong, each with the byte offset where it was found.

use cid::Cid;

/// Why a CAR was rejected. Offsets count bytes from the start of the CAR.
#[derive(Debug, thiserror::Error)]
pub enum CarError {
    /// The input ended inside the header or inside a block.
    #[error("CAR truncated: input ends inside the item that starts at byte offset {offset}")]
    Truncated {
        /// Where the incomplete item (header or block) starts.
        offset: u64,
    },
    /// A length prefix is not a valid unsigned varint of at most 64 bits.
    #[error("bad varint at byte offset {offset}")]
    BadVarint {
        /// Where the varint starts.
        offset: u64,
    },
    /// A block's CID is malformed or not one atproto allows (CIDv1, dag-cbor or raw, sha2-256).
    #[error("bad CID at byte offset {offset}: {reason}")]
    BadCid {
        /// Where the CID starts.
        offset: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A block's bytes do not hash to the digest in its CID.
    #[error("block {cid} at byte offset {offset} does not hash to its CID")]
    HashMismatch {
        /// The CID the block claimed.
        cid: Cid,
        /// Where the block starts.
        offset: u64,
    },
    /// A block is larger than [`CarLimits::max_block_bytes`](super::CarLimits).
    #[error("block at byte offset {offset} has {len} bytes of data, over the limit of {limit}")]
    BlockTooLarge {
        /// Where the block starts.
        offset: u64,
        /// The data length its prefix announced.
        len: u64,
        /// The limit in force.
        limit: usize,
    },
    /// The CAR is larger than [`CarLimits::max_total_bytes`](super::CarLimits).
    #[error("CAR exceeds the limit of {limit} bytes (block at byte offset {offset} would pass it)")]
    TotalTooLarge {
        /// Where the block that would pass the limit starts.
        offset: u64,
        /// The limit in force.
        limit: u64,
    },
    /// The header is not `{roots: [CID, …], version: 1}` with at least one root.
    #[error("bad CAR header: {reason}")]
    BadHeader {
        /// What is wrong with it.
        reason: String,
    },
    /// Reading the underlying input failed.
    #[error("I/O error reading CAR at byte offset {offset}")]
    Io {
        /// How far the reader had got.
        offset: u64,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}
