//! Decentralized identifiers (`did:plc:…`, `did:web:…`): the stable name of an account.

use super::{SyntaxKind, string_type};

/// The longest DID atproto accepts.
const MAX_LEN: usize = 2048;

/// A syntactically valid DID: `did:` + lower-case method + `:` + identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Did(String);

string_type!(Did, SyntaxKind::Did, validate);

impl Did {
    /// The method name, e.g. `plc` or `web`.
    pub fn method(&self) -> &str {
        self.0
            .get(4..)
            .and_then(|rest| rest.split(':').next())
            .unwrap_or_default()
    }

    /// The method-specific identifier (everything after the second colon).
    pub fn identifier(&self) -> &str {
        let method_len = self.method().len();
        self.0.get(5 + method_len..).unwrap_or_default()
    }
}

/// Checks the DID syntax; the error says which rule broke.
pub(crate) fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 2048 characters");
    }
    let rest = s
        .strip_prefix("did:")
        .ok_or("does not start with \"did:\"")?;
    let (method, identifier) = rest
        .split_once(':')
        .ok_or("no method-specific identifier")?;
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err("method is not lower-case letters");
    }
    if identifier.is_empty() {
        return Err("empty identifier");
    }
    if !identifier
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'%' | b'-'))
    {
        return Err("identifier has a disallowed character");
    }
    if matches!(identifier.as_bytes().last(), Some(b':' | b'%')) {
        return Err("identifier ends with ':' or '%'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_and_identifier() {
        let did: Did = "did:plc:7iza6de2dwap2sbkpav7c6c6".parse().unwrap();
        assert_eq!(did.method(), "plc");
        assert_eq!(did.identifier(), "7iza6de2dwap2sbkpav7c6c6");
        let web: Did = "did:web:localhost%3A1234".parse().unwrap();
        assert_eq!(web.method(), "web");
        assert_eq!(web.identifier(), "localhost%3A1234");
    }
}
