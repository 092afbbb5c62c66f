//! The name of the PostgreSQL schema that holds the AppView tables (`DB_SCHEMA`).
//!
//! The name ends up inside SQL text (`SET search_path`, qualified names of the migrations
//! table) and inside the connection's startup options, where quoting rules differ. Rather than
//! trust every one of those places to quote correctly, the name is restricted to the
//! characters that never need quoting: lower-case ASCII letters, digits and `_`, starting with
//! a letter or `_`, at most 63 bytes (PostgreSQL's identifier limit).

use std::fmt;

use super::SchemaError;

/// PostgreSQL truncates identifiers longer than this (NAMEDATALEN - 1).
const MAX_LEN: usize = 63;

/// A validated schema name, safe to splice into SQL unquoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaName(String);

impl SchemaName {
    /// Validates `name` as a schema name (see the module docs for the accepted form).
    pub fn parse(name: &str) -> Result<Self, SchemaError> {
        let invalid = |reason: &'static str| SchemaError::InvalidName {
            name: name.to_owned(),
            reason,
        };
        let first = name.chars().next().ok_or_else(|| invalid("it is empty"))?;
        if name.len() > MAX_LEN {
            return Err(invalid("it is longer than 63 bytes"));
        }
        if !(first.is_ascii_lowercase() || first == '_') {
            return Err(invalid("it must start with a lower-case letter or '_'"));
        }
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(invalid(
                "only lower-case ASCII letters, digits and '_' are allowed",
            ));
        }
        if name.starts_with("pg_") {
            return Err(invalid(
                "names starting with 'pg_' are reserved by PostgreSQL",
            ));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name as written in SQL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SchemaName {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_identifiers() {
        for ok in ["bsky", "_x", "appview_2", "a"] {
            assert_eq!(
                SchemaName::parse(ok).map(|n| n.to_string()).ok(),
                Some(ok.to_owned())
            );
        }
        assert!(SchemaName::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn rejects_names_that_would_need_quoting() {
        for bad in [
            "",
            "Bsky",
            "1bsky",
            "bs ky",
            "bsky\"; drop table x; --",
            "bsky,public",
            "pg_temp",
            "bskÿ",
        ] {
            assert!(
                matches!(SchemaName::parse(bad), Err(SchemaError::InvalidName { .. })),
                "{bad:?} was accepted"
            );
        }
        assert!(SchemaName::parse(&"a".repeat(64)).is_err());
    }
}
