//! AT-URIs (`at://did:plc:…/app.bsky.feed.post/3k…`): references to repos, collections and records.
//!
//! Only the strict form atproto Lexicons use is accepted: an authority (DID or handle), then
//! optionally a collection NSID, then optionally a record key; no query, no fragment, no trailing
//! slash.

use std::fmt;
use std::str::FromStr;

use super::{AtIdentifier, Did, Nsid, RecordKey, SyntaxError, SyntaxKind};

/// The longest AT-URI.
const MAX_LEN: usize = 8192;

/// A valid AT-URI and its parts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AtUri {
    text: String,
    authority: AtIdentifier,
    collection: Option<Nsid>,
    rkey: Option<RecordKey>,
}

impl AtUri {
    /// The URI of a record: `at://{did}/{collection}/{rkey}`.
    pub fn for_record(did: &Did, collection: &Nsid, rkey: &RecordKey) -> AtUri {
        AtUri {
            text: format!("at://{did}/{collection}/{rkey}"),
            authority: AtIdentifier::Did(did.clone()),
            collection: Some(collection.clone()),
            rkey: Some(rkey.clone()),
        }
    }

    /// The URI as text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The repo: a DID or a handle.
    pub fn authority(&self) -> &AtIdentifier {
        &self.authority
    }

    /// The collection, if the URI names one.
    pub fn collection(&self) -> Option<&Nsid> {
        self.collection.as_ref()
    }

    /// The record key, if the URI names a record.
    pub fn rkey(&self) -> Option<&RecordKey> {
        self.rkey.as_ref()
    }
}

impl FromStr for AtUri {
    type Err = SyntaxError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |reason| SyntaxError::new(SyntaxKind::AtUri, s, reason);
        if s.len() > MAX_LEN {
            return Err(fail("longer than 8192 characters"));
        }
        let rest = s
            .strip_prefix("at://")
            .ok_or_else(|| fail("does not start with at://"))?;
        let mut segments = rest.split('/');
        let authority = segments
            .next()
            .unwrap_or_default()
            .parse::<AtIdentifier>()
            .map_err(|e| fail(e.reason))?;
        let collection = segments
            .next()
            .map(|c| {
                c.parse::<Nsid>()
                    .map_err(|_| fail("collection is not an NSID"))
            })
            .transpose()?;
        let rkey = segments
            .next()
            .map(|r| r.parse::<RecordKey>().map_err(|_| fail("bad record key")))
            .transpose()?;
        if segments.next().is_some() {
            return Err(fail("too many path segments"));
        }
        Ok(AtUri {
            text: s.to_owned(),
            authority,
            collection,
            rkey,
        })
    }
}

impl TryFrom<String> for AtUri {
    type Error = SyntaxError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl fmt::Display for AtUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl serde::Serialize for AtUri {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de> serde::Deserialize<'de> for AtUri {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_of_a_record_uri() {
        let uri: AtUri = "at://did:plc:asdf123/app.bsky.feed.post/3k2abc"
            .parse()
            .unwrap();
        assert_eq!(uri.authority().as_str(), "did:plc:asdf123");
        assert_eq!(
            uri.collection().map(Nsid::as_str),
            Some("app.bsky.feed.post")
        );
        assert_eq!(uri.rkey().map(RecordKey::as_str), Some("3k2abc"));
        let built = AtUri::for_record(
            &"did:plc:asdf123".parse().unwrap(),
            &"app.bsky.feed.post".parse().unwrap(),
            &"3k2abc".parse().unwrap(),
        );
        assert_eq!(built, uri);
    }
}
