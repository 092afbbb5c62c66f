//! The official atproto syntax interop vectors: every `*_valid.txt` line parses, every
//! `*_invalid.txt` (and `*_parse_invalid.txt`) line is rejected.

use std::str::FromStr;

use protocol::syntax::{
    AtIdentifier, AtUri, Datetime, Did, Handle, Language, Nsid, RecordKey, SyntaxError, Tid,
};

/// The non-comment, non-blank lines of a vector file. Lines are not trimmed: leading and trailing
/// spaces are part of several invalid cases.
fn vectors(file: &str) -> Vec<String> {
    let path = testkit::fixture(&format!("interop/syntax/{file}"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let lines: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    assert!(!lines.is_empty(), "{file} has no vectors");
    lines
}

/// Asserts every valid line parses as `T` and every invalid line does not.
fn check<T: FromStr<Err = SyntaxError>>(valid: &[&str], invalid: &[&str]) {
    let mut failures = Vec::new();
    for file in valid {
        for line in vectors(file) {
            if let Err(e) = line.parse::<T>() {
                failures.push(format!("{file}: rejected {line:?}: {e}"));
            }
        }
    }
    for file in invalid {
        for line in vectors(file) {
            if line.parse::<T>().is_ok() {
                failures.push(format!("{file}: accepted {line:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn did() {
    check::<Did>(&["did_syntax_valid.txt"], &["did_syntax_invalid.txt"]);
}

#[test]
fn handle() {
    check::<Handle>(&["handle_syntax_valid.txt"], &["handle_syntax_invalid.txt"]);
}

#[test]
fn nsid() {
    check::<Nsid>(&["nsid_syntax_valid.txt"], &["nsid_syntax_invalid.txt"]);
}

#[test]
fn record_key() {
    check::<RecordKey>(
        &["recordkey_syntax_valid.txt"],
        &["recordkey_syntax_invalid.txt"],
    );
}

#[test]
fn tid() {
    check::<Tid>(&["tid_syntax_valid.txt"], &["tid_syntax_invalid.txt"]);
}

#[test]
fn at_uri() {
    check::<AtUri>(&["aturi_syntax_valid.txt"], &["aturi_syntax_invalid.txt"]);
}

#[test]
fn at_identifier() {
    check::<AtIdentifier>(
        &["atidentifier_syntax_valid.txt"],
        &["atidentifier_syntax_invalid.txt"],
    );
}

#[test]
fn datetime() {
    check::<Datetime>(
        &["datetime_syntax_valid.txt"],
        &["datetime_syntax_invalid.txt", "datetime_parse_invalid.txt"],
    );
}

#[test]
fn datetime_normalization_is_canonical_and_idempotent() {
    for line in vectors("datetime_syntax_valid.txt") {
        let canonical = protocol::syntax::normalize_datetime(&line)
            .unwrap_or_else(|| panic!("valid datetime {line:?} did not normalize"));
        assert_eq!(canonical.len(), 24, "{canonical}");
        assert!(canonical.ends_with('Z'), "{canonical}");
        assert_eq!(
            protocol::syntax::normalize_datetime(&canonical).as_deref(),
            Some(canonical.as_str())
        );
    }
}

#[test]
fn language() {
    check::<Language>(
        &["language_syntax_valid.txt"],
        &["language_syntax_invalid.txt", "language_parse_invalid.txt"],
    );
}

#[test]
fn errors_name_the_kind_and_truncate_the_value() {
    let long = format!("did:method:{}%", "v".repeat(5000));
    let err = long.parse::<Did>().unwrap_err();
    assert!(err.value.chars().count() <= 65, "{}", err.value);
    let text = err.to_string();
    assert!(text.contains("DID"), "{text}");
}

#[test]
fn serde_validates() {
    let ok: Result<Nsid, _> = serde_json::from_str("\"app.bsky.feed.post\"");
    assert!(ok.is_ok());
    let bad: Result<Nsid, _> = serde_json::from_str("\"app.bsky\"");
    assert!(bad.is_err());
    let did: Did = serde_json::from_str("\"did:plc:abc\"").unwrap();
    assert_eq!(serde_json::to_string(&did).unwrap(), "\"did:plc:abc\"");
}
