//! Why a record cannot be mapped to its typed table: a small closed set of reasons, fit for a
//! metric label, plus where in the record the problem is.

use std::fmt;

/// The kind of problem, one metric label value each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvalidReason {
    /// The record, or a field of it, is not an object where one is required.
    NotAnObject,
    /// `$type` is missing or names another collection.
    WrongRecordType,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type (e.g. a number where a string belongs, or `null`).
    WrongType,
    /// A datetime field is not a valid atproto datetime.
    BadDatetime,
    /// A DID, AT-URI, CID, handle or language tag does not parse.
    BadFormat,
    /// A string or array is longer than the lexicon allows, or shorter than its minimum.
    BadLength,
    /// The record refers to something its author cannot own (a gate for another repo's post,
    /// a list item in another repo's list) or uses a record key its collection forbids.
    Mismatch,
}

impl InvalidReason {
    /// The metric label for this reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotAnObject => "not_an_object",
            Self::WrongRecordType => "wrong_record_type",
            Self::MissingField => "missing_field",
            Self::WrongType => "wrong_type",
            Self::BadDatetime => "bad_datetime",
            Self::BadFormat => "bad_format",
            Self::BadLength => "bad_length",
            Self::Mismatch => "mismatch",
        }
    }
}

impl fmt::Display for InvalidReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record that is skipped for its typed table (it is still stored in `record`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason} at {path}: {detail}")]
pub struct InvalidRecord {
    /// The kind of problem, for counting.
    pub reason: InvalidReason,
    /// Where: a dotted path into the record (`reply.root.cid`, `embed.images[2].alt`), or `$`.
    pub path: String,
    /// What was expected.
    pub detail: &'static str,
}

impl InvalidRecord {
    /// An error of `reason` at `path`.
    pub fn new(reason: InvalidReason, path: impl Into<String>, detail: &'static str) -> Self {
        Self {
            reason,
            path: path.into(),
            detail,
        }
    }
}
