//! The one error type of the `syntax` module: which kind of identifier, which value, and why.

use std::fmt;

/// The longest prefix of an offending value kept in a [`SyntaxError`]; hostile values can be huge.
const MAX_ECHO_CHARS: usize = 64;

/// Which kind of identifier failed to validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyntaxKind {
    /// A DID (`did:method:identifier`).
    Did,
    /// A handle (a DNS name).
    Handle,
    /// A handle or a DID.
    AtIdentifier,
    /// A namespaced identifier (`com.example.fooBar`).
    Nsid,
    /// A record key.
    RecordKey,
    /// A timestamp identifier (13 characters of base32-sortable).
    Tid,
    /// An `at://` URI.
    AtUri,
    /// An atproto datetime (RFC 3339 with a time zone).
    Datetime,
    /// A BCP 47 language tag.
    Language,
}

impl fmt::Display for SyntaxKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Did => "DID",
            Self::Handle => "handle",
            Self::AtIdentifier => "at-identifier",
            Self::Nsid => "NSID",
            Self::RecordKey => "record key",
            Self::Tid => "TID",
            Self::AtUri => "AT-URI",
            Self::Datetime => "datetime",
            Self::Language => "language tag",
        })
    }
}

/// A value that is not a valid identifier of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {reason}")]
pub struct SyntaxError {
    /// What the value was supposed to be.
    pub kind: SyntaxKind,
    /// The offending value, truncated to 64 characters.
    pub value: String,
    /// Which rule it broke.
    pub reason: &'static str,
}

impl SyntaxError {
    /// An error for `value`, keeping only its first 64 characters.
    pub fn new(kind: SyntaxKind, value: &str, reason: &'static str) -> Self {
        let value = match value.char_indices().nth(MAX_ECHO_CHARS) {
            Some((cut, _)) => format!("{}…", &value[..cut]),
            None => value.to_owned(),
        };
        Self {
            kind,
            value,
            reason,
        }
    }
}
