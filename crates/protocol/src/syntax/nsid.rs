//! Namespaced identifiers (`app.bsky.feed.post`): names of collections and XRPC methods.

use super::{SyntaxKind, is_domain_label, string_type};

/// The longest NSID.
const MAX_LEN: usize = 317;

/// A syntactically valid NSID: a reversed domain authority and a name, at least three segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nsid(String);

string_type!(Nsid, SyntaxKind::Nsid, validate);

impl Nsid {
    /// The reversed domain authority, e.g. `app.bsky.feed`.
    pub fn authority(&self) -> &str {
        self.0.rsplit_once('.').map(|(a, _)| a).unwrap_or_default()
    }

    /// The name segment, e.g. `post`.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('.').map(|(_, n)| n).unwrap_or_default()
    }
}

/// Checks the NSID syntax; the error says which rule broke.
pub(crate) fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 317 characters");
    }
    let (authority, name) = s.rsplit_once('.').ok_or("needs at least three segments")?;
    let mut segments = 0usize;
    for (i, segment) in authority.split('.').enumerate() {
        if !is_domain_label(segment) {
            return Err(
                "an authority segment is empty, too long, has a disallowed character or a hyphen at an end",
            );
        }
        if i == 0
            && segment
                .as_bytes()
                .first()
                .is_some_and(|b| b.is_ascii_digit())
        {
            return Err("first segment starts with a digit");
        }
        segments += 1;
    }
    if segments < 2 {
        return Err("needs at least three segments");
    }
    let name_bytes = name.as_bytes();
    if name_bytes.is_empty() || name_bytes.len() > 63 {
        return Err("name segment is empty or longer than 63 characters");
    }
    if !name_bytes.first().is_some_and(|b| b.is_ascii_alphabetic())
        || !name_bytes.iter().all(|b| b.is_ascii_alphanumeric())
    {
        return Err("name segment is not a letter followed by letters and digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let nsid: Nsid = "app.bsky.feed.post".parse().unwrap();
        assert_eq!(nsid.authority(), "app.bsky.feed");
        assert_eq!(nsid.name(), "post");
    }
}
