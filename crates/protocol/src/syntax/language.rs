//! BCP 47 language tags (`en`, `pt-BR`, `zh-Hant`), as posts declare them in `langs`.
//!
//! Checked structurally per RFC 5646 (language, script, region, variants, extensions, private use,
//! and the irregular grandfathered tags), with the primary language subtag in lower case as atproto
//! requires, and without repeated variants or extension singletons.

use super::{SyntaxKind, string_type};

/// The longest language tag accepted.
const MAX_LEN: usize = 128;

/// Grandfathered tags that do not fit the regular grammar (RFC 5646 §2.2.8).
const IRREGULAR: &[&str] = &[
    "en-GB-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-BE-FR",
    "sgn-BE-NL",
    "sgn-CH-DE",
];

/// A syntactically valid language tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Language(String);

string_type!(Language, SyntaxKind::Language, validate);

/// Checks the tag; the error says which rule broke.
fn validate(s: &str) -> Result<(), &'static str> {
    if s.is_empty() || s.len() > MAX_LEN {
        return Err("empty or longer than 128 characters");
    }
    if IRREGULAR.iter().any(|g| g.eq_ignore_ascii_case(s)) {
        return Ok(());
    }
    let mut parts = s.split('-').peekable();
    let first = parts.next().unwrap_or_default();
    if first.eq_ignore_ascii_case("x") {
        return private_use(parts);
    }
    if !(2..=3).contains(&first.len()) || !first.bytes().all(|b| b.is_ascii_lowercase()) {
        return Err("primary language is not two or three lower-case letters");
    }
    let is_alpha = |p: &str, n: usize| p.len() == n && p.bytes().all(|b| b.is_ascii_alphabetic());
    // Up to three extended language subtags.
    for _ in 0..3 {
        if parts.peek().is_some_and(|p| is_alpha(p, 3)) {
            parts.next();
        }
    }
    if parts.peek().is_some_and(|p| is_alpha(p, 4)) {
        parts.next();
    }
    if parts
        .peek()
        .is_some_and(|p| is_alpha(p, 2) || (p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit())))
    {
        parts.next();
    }
    let mut variants: Vec<&str> = Vec::new();
    while let Some(p) = parts.peek().copied().filter(|p| is_variant(p)) {
        if variants.iter().any(|v| v.eq_ignore_ascii_case(p)) {
            return Err("repeated variant");
        }
        variants.push(p);
        parts.next();
    }
    let mut singletons: Vec<u8> = Vec::new();
    while let Some(p) = parts.next() {
        let singleton = match p.as_bytes() {
            [c] if c.is_ascii_alphanumeric() => c.to_ascii_lowercase(),
            _ => return Err("unexpected subtag"),
        };
        if singleton == b'x' {
            return private_use(parts);
        }
        if singletons.contains(&singleton) {
            return Err("repeated extension singleton");
        }
        singletons.push(singleton);
        let mut count = 0;
        while parts.peek().is_some_and(|p| {
            (2..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric())
        }) {
            parts.next();
            count += 1;
        }
        if count == 0 {
            return Err("empty extension");
        }
    }
    Ok(())
}

/// A variant subtag: five to eight alphanumerics, or a digit and three alphanumerics.
fn is_variant(p: &str) -> bool {
    let b = p.as_bytes();
    b.iter().all(u8::is_ascii_alphanumeric)
        && ((5..=8).contains(&b.len())
            || (b.len() == 4 && b.first().is_some_and(u8::is_ascii_digit)))
}

/// The rest of a private-use sequence after `x`: one or more subtags of one to eight alphanumerics.
fn private_use<'a>(parts: impl Iterator<Item = &'a str>) -> Result<(), &'static str> {
    let mut count = 0;
    for p in parts {
        if p.is_empty() || p.len() > 8 || !p.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("bad private-use subtag");
        }
        count += 1;
    }
    if count == 0 {
        return Err("empty private-use sequence");
    }
    Ok(())
}
