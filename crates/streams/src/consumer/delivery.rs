//! What a handler receives (a [`Delivery`]) and what it answers for each entry (an [`Outcome`]).

use std::sync::Arc;

use serde::de::DeserializeOwned;

use crate::names;

/// One stream entry handed to a handler. Cloning is cheap (shared buffers).
#[derive(Debug, Clone)]
pub struct Delivery {
    stream: Arc<str>,
    id: Arc<str>,
    fields: Arc<[(String, Vec<u8>)]>,
    deliveries: u64,
}

/// Why an entry's payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// The entry has no field the stream's payload should be in.
    #[error("entry {id} of {stream} has no payload field")]
    Missing {
        /// The stream.
        stream: String,
        /// The entry id.
        id: String,
    },
    /// The payload is not UTF-8.
    #[error("payload of entry {id} of {stream} is not UTF-8")]
    NotUtf8 {
        /// The stream.
        stream: String,
        /// The entry id.
        id: String,
    },
    /// The payload is not the JSON expected.
    #[error("payload of entry {id} of {stream}: {source}")]
    Json {
        /// The stream.
        stream: String,
        /// The entry id.
        id: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

impl Delivery {
    /// A delivery of entry `id` of `stream` with its fields, delivered `deliveries` times so far
    /// (this delivery included). Runners build these; handlers' tests may too.
    pub fn new(
        stream: impl Into<Arc<str>>,
        id: impl Into<Arc<str>>,
        fields: Vec<(String, Vec<u8>)>,
        deliveries: u64,
    ) -> Self {
        Self {
            stream: stream.into(),
            id: id.into(),
            fields: fields.into(),
            deliveries,
        }
    }

    /// The stream the entry is in.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The entry id (`1700000000000-0`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// How many times Redis has delivered this entry, this delivery included.
    pub fn deliveries(&self) -> u64 {
        self.deliveries
    }

    /// All fields of the entry, in the order Redis returned them.
    pub fn fields(&self) -> &[(String, Vec<u8>)] {
        &self.fields
    }

    /// The value of one field.
    pub fn field(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_slice())
    }

    /// The payload: the contract's field for this stream, or the only field of an entry of another
    /// stream.
    pub fn payload(&self) -> Result<&str, PayloadError> {
        std::str::from_utf8(self.payload_bytes()?).map_err(|_| PayloadError::NotUtf8 {
            stream: self.stream.to_string(),
            id: self.id.to_string(),
        })
    }

    /// The payload's bytes, not yet checked to be UTF-8.
    fn payload_bytes(&self) -> Result<&[u8], PayloadError> {
        let value = match names::field_for_stream(&self.stream) {
            Some(field) => self.field(field),
            None => match &*self.fields {
                [(_, v)] => Some(v.as_slice()),
                _ => None,
            },
        };
        value.ok_or_else(|| PayloadError::Missing {
            stream: self.stream.to_string(),
            id: self.id.to_string(),
        })
    }

    /// The payload parsed as JSON.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, PayloadError> {
        serde_json::from_str(self.payload()?).map_err(|source| PayloadError::Json {
            stream: self.stream.to_string(),
            id: self.id.to_string(),
            source,
        })
    }

    pub(crate) fn stream_arc(&self) -> &Arc<str> {
        &self.stream
    }

    pub(crate) fn id_arc(&self) -> &Arc<str> {
        &self.id
    }

    pub(crate) fn fields_arc(&self) -> &Arc<[(String, Vec<u8>)]> {
        &self.fields
    }

    /// Redis entries always have a field; none means the entry was deleted while pending.
    pub(crate) fn is_gone(&self) -> bool {
        self.fields.is_empty()
    }
}

/// A handler's verdict on one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Everything the entry caused is durable: acknowledge it.
    Done,
    /// A transient failure: deliver again later (dead-lettered after the last allowed delivery).
    Retry(String),
    /// A permanent failure: copy to the dead-letter stream with this reason, then acknowledge.
    DeadLetter(String),
}

/// Partitions by the `did` of a JSON payload (`repo_backfill`, `firehose_*` entries): events of one
/// DID are then handled in stream order. Entries without one are not partitioned.
pub fn did_partition(delivery: &Delivery) -> Option<String> {
    top_level_did(delivery.payload_bytes().ok()?)
}

/// The `did` string of a JSON object, read only as far as that key: the producers write it
/// before the record, so the record (most of the payload) is not scanned twice, once here and
/// once by the handler (nor checked to be UTF-8 beyond the strings read here). Whether the rest
/// is well-formed is the handler's to judge.
fn top_level_did(json: &[u8]) -> Option<String> {
    use serde::Deserializer as _;
    use serde::de::{Error, IgnoredAny, MapAccess, Visitor};

    /// Stores the `did` it meets and then stops the parser with an error, as serde has no
    /// other way to leave a document before its end.
    struct Found<'a>(&'a mut Option<String>);

    impl<'de> Visitor<'de> for Found<'_> {
        type Value = ();

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an object with a did")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "did" {
                    *self.0 = Some(map.next_value::<String>()?);
                    return Err(A::Error::custom("did found"));
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }

    let mut did = None;
    let _stopped = serde_json::Deserializer::from_slice(json).deserialize_map(Found(&mut did));
    did
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_did_is_read_at_the_top_level_only() {
        let did = |json: &str| top_level_did(json.as_bytes());
        assert_eq!(
            did(r#"{"type":"create","did":"did:plc:a","record":{"x":[1"#).as_deref(),
            Some("did:plc:a")
        );
        assert_eq!(
            did(r#"{"record":{"did":"did:plc:inner"},"did":"did:plc:outer"}"#).as_deref(),
            Some("did:plc:outer")
        );
        assert_eq!(
            did(r#"{"d\u0069d":"did:plc:escaped"}"#).as_deref(),
            Some("did:plc:escaped")
        );
        assert_eq!(did(r#"{"record":{"did":"did:plc:inner"}}"#), None);
        assert_eq!(did(r#"{"did":7}"#), None);
        assert_eq!(did(r#"["did","did:plc:a"]"#), None);
        assert_eq!(did("not json"), None);
        assert_eq!(top_level_did(b"{\"did\":\"did:plc:\xff\"}"), None);
        assert_eq!(
            top_level_did(b"{\"did\":\"did:plc:a\",\"x\":\"\xff\"}").as_deref(),
            Some("did:plc:a")
        );
    }

    #[test]
    fn payload_of_known_and_unknown_streams() {
        let d = Delivery::new(
            "firehose_live",
            "1-0",
            vec![(
                "event".into(),
                br#"{"did":"did:plc:a","type":"identity"}"#.to_vec(),
            )],
            1,
        );
        assert_eq!(did_partition(&d).as_deref(), Some("did:plc:a"));
        let other = Delivery::new("x", "1-0", vec![("f".into(), b"{}".to_vec())], 2);
        assert_eq!(other.payload().unwrap(), "{}");
        assert_eq!(other.deliveries(), 2);
        assert_eq!(did_partition(&other), None);
        let wrong = Delivery::new(
            "repo_backfill",
            "1-0",
            vec![("event".into(), b"{}".to_vec())],
            1,
        );
        assert!(matches!(wrong.payload(), Err(PayloadError::Missing { .. })));
        let bad = Delivery::new("x", "1-0", vec![("f".into(), vec![0xff])], 1);
        assert!(matches!(bad.payload(), Err(PayloadError::NotUtf8 { .. })));
        assert!(matches!(
            other.json::<Vec<u8>>(),
            Err(PayloadError::Json { .. })
        ));
    }
}
