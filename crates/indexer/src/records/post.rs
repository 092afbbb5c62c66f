//! `app.bsky.feed.post`: the `post` row, its `feed_item`, its embeds, its `quote`, and the
//! mentions a notifier needs.

use super::embed::{self, Embeds};
use super::error::{InvalidReason, InvalidRecord};
use super::fields::{Len, Object};
use super::{Source, sort_at};

/// Lexicon limits of a post.
const TEXT: Len = Len::max(3000);
const LANGS: Len = Len::max(3);
const TAGS: Len = Len::max(8);
const TAG: Len = Len::max(640);

const MENTION: &str = "app.bsky.richtext.facet#mention";
const LINK: &str = "app.bsky.richtext.facet#link";
const TAG_FEATURE: &str = "app.bsky.richtext.facet#tag";

/// Everything one post writes, besides `record` and the aggregates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRows {
    /// The `post` row.
    pub post: PostRow,
    /// The `feed_item` row of type `post`.
    pub feed_item: FeedItemRow,
    /// The `post_embed_*` rows.
    pub embeds: Embeds,
    /// The `quote` row, when the post quotes a post.
    pub quote: Option<QuoteRow>,
    /// DIDs mentioned in the text's facets, first mention first, each once (the author included
    /// if self-mentioned: whom to notify is the writer's decision).
    pub mentions: Vec<String>,
}

/// A row of `post` (the columns that depend only on the record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`: the author's DID.
    pub creator: String,
    /// `text`.
    pub text: String,
    /// `replyRoot`.
    pub reply_root: Option<String>,
    /// `replyRootCid`.
    pub reply_root_cid: Option<String>,
    /// `replyParent`.
    pub reply_parent: Option<String>,
    /// `replyParentCid`.
    pub reply_parent_cid: Option<String>,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
    /// `langs` (jsonb array of strings); `None` when absent or empty, as in the reference.
    pub langs: Option<Vec<String>>,
    /// `tags` (jsonb array of strings); `None` when absent or empty.
    pub tags: Option<Vec<String>>,
}

/// A row of `feed_item`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedItemRow {
    /// `uri`: the post's or the repost's own URI.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `type`: `post` or `repost`.
    pub kind: &'static str,
    /// `postUri`: the post shown.
    pub post_uri: String,
    /// `originatorDid`: who posted or reposted.
    pub originator_did: String,
    /// `sortAt`: the earlier of `createdAt` and `indexedAt`.
    pub sort_at: String,
}

/// A row of `quote`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRow {
    /// `uri`: the quoting post.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `subject`: the quoted post.
    pub subject: String,
    /// `subjectCid`.
    pub subject_cid: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

pub(crate) fn map(source: &Source<'_>, obj: &Object<'_>) -> Result<PostRows, InvalidRecord> {
    let uri = source.uri();
    let created_at = obj.req_datetime("createdAt")?;
    let (reply_root, reply_parent) = match obj.object("reply")? {
        Some(reply) => (
            Some(reply.req_strong_ref("root")?),
            Some(reply.req_strong_ref("parent")?),
        ),
        None => (None, None),
    };
    let post = PostRow {
        uri: uri.clone(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        text: obj.req_text("text", TEXT)?,
        reply_root: reply_root.as_ref().map(|r| r.uri.as_str().to_owned()),
        reply_root_cid: reply_root.map(|r| r.cid),
        reply_parent: reply_parent.as_ref().map(|r| r.uri.as_str().to_owned()),
        reply_parent_cid: reply_parent.map(|r| r.cid),
        created_at: created_at.clone(),
        indexed_at: source.indexed_at.to_owned(),
        langs: obj.languages("langs", LANGS)?.filter(|l| !l.is_empty()),
        tags: obj.text_array("tags", TAGS, TAG)?.filter(|t| !t.is_empty()),
    };
    let mentions = mentions(obj)?;
    let embeds = embed::parse(&uri, obj)?;
    let quote = embed::quoted_post(&embeds).map(|quoted| QuoteRow {
        uri: uri.clone(),
        cid: source.cid.to_owned(),
        subject: quoted.embed_uri.clone(),
        subject_cid: quoted.embed_cid.clone(),
        created_at: created_at.clone(),
        indexed_at: source.indexed_at.to_owned(),
    });
    let feed_item = FeedItemRow {
        uri: uri.clone(),
        cid: source.cid.to_owned(),
        kind: "post",
        post_uri: uri,
        originator_did: source.did.to_owned(),
        sort_at: sort_at(&created_at, source.indexed_at),
    };
    Ok(PostRows {
        post,
        feed_item,
        embeds,
        quote,
        mentions,
    })
}

/// Validates the facets and collects the mentioned DIDs.
fn mentions(obj: &Object<'_>) -> Result<Vec<String>, InvalidRecord> {
    let mut mentioned: Vec<String> = Vec::new();
    let Some(facets) = obj.array("facets", Len::ANY)? else {
        return Ok(mentioned);
    };
    for (i, facet) in facets.iter().enumerate() {
        let facet = Object::new(facet, format!("{}[{i}]", obj.at("facets")))?;
        let index = facet.need(facet.object("index")?, "index")?;
        for end in ["byteStart", "byteEnd"] {
            if !index.need(index.raw(end), end)?.is_u64() {
                return Err(InvalidRecord::new(
                    InvalidReason::WrongType,
                    index.at(end),
                    "expected a non-negative integer",
                ));
            }
        }
        let features = facet.need(facet.array("features", Len::ANY)?, "features")?;
        for (j, feature) in features.iter().enumerate() {
            let feature = Object::new(feature, format!("{}[{j}]", facet.at("features")))?;
            match feature.need(feature.type_name()?, "$type")? {
                MENTION => {
                    let did = feature.req_did("did")?;
                    if !mentioned.contains(&did) {
                        mentioned.push(did);
                    }
                }
                LINK => {
                    feature.req_text("uri", Len::ANY)?;
                }
                TAG_FEATURE => {
                    feature.req_text("tag", Len::between(1, 640))?;
                }
                _ => {}
            }
        }
    }
    Ok(mentioned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{CID, DID, INDEXED_AT, OTHER, other_uri, source};
    use crate::records::{Rows, map_record};
    use serde_json::{Value, json};

    fn post(extra: Value) -> Value {
        let mut v = json!({
            "$type": "app.bsky.feed.post",
            "text": "hello",
            "createdAt": "2024-05-06T07:08:09.5+01:00",
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut v, extra) {
            base.extend(extra);
        }
        v
    }

    fn rows(v: &Value) -> Result<PostRows, InvalidRecord> {
        match map_record(&source("app.bsky.feed.post", "3k2a"), v)? {
            Rows::Post(rows) => Ok(*rows),
            other => panic!("expected post rows, got {other:?}"),
        }
    }

    fn reason(v: &Value) -> Option<(InvalidReason, String)> {
        rows(v).err().map(|e| (e.reason, e.path))
    }

    #[test]
    fn plain_post() -> Result<(), InvalidRecord> {
        let r = rows(&post(json!({})))?;
        let uri = format!("at://{DID}/app.bsky.feed.post/3k2a");
        assert_eq!(
            r.post,
            PostRow {
                uri: uri.clone(),
                cid: CID.into(),
                creator: DID.into(),
                text: "hello".into(),
                reply_root: None,
                reply_root_cid: None,
                reply_parent: None,
                reply_parent_cid: None,
                created_at: "2024-05-06T06:08:09.500Z".into(),
                indexed_at: INDEXED_AT.into(),
                langs: None,
                tags: None,
            }
        );
        assert_eq!(
            r.feed_item,
            FeedItemRow {
                uri: uri.clone(),
                cid: CID.into(),
                kind: "post",
                post_uri: uri,
                originator_did: DID.into(),
                sort_at: "2024-05-06T06:08:09.500Z".into(),
            }
        );
        assert_eq!(r.embeds, Embeds::default());
        assert_eq!((r.quote, r.mentions), (None, vec![]));
        Ok(())
    }

    #[test]
    fn future_created_at_sorts_by_indexed_at() -> Result<(), InvalidRecord> {
        let r = rows(&post(json!({"createdAt": "2099-01-01T00:00:00Z"})))?;
        assert_eq!(r.feed_item.sort_at, INDEXED_AT);
        assert_eq!(r.post.created_at, "2099-01-01T00:00:00.000Z");
        Ok(())
    }

    #[test]
    fn reply_langs_tags_and_nul() -> Result<(), InvalidRecord> {
        let root = other_uri("app.bsky.feed.post", "3jaa");
        let parent = other_uri("app.bsky.feed.post", "3jab");
        let r = rows(&post(json!({
            "text": "hi\u{0} there",
            "reply": {"root": {"uri": root, "cid": CID}, "parent": {"uri": parent, "cid": CID}},
            "langs": ["en", "pt-BR"],
            "tags": ["a\u{0}b", "c"],
        })))?;
        assert_eq!(r.post.text, "hi there");
        assert_eq!(r.post.reply_root.as_deref(), Some(root.as_str()));
        assert_eq!(r.post.reply_parent.as_deref(), Some(parent.as_str()));
        assert_eq!(r.post.reply_parent_cid.as_deref(), Some(CID));
        assert_eq!(r.post.langs, Some(vec!["en".into(), "pt-BR".into()]));
        assert_eq!(r.post.tags, Some(vec!["ab".into(), "c".into()]));
        let r = rows(&post(json!({"langs": [], "tags": []})))?;
        assert_eq!((r.post.langs, r.post.tags), (None, None));
        Ok(())
    }

    #[test]
    fn quote_and_mentions() -> Result<(), InvalidRecord> {
        let quoted = other_uri("app.bsky.feed.post", "3jaa");
        let mention = |did: &str| {
            json!({"index": {"byteStart": 0, "byteEnd": 3},
            "features": [{"$type": MENTION, "did": did}]})
        };
        let r = rows(&post(json!({
            "embed": {"$type": "app.bsky.embed.record", "record": {"uri": quoted, "cid": CID}},
            "facets": [mention(OTHER), mention(OTHER),
                {"index": {"byteStart": 4, "byteEnd": 9},
                 "features": [{"$type": LINK, "uri": "https://x.y"}, {"$type": "com.example.f"}]}],
        })))?;
        assert_eq!(r.mentions, vec![OTHER.to_owned()]);
        let q = r
            .quote
            .ok_or_else(|| InvalidRecord::new(InvalidReason::Mismatch, "$", "no quote"))?;
        assert_eq!(
            (q.subject.as_str(), q.subject_cid.as_str()),
            (quoted.as_str(), CID)
        );
        assert_eq!(q.created_at, r.post.created_at);
        Ok(())
    }

    #[test]
    fn invalid_posts() {
        let cases: Vec<(Value, InvalidReason, &str)> = vec![
            (
                json!({"$type": "app.bsky.feed.post", "createdAt": "2024-01-01T00:00:00Z"}),
                InvalidReason::MissingField,
                "text",
            ),
            (post(json!({"text": 5})), InvalidReason::WrongType, "text"),
            (
                post(json!({"text": "x".repeat(3001)})),
                InvalidReason::BadLength,
                "text",
            ),
            (
                post(json!({"createdAt": "2024-01-01 00:00:00"})),
                InvalidReason::BadDatetime,
                "createdAt",
            ),
            (
                post(json!({"createdAt": null})),
                InvalidReason::WrongType,
                "createdAt",
            ),
            (
                post(
                    json!({"reply": {"root": {"uri": other_uri("app.bsky.feed.post", "3jaa"), "cid": CID}}}),
                ),
                InvalidReason::MissingField,
                "reply.parent",
            ),
            (
                post(
                    json!({"reply": {"root": {"uri": other_uri("app.bsky.feed.post", "3jaa"), "cid": "nope"},
                                   "parent": {"uri": other_uri("app.bsky.feed.post", "3jab"), "cid": CID}}}),
                ),
                InvalidReason::BadFormat,
                "reply.root.cid",
            ),
            (
                post(json!({"langs": ["en", "fr", "de", "it"]})),
                InvalidReason::BadLength,
                "langs",
            ),
            (
                post(json!({"langs": ["not a language"]})),
                InvalidReason::BadFormat,
                "langs[0]",
            ),
            (
                post(json!({"tags": [1]})),
                InvalidReason::WrongType,
                "tags[0]",
            ),
            (
                post(
                    json!({"facets": [{"index": {"byteStart": -1, "byteEnd": 2}, "features": []}]}),
                ),
                InvalidReason::WrongType,
                "facets[0].index.byteStart",
            ),
            (
                post(json!({"facets": [{"index": {"byteStart": 0, "byteEnd": 2},
                                     "features": [{"$type": MENTION, "did": "bob"}]}]})),
                InvalidReason::BadFormat,
                "facets[0].features[0].did",
            ),
        ];
        for (record, want, path) in cases {
            assert_eq!(reason(&record), Some((want, path.to_owned())), "{record}");
        }
    }
}
