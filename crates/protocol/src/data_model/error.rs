//! The error type of the `data_model` module: what was wrong, and where (byte offset or JSON path).

use cid::Cid;

/// DAG-CBOR or JSON that is not valid atproto data, or a block that does not match its CID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataModelError {
    /// The input is larger than the decoder's limit.
    #[error("DAG-CBOR input of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends in the middle of a value.
    #[error("DAG-CBOR truncated at byte {offset}")]
    Truncated {
        /// Where more bytes were needed.
        offset: usize,
    },
    /// Bytes remain after the one value the input should hold.
    #[error("{count} trailing bytes after the DAG-CBOR value, at byte {offset}")]
    TrailingBytes {
        /// Where the trailing bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// A floating-point number; the atproto data model has none.
    #[error("float at byte {offset}: the atproto data model has no floats")]
    Float {
        /// Where the float starts.
        offset: usize,
    },
    /// A CBOR item the data model does not allow (indefinite length, undefined, a tag other than
    /// 42, a reserved encoding).
    #[error("unsupported CBOR item at byte {offset}: {what}")]
    Unsupported {
        /// What the item is.
        what: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// A map key that is not a text string.
    #[error("map key at byte {offset} is not a string")]
    NonStringKey {
        /// Where the key starts.
        offset: usize,
    },
    /// A key that appears twice in one map.
    #[error("duplicate map key {key:?} at byte {offset}")]
    DuplicateKey {
        /// The key (truncated to 64 bytes).
        key: String,
        /// Where the second occurrence starts.
        offset: usize,
    },
    /// An integer outside the signed 64-bit range.
    #[error("integer at byte {offset} is outside the signed 64-bit range")]
    IntegerRange {
        /// Where the integer starts.
        offset: usize,
    },
    /// A text string that is not UTF-8.
    #[error("text string at byte {offset} is not valid UTF-8")]
    Utf8 {
        /// Where the string starts.
        offset: usize,
    },
    /// Nesting deeper than the limit.
    #[error("nesting deeper than {max} levels at byte {offset}")]
    TooDeep {
        /// The limit.
        max: usize,
        /// Where the limit was crossed.
        offset: usize,
    },
    /// A tag-42 link whose payload is not a CID.
    #[error("invalid CID link at byte {offset}: {reason}")]
    BadLink {
        /// Where the link starts.
        offset: usize,
        /// Why it is not a CID.
        reason: String,
    },
    /// JSON that is not valid in the atproto data model.
    #[error("invalid atproto JSON at {path}: {reason}")]
    Json {
        /// JSON pointer of the offending value (`""` for the top).
        path: String,
        /// Which rule it broke.
        reason: &'static str,
    },
    /// A CID whose multihash is not sha2-256, which is all atproto uses.
    #[error("CID {cid} uses multihash 0x{code:x}; only sha2-256 is supported")]
    UnsupportedHash {
        /// The CID.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
    /// Bytes that do not hash to the CID they were given for.
    #[error("bytes do not hash to CID {cid}")]
    HashMismatch {
        /// The CID the bytes should match.
        cid: Cid,
    },
}

impl DataModelError {
    /// The same JSON error one level further out, under `segment`; other errors pass through.
    pub(crate) fn under(self, segment: &str) -> Self {
        match self {
            Self::Json { path, reason } => Self::Json {
                path: format!("/{}{path}", segment.replace('~', "~0").replace('/', "~1")),
                reason,
            },
            other => other,
        }
    }

    /// A JSON error at the current value.
    pub(crate) fn json(reason: &'static str) -> Self {
        Self::Json {
            path: String::new(),
            reason,
        }
    }
}
