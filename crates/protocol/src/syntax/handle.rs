//! Handles: DNS names that point at an account (`alice.bsky.social`).
//!
//! Handles are case-insensitive: equality, ordering and hashing ignore ASCII case, and
//! [`Handle::normalized`] gives the lower-case form to store and compare as text.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use super::{SyntaxKind, is_domain_label, string_type};

/// The longest handle (a DNS name).
const MAX_LEN: usize = 253;

/// A syntactically valid handle, kept as given; compares case-insensitively.
#[derive(Debug, Clone)]
pub struct Handle(String);

string_type!(Handle, SyntaxKind::Handle, validate);

impl Handle {
    /// The lower-case form of this handle, the one to store and compare as text.
    pub fn normalized(&self) -> Handle {
        Handle(self.0.to_ascii_lowercase())
    }
}

impl PartialEq for Handle {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for Handle {}

impl Hash for Handle {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for b in self.0.bytes() {
            state.write_u8(b.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

impl PartialOrd for Handle {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Handle {
    fn cmp(&self, other: &Self) -> Ordering {
        let lower = |b: u8| b.to_ascii_lowercase();
        self.0.bytes().map(lower).cmp(other.0.bytes().map(lower))
    }
}

/// Checks the handle syntax; the error says which rule broke.
pub(crate) fn validate(s: &str) -> Result<(), &'static str> {
    if s.len() > MAX_LEN {
        return Err("longer than 253 characters");
    }
    let mut labels = 0usize;
    let mut last = "";
    for label in s.split('.') {
        if !is_domain_label(label) {
            return Err(
                "a label is empty, too long, has a disallowed character or a hyphen at an end",
            );
        }
        labels += 1;
        last = label;
    }
    if labels < 2 {
        return Err("needs at least two labels");
    }
    if !last.bytes().next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return Err("top-level domain does not start with a letter");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn case_insensitive() {
        let a: Handle = "Alice.Bsky.Social".parse().unwrap();
        let b: Handle = "alice.bsky.social".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.normalized().as_str(), "alice.bsky.social");
        assert_eq!(a.as_str(), "Alice.Bsky.Social");
        let set: HashSet<Handle> = [a, b].into_iter().collect();
        assert_eq!(set.len(), 1);
    }
}
