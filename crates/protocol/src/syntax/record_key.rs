//! Record keys: the last segment of a record's path (`self`, a TID, or another safe string).

use super::{SyntaxKind, string_type};

/// The longest record key.
const MAX_LEN: usize = 512;

/// A syntactically valid record key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey(String);

string_type!(RecordKey, SyntaxKind::RecordKey, validate);

/// Checks the record key syntax; the error says which rule broke.
pub(crate) fn validate(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > MAX_LEN {
        return Err("empty or longer than 512 characters");
    }
    if s == "." || s == ".." {
        return Err("\".\" and \"..\" are not record keys");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'~'))
    {
        return Err("has a disallowed character");
    }
    Ok(())
}
