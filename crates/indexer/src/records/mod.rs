//! Pure mapping from one record (atproto JSON) to the typed rows the AppView schema holds for it.
//!
//! [`map_record`] validates a record against what its collection's lexicon requires of the
//! fields the rows use, and fills each column as the reference AppView's indexing plugins do
//! (`packages/bsky/src/data-plane/server/indexing/plugins/` in bluesky-social/atproto), with the
//! stricter rules of this system: every timestamp normalised to RFC 3339 UTC with milliseconds
//! and `Z`, `\u0000` removed from text, and an invalid record reported as an [`InvalidRecord`]
//! with a countable [`InvalidReason`] instead of being half-indexed. Columns that depend on other
//! rows (`post.invalidReplyRoot`, `violatesThreadGate`, `hasThreadGate`, aggregates, duplicates)
//! are the writer's business, not this module's.

mod actor;
mod curation;
mod embed;
mod engagement;
mod error;
mod fields;
mod gates;
mod graph;
mod post;

pub use actor::{LabelerRow, ProfileRow};
pub use curation::{FeedGeneratorRow, ListRow, StarterPackRow};
pub use embed::{EmbedExternalRow, EmbedImageRow, EmbedRecordRow, EmbedVideoRow, Embeds};
pub use engagement::{LikeRow, RepostRows};
pub use error::{InvalidReason, InvalidRecord};
pub use gates::{PostGateRow, ThreadGateRow};
pub use graph::{BlockRow, FollowRow, ListBlockRow, ListItemRow, VerificationRow};
pub use post::{FeedItemRow, PostRow, PostRows, QuoteRow};

use fields::Object;
use serde_json::Value;

/// Where a record comes from: its path, its CID, and when it is being indexed.
#[derive(Debug, Clone, Copy)]
pub struct Source<'a> {
    /// The repo (author) DID.
    pub did: &'a str,
    /// The collection NSID.
    pub collection: &'a str,
    /// The record key.
    pub rkey: &'a str,
    /// The record's CID.
    pub cid: &'a str,
    /// The `indexedAt` to write, already in the canonical timestamp form.
    pub indexed_at: &'a str,
}

impl Source<'_> {
    /// The record's AT-URI, `at://{did}/{collection}/{rkey}`.
    pub fn uri(&self) -> String {
        format!("at://{}/{}/{}", self.did, self.collection, self.rkey)
    }
}

/// The typed rows for one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rows {
    /// `app.bsky.feed.post`.
    Post(Box<PostRows>),
    /// `app.bsky.feed.like`.
    Like(LikeRow),
    /// `app.bsky.feed.repost`.
    Repost(RepostRows),
    /// `app.bsky.graph.follow`.
    Follow(FollowRow),
    /// `app.bsky.graph.block`.
    Block(BlockRow),
    /// `app.bsky.graph.list`.
    List(ListRow),
    /// `app.bsky.graph.listitem`.
    ListItem(ListItemRow),
    /// `app.bsky.graph.listblock`.
    ListBlock(ListBlockRow),
    /// `app.bsky.feed.generator`.
    FeedGenerator(FeedGeneratorRow),
    /// `app.bsky.actor.profile` (record key `self`).
    Profile(ProfileRow),
    /// `app.bsky.feed.threadgate`.
    ThreadGate(ThreadGateRow),
    /// `app.bsky.feed.postgate`.
    PostGate(PostGateRow),
    /// `app.bsky.graph.starterpack`.
    StarterPack(StarterPackRow),
    /// `app.bsky.labeler.service` (record key `self`).
    Labeler(LabelerRow),
    /// `app.bsky.graph.verification`.
    Verification(VerificationRow),
    /// Any other collection: only the `record` row is written.
    RecordOnly,
}

/// The collections with typed tables.
pub const INDEXED_COLLECTIONS: &[&str] = &[
    "app.bsky.feed.post",
    "app.bsky.feed.like",
    "app.bsky.feed.repost",
    "app.bsky.graph.follow",
    "app.bsky.graph.block",
    "app.bsky.graph.list",
    "app.bsky.graph.listitem",
    "app.bsky.graph.listblock",
    "app.bsky.feed.generator",
    "app.bsky.actor.profile",
    "app.bsky.feed.threadgate",
    "app.bsky.feed.postgate",
    "app.bsky.graph.starterpack",
    "app.bsky.labeler.service",
    "app.bsky.graph.verification",
];

/// Maps `record` (from `source`) to its typed rows, or says why it cannot be.
pub fn map_record(source: &Source<'_>, record: &Value) -> Result<Rows, InvalidRecord> {
    if !INDEXED_COLLECTIONS.contains(&source.collection) {
        return Ok(Rows::RecordOnly);
    }
    let obj = Object::new(record, "$")?;
    // The reference validates every record against its collection's lexicon, `$type` included.
    match obj.type_name()? {
        Some(t) if t == source.collection => {}
        Some(_) => {
            return Err(InvalidRecord::new(
                InvalidReason::WrongRecordType,
                "$type",
                "names another collection",
            ));
        }
        None => {
            return Err(InvalidRecord::new(
                InvalidReason::WrongRecordType,
                "$type",
                "required field is absent",
            ));
        }
    }
    Ok(match source.collection {
        "app.bsky.feed.post" => Rows::Post(Box::new(post::map(source, &obj)?)),
        "app.bsky.feed.like" => Rows::Like(engagement::like(source, &obj)?),
        "app.bsky.feed.repost" => Rows::Repost(engagement::repost(source, &obj)?),
        "app.bsky.graph.follow" => Rows::Follow(graph::follow(source, &obj)?),
        "app.bsky.graph.block" => Rows::Block(graph::block(source, &obj)?),
        "app.bsky.graph.list" => Rows::List(curation::list(source, &obj)?),
        "app.bsky.graph.listitem" => Rows::ListItem(graph::list_item(source, &obj)?),
        "app.bsky.graph.listblock" => Rows::ListBlock(graph::list_block(source, &obj)?),
        "app.bsky.feed.generator" => Rows::FeedGenerator(curation::feed_generator(source, &obj)?),
        "app.bsky.actor.profile" => Rows::Profile(actor::profile(source, &obj)?),
        "app.bsky.feed.threadgate" => Rows::ThreadGate(gates::thread_gate(source, &obj)?),
        "app.bsky.feed.postgate" => Rows::PostGate(gates::post_gate(source, &obj)?),
        "app.bsky.graph.starterpack" => Rows::StarterPack(curation::starter_pack(source, &obj)?),
        "app.bsky.labeler.service" => Rows::Labeler(actor::labeler(source, &obj)?),
        "app.bsky.graph.verification" => Rows::Verification(graph::verification(source, &obj)?),
        _ => Rows::RecordOnly,
    })
}

/// `record` with `\u0000` removed from every string and key: what `record.json` may hold.
pub fn without_nul(record: &Value) -> Value {
    fields::clean_json(record)
}

/// The text of [`without_nul`]`(record)`. Records almost never hold a NUL, so the record is
/// serialized as it is and only cleaned (a copy of the whole tree) when the text shows one.
pub fn json_without_nul(record: &Value) -> String {
    // serde_json's writer into bytes, not `Display` (through a formatter, slower), into a
    // buffer the size of a typical record so that it rarely grows.
    let mut bytes = Vec::with_capacity(512);
    let text = serde_json::to_writer(&mut bytes, record)
        .ok()
        .and_then(|()| String::from_utf8(bytes).ok())
        .unwrap_or_else(|| record.to_string());
    // serde_json writes NUL as `\u0000`, and most records hold no backslash at all, so the
    // backslashes are found (a `memchr` scan) rather than the whole pattern. A literal
    // backslash before `u0000` also matches, which only costs the slower path.
    let has_nul = text
        .match_indices('\\')
        .any(|(at, _)| text[at..].starts_with("\\u0000"));
    if has_nul {
        without_nul(record).to_string()
    } else {
        text
    }
}

/// The earlier of two canonical timestamps, as the reference computes `sortAt`.
fn sort_at(created_at: &str, indexed_at: &str) -> String {
    if indexed_at < created_at {
        indexed_at.to_owned()
    } else {
        created_at.to_owned()
    }
}

#[cfg(test)]
mod test_support;

#[cfg(test)]
mod tests {
    use super::test_support::{CID, DID, source};
    use super::*;
    use serde_json::json;

    #[test]
    fn record_text_loses_its_nuls_only() {
        let clean = json!({"text": "plain", "n": [1, "a\\u0000"]});
        assert_eq!(json_without_nul(&clean), clean.to_string());
        let dirty = json!({"te\u{0}xt": "a\u{0}b", "list": ["\u{0}"]});
        assert_eq!(
            json_without_nul(&dirty),
            json!({"text": "ab", "list": [""]}).to_string()
        );
    }

    #[test]
    fn other_collections_are_record_only_whatever_their_shape() {
        let src = source("com.example.thing", "3k2a");
        assert_eq!(map_record(&src, &json!([1, 2])), Ok(Rows::RecordOnly));
    }

    #[test]
    fn record_must_be_an_object_of_its_collection_type() {
        let src = source("app.bsky.graph.follow", "3k2a");
        let reason = |v: Value| map_record(&src, &v).err().map(|e| e.reason);
        assert_eq!(reason(json!("x")), Some(InvalidReason::NotAnObject));
        assert_eq!(
            reason(json!({"subject": DID, "createdAt": "2024-01-01T00:00:00Z"})),
            Some(InvalidReason::WrongRecordType)
        );
        assert_eq!(
            reason(json!({"$type": "app.bsky.graph.block", "subject": DID,
                          "createdAt": "2024-01-01T00:00:00Z"})),
            Some(InvalidReason::WrongRecordType)
        );
        assert_eq!(
            reason(json!({"$type": 7, "subject": DID, "createdAt": "2024-01-01T00:00:00Z"})),
            Some(InvalidReason::WrongType)
        );
    }

    #[test]
    fn record_json_loses_nul_everywhere() {
        let record = json!({"$type": "x.y.z", "a\u{0}": ["b\u{0}c", 1, {"d": "\u{0}"}]});
        assert_eq!(
            without_nul(&record),
            json!({"$type": "x.y.z", "a": ["bc", 1, {"d": ""}]})
        );
    }

    #[test]
    fn uri_is_built_from_the_path() {
        let src = source("app.bsky.feed.like", "3k2a");
        assert_eq!(src.uri(), format!("at://{DID}/app.bsky.feed.like/3k2a"));
        assert!(!CID.is_empty());
    }
}
