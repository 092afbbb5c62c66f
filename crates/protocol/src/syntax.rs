//! atproto identifiers: DIDs, handles, NSIDs, record keys, TIDs, AT-URIs, datetimes, language tags.
//!
//! Every type here is a validated string: it can only be built through `FromStr`, `TryFrom<String>`
//! or serde, each of which checks the value against the atproto syntax rules (the official interop
//! vectors in `fixtures/interop/syntax/` are the test). Validation is hand-written and allocation-free
//! so that checking millions of identifiers from the firehose stays cheap.

mod at_identifier;
mod at_uri;
pub mod datetime;
mod did;
mod error;
mod handle;
mod language;
mod nsid;
mod record_key;
mod tid;

pub use at_identifier::AtIdentifier;
pub use at_uri::AtUri;
pub use datetime::{Datetime, format_millis_z, normalize_datetime};
pub use did::Did;
pub use error::{SyntaxError, SyntaxKind};
pub use handle::Handle;
pub use language::Language;
pub use nsid::Nsid;
pub use record_key::RecordKey;
pub use tid::{Tid, TidClock};

/// Implements the string plumbing shared by every validated identifier: `as_str`, `FromStr`,
/// `TryFrom<String>`, `TryFrom<&str>`, `Display`, `AsRef<str>`, `Into<String>` and serde as a string.
///
/// `$validate` is `fn(&str) -> Result<(), &'static str>`; the error string says why.
macro_rules! string_type {
    ($name:ident, $kind:expr, $validate:path) => {
        impl $name {
            /// The identifier as text, exactly as it was given.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Gives up the validated text.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::syntax::SyntaxError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $validate(s)
                    .map_err(|reason| $crate::syntax::SyntaxError::new($kind, s, reason))?;
                Ok(Self(s.to_owned()))
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::syntax::SyntaxError;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                match $validate(&s) {
                    Ok(()) => Ok(Self(s)),
                    Err(reason) => Err($crate::syntax::SyntaxError::new($kind, &s, reason)),
                }
            }
        }

        impl TryFrom<&str> for $name {
            type Error = $crate::syntax::SyntaxError;

            fn try_from(s: &str) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(
                deserializer: D,
            ) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(deserializer)?;
                Self::try_from(s).map_err(<D::Error as ::serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use string_type;

/// Whether `label` is a DNS label as handles and NSID authorities use it: 1 to 63 ASCII letters,
/// digits and hyphens, neither starting nor ending with a hyphen.
fn is_domain_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}
