//! The JSON documents carried in stream entries, typed.
//!
//! Their JSON is exactly the contract's ("Redis streams"): field names, the `type` tag, and which
//! fields are left out rather than written as `null` (`handle` without a handle, `status` of an active
//! account, a label's optional parts). The golden tests below pin the exact strings.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One repo listed by the backfill ingester (`repo_backfill`, field `repo`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoBackfillEntry {
    /// The repo's DID.
    pub did: String,
    /// The https origin of the service that listed it: a hint, not the PDS.
    pub host: String,
    /// The repo's revision at listing time.
    pub rev: String,
    /// Why the repo is not active (`takendown`, `deactivated`, …); absent when active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Whether the account is active.
    pub active: bool,
}

/// A repo event in `firehose_live` / `firehose_backfill` (field `event`), tagged by `type`.
///
/// Read through a flat set of fields in one pass (`event_wire`), not the derived reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "lowercase",
    try_from = "crate::event_wire::WireEvent"
)]
pub enum StreamEvent {
    /// A record was created.
    Create(RecordWrite),
    /// A record was updated.
    Update(RecordWrite),
    /// A record was deleted.
    Delete(RecordDelete),
    /// The DID's identity (handle) may have changed.
    Identity(IdentityEvent),
    /// The account's hosting status changed.
    Account(AccountEvent),
    /// The repo was reset to this commit.
    Sync(CommitMarker),
    /// The backfiller finished emitting this repo at this commit.
    Repo(CommitMarker),
}

impl StreamEvent {
    /// The DID the event is about: the partition key for in-order handling.
    pub fn did(&self) -> &str {
        match self {
            Self::Create(e) | Self::Update(e) => &e.did,
            Self::Delete(e) => &e.did,
            Self::Identity(e) => &e.did,
            Self::Account(e) => &e.did,
            Self::Sync(e) | Self::Repo(e) => &e.did,
        }
    }

    /// The relay's sequence number, or [`BACKFILL_SEQ`] for backfill events.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Create(e) | Self::Update(e) => e.seq,
            Self::Delete(e) => e.seq,
            Self::Identity(e) => e.seq,
            Self::Account(e) => e.seq,
            Self::Sync(e) | Self::Repo(e) => e.seq,
        }
    }

    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Create(_) => "create",
            Self::Update(_) => "update",
            Self::Delete(_) => "delete",
            Self::Identity(_) => "identity",
            Self::Account(_) => "account",
            Self::Sync(_) => "sync",
            Self::Repo(_) => "repo",
        }
    }
}

/// The `seq` of every backfill event.
pub const BACKFILL_SEQ: i64 = -1;

/// Whether `seq` is a relay's sequence number (the event is live) rather than [`BACKFILL_SEQ`]
/// or another negative marker.
pub fn is_relay_seq(seq: i64) -> bool {
    seq >= 0
}

/// A `create` or `update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordWrite {
    /// Relay sequence number, -1 for backfill.
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds and `Z`.
    pub time: String,
    /// The repo's DID.
    pub did: String,
    /// CID of the commit carrying the write.
    pub commit: String,
    /// Revision of that commit.
    pub rev: String,
    /// NSID of the record's collection.
    pub collection: String,
    /// Record key.
    pub rkey: String,
    /// CID of the record.
    pub cid: String,
    /// The record in the atproto JSON data model (`$link`, `$bytes`, blobs).
    pub record: serde_json::Value,
}

/// A `delete`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordDelete {
    /// Relay sequence number, -1 for backfill.
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds and `Z`.
    pub time: String,
    /// The repo's DID.
    pub did: String,
    /// CID of the commit carrying the delete.
    pub commit: String,
    /// Revision of that commit.
    pub rev: String,
    /// NSID of the record's collection.
    pub collection: String,
    /// Record key.
    pub rkey: String,
}

/// An `identity` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentityEvent {
    /// Relay sequence number.
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds and `Z`.
    pub time: String,
    /// The DID.
    pub did: String,
    /// The handle, absent when the frame carries none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<String>,
}

/// An `account` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountEvent {
    /// Relay sequence number.
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds and `Z`.
    pub time: String,
    /// The DID.
    pub did: String,
    /// Whether the account is active.
    pub active: bool,
    /// Why it is not active; absent when active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A `sync` or `repo` event: a repo at a commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitMarker {
    /// Relay sequence number, -1 for backfill.
    pub seq: i64,
    /// RFC 3339 UTC with milliseconds and `Z`.
    pub time: String,
    /// The repo's DID.
    pub did: String,
    /// CID of the commit.
    pub commit: String,
    /// Revision of the commit.
    pub rev: String,
}

/// One `#labels` frame (`label_live`, field `labels`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelsEntry {
    /// The labeler's sequence number of the frame.
    pub seq: i64,
    /// The frame's labels, in order.
    pub labels: Vec<Label>,
}

/// A label as the labeler signed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Label format version.
    pub ver: i64,
    /// DID of the labeler.
    pub src: String,
    /// The labelled subject: an `at://` URI, or a bare DID for account labels.
    pub uri: String,
    /// CID of the labelled record version, when pinned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// The label value.
    pub val: String,
    /// Whether this negates an earlier label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neg: Option<bool>,
    /// Creation time.
    pub cts: String,
    /// Expiry time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<String>,
    /// The labeler's signature, as `{"$bytes": …}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sig: Option<JsonBytes>,
}

/// Bytes in the atproto JSON data model: `{"$bytes": "<base64, standard alphabet, no padding>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JsonBytes(pub Vec<u8>);

/// Encodes without padding, accepts input with or without it.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

#[derive(Serialize, Deserialize)]
struct BytesWire {
    #[serde(rename = "$bytes")]
    bytes: String,
}

impl Serialize for JsonBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        BytesWire {
            bytes: BASE64.encode(&self.0),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = BytesWire::deserialize(deserializer)?;
        BASE64
            .decode(wire.bytes.as_bytes())
            .map(JsonBytes)
            .map_err(serde::de::Error::custom)
    }
}

/// Formats a time as the contract's event time: RFC 3339, UTC, milliseconds, `Z`.
pub fn event_time(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn golden<T>(value: &T, expected: &str)
    where
        T: Serialize + for<'de> Deserialize<'de> + PartialEq + std::fmt::Debug,
    {
        let text = serde_json::to_string(value).unwrap();
        assert_eq!(text, expected);
        let back: T = serde_json::from_str(expected).unwrap();
        assert_eq!(&back, value);
    }

    #[test]
    fn repo_backfill_entry() {
        let mut e = RepoBackfillEntry {
            did: "did:plc:abc".into(),
            host: "https://bsky.network".into(),
            rev: "3l3qo2vutsw2b".into(),
            status: None,
            active: true,
        };
        golden(
            &e,
            r#"{"did":"did:plc:abc","host":"https://bsky.network","rev":"3l3qo2vutsw2b","active":true}"#,
        );
        e.status = Some("deactivated".into());
        e.active = false;
        golden(
            &e,
            r#"{"did":"did:plc:abc","host":"https://bsky.network","rev":"3l3qo2vutsw2b","status":"deactivated","active":false}"#,
        );
    }

    #[test]
    fn create_event() {
        let e = StreamEvent::Create(RecordWrite {
            seq: 42,
            time: "2026-11-27T12:34:56.789Z".into(),
            did: "did:plc:abc".into(),
            commit: "bafyc".into(),
            rev: "3l3qo2vutsw2b".into(),
            collection: "app.bsky.feed.like".into(),
            rkey: "3l3qo2vuowo2b".into(),
            cid: "bafyr".into(),
            record: json!({"$type": "app.bsky.feed.like", "subject": {"cid": "bafyx", "uri": "at://x"}, "createdAt": "2026-11-27T12:34:56.000Z"}),
        });
        golden(
            &e,
            r#"{"type":"create","seq":42,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","commit":"bafyc","rev":"3l3qo2vutsw2b","collection":"app.bsky.feed.like","rkey":"3l3qo2vuowo2b","cid":"bafyr","record":{"$type":"app.bsky.feed.like","subject":{"cid":"bafyx","uri":"at://x"},"createdAt":"2026-11-27T12:34:56.000Z"}}"#,
        );
        assert_eq!(e.did(), "did:plc:abc");
        assert_eq!(e.kind(), "create");
    }

    #[test]
    fn update_and_delete_events() {
        let e = StreamEvent::Update(RecordWrite {
            seq: BACKFILL_SEQ,
            time: "2026-11-27T12:34:56.789Z".into(),
            did: "did:plc:abc".into(),
            commit: "bafyc".into(),
            rev: "r".into(),
            collection: "app.bsky.actor.profile".into(),
            rkey: "self".into(),
            cid: "bafyr".into(),
            record: json!({"avatar": {"$type": "blob", "ref": {"$link": "bafyb"}, "mimeType": "image/jpeg", "size": 1}}),
        });
        golden(
            &e,
            r#"{"type":"update","seq":-1,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","commit":"bafyc","rev":"r","collection":"app.bsky.actor.profile","rkey":"self","cid":"bafyr","record":{"avatar":{"$type":"blob","ref":{"$link":"bafyb"},"mimeType":"image/jpeg","size":1}}}"#,
        );
        let d = StreamEvent::Delete(RecordDelete {
            seq: 7,
            time: "2026-11-27T12:34:56.789Z".into(),
            did: "did:plc:abc".into(),
            commit: "bafyc".into(),
            rev: "r".into(),
            collection: "app.bsky.feed.post".into(),
            rkey: "k".into(),
        });
        golden(
            &d,
            r#"{"type":"delete","seq":7,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","commit":"bafyc","rev":"r","collection":"app.bsky.feed.post","rkey":"k"}"#,
        );
    }

    #[test]
    fn identity_event_omits_missing_handle() {
        let mut e = IdentityEvent {
            seq: 9,
            time: "2026-11-27T12:34:56.789Z".into(),
            did: "did:plc:abc".into(),
            handle: None,
        };
        golden(
            &StreamEvent::Identity(e.clone()),
            r#"{"type":"identity","seq":9,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc"}"#,
        );
        e.handle = Some("alice.test".into());
        golden(
            &StreamEvent::Identity(e),
            r#"{"type":"identity","seq":9,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","handle":"alice.test"}"#,
        );
    }

    #[test]
    fn account_event_omits_status_when_active() {
        let mut e = AccountEvent {
            seq: 10,
            time: "2026-11-27T12:34:56.789Z".into(),
            did: "did:plc:abc".into(),
            active: true,
            status: None,
        };
        golden(
            &StreamEvent::Account(e.clone()),
            r#"{"type":"account","seq":10,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","active":true}"#,
        );
        e.active = false;
        e.status = Some("takendown".into());
        golden(
            &StreamEvent::Account(e),
            r#"{"type":"account","seq":10,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","active":false,"status":"takendown"}"#,
        );
    }

    #[test]
    fn sync_and_repo_events() {
        let m = CommitMarker {
            seq: -1,
            time: "2026-11-27T12:34:56.789Z".into(),
            did: "did:plc:abc".into(),
            commit: "bafyc".into(),
            rev: "r".into(),
        };
        golden(
            &StreamEvent::Sync(m.clone()),
            r#"{"type":"sync","seq":-1,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","commit":"bafyc","rev":"r"}"#,
        );
        golden(
            &StreamEvent::Repo(m),
            r#"{"type":"repo","seq":-1,"time":"2026-11-27T12:34:56.789Z","did":"did:plc:abc","commit":"bafyc","rev":"r"}"#,
        );
    }

    #[test]
    fn labels_entry() {
        let entry = LabelsEntry {
            seq: 123,
            labels: vec![
                Label {
                    ver: 1,
                    src: "did:plc:labeler".into(),
                    uri: "at://did:plc:abc/app.bsky.feed.post/k".into(),
                    cid: Some("bafyr".into()),
                    val: "spam".into(),
                    neg: None,
                    cts: "2026-11-27T12:34:56.789Z".into(),
                    exp: None,
                    sig: Some(JsonBytes(vec![0xfb, 0xff, 0x00, 0x01])),
                },
                Label {
                    ver: 1,
                    src: "did:plc:labeler".into(),
                    uri: "did:plc:abc".into(),
                    cid: None,
                    val: "!hide".into(),
                    neg: Some(true),
                    cts: "2026-11-27T12:34:56.789Z".into(),
                    exp: Some("2027-01-01T00:00:00.000Z".into()),
                    sig: None,
                },
            ],
        };
        golden(
            &entry,
            r#"{"seq":123,"labels":[{"ver":1,"src":"did:plc:labeler","uri":"at://did:plc:abc/app.bsky.feed.post/k","cid":"bafyr","val":"spam","cts":"2026-11-27T12:34:56.789Z","sig":{"$bytes":"+/8AAQ"}},{"ver":1,"src":"did:plc:labeler","uri":"did:plc:abc","val":"!hide","neg":true,"cts":"2026-11-27T12:34:56.789Z","exp":"2027-01-01T00:00:00.000Z"}]}"#,
        );
    }

    #[test]
    fn bytes_accept_padding_and_refuse_garbage() {
        let b: JsonBytes = serde_json::from_str(r#"{"$bytes":"+/8AAQ=="}"#).unwrap();
        assert_eq!(b.0, vec![0xfb, 0xff, 0x00, 0x01]);
        assert!(serde_json::from_str::<JsonBytes>(r#"{"$bytes":"!!"}"#).is_err());
        assert!(serde_json::from_str::<JsonBytes>(r#"[1,2]"#).is_err());
    }

    #[test]
    fn unknown_type_is_an_error() {
        let r = serde_json::from_str::<StreamEvent>(r#"{"type":"bogus","seq":1}"#);
        assert!(r.is_err());
    }

    #[test]
    fn events_are_read_with_the_tag_anywhere_and_their_own_fields_required() {
        let read = |text: &str| serde_json::from_str::<StreamEvent>(text);
        // The tag last, an unknown field, and an identity event without its optional handle.
        let e = read(r#"{"seq":7,"time":"t","did":"did:plc:a","extra":[1],"type":"identity"}"#)
            .unwrap();
        assert_eq!(
            e,
            StreamEvent::Identity(IdentityEvent {
                seq: 7,
                time: "t".into(),
                did: "did:plc:a".into(),
                handle: None,
            })
        );
        // A delete needs no record or cid; a create needs both, and says which is missing.
        let delete = r#"{"type":"delete","seq":1,"time":"t","did":"d","commit":"c","rev":"r","collection":"x","rkey":"k"}"#;
        assert_eq!(read(delete).unwrap().kind(), "delete");
        let create = delete.replace("delete", "create");
        let err = read(&create).unwrap_err().to_string();
        assert!(err.contains("missing field `cid`"), "{err}");
        let create = create.replace(r#""rkey":"k""#, r#""rkey":"k","cid":"b""#);
        let err = read(&create).unwrap_err().to_string();
        assert!(err.contains("missing field `record`"), "{err}");
        // An explicit null record is a record (refused later, as a record), not a missing one.
        let with_null = create.replace(r#""cid":"b""#, r#""cid":"b","record":null"#);
        let StreamEvent::Create(w) = read(&with_null).unwrap() else {
            panic!("not a create");
        };
        assert_eq!(w.record, serde_json::Value::Null);
        // No tag, or a field of the wrong type, is an error.
        assert!(read(r#"{"seq":1,"time":"t","did":"d"}"#).is_err());
        assert!(read(r#"{"type":"account","seq":1,"time":"t","did":"d","active":"yes"}"#).is_err());
        assert!(read(r#"{"type":"account","seq":1,"time":"t","did":"d"}"#).is_err());
    }

    #[test]
    fn event_time_format() {
        let t = time::macros::datetime!(2026-11-27 12:34:56.789 +02:00);
        assert_eq!(event_time(t), "2026-11-27T10:34:56.789Z");
        let t = time::macros::datetime!(2026-01-02 03:04:05 UTC);
        assert_eq!(event_time(t), "2026-01-02T03:04:05.000Z");
    }
}
