//! Thread gates and post gates: rules an author attaches to one of their own posts. A gate
//! lives at the same record key as its post and must name that post, in the author's repo.

use super::Source;
use super::error::{InvalidReason, InvalidRecord};
use super::fields::{Len, Object};

/// A row of `thread_gate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadGateRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `postUri`: the gated post.
    pub post_uri: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// A row of `post_gate` (same columns as a thread gate's).
pub type PostGateRow = ThreadGateRow;

/// Lexicon limits of a thread gate's lists.
const ALLOW: Len = Len::max(5);
const HIDDEN_REPLIES: Len = Len::max(300);
/// Lexicon limits of a post gate's lists.
const DETACHED: Len = Len::max(50);
const EMBEDDING_RULES: Len = Len::max(5);

fn gate(source: &Source<'_>, obj: &Object<'_>) -> Result<ThreadGateRow, InvalidRecord> {
    let post = obj.req_at_uri("post")?;
    // The reference refuses a gate whose post is not the author's post at the same key.
    let same_key = post.rkey().map(|k| k.as_str()) == Some(source.rkey);
    if post.authority().as_str() != source.did || !same_key {
        return Err(InvalidRecord::new(
            InvalidReason::Mismatch,
            obj.at("post"),
            "a gate must name its author's post at the same record key",
        ));
    }
    Ok(ThreadGateRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        post_uri: post.as_str().to_owned(),
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn thread_gate(
    source: &Source<'_>,
    obj: &Object<'_>,
) -> Result<ThreadGateRow, InvalidRecord> {
    obj.array("allow", ALLOW)?;
    obj.array("hiddenReplies", HIDDEN_REPLIES)?;
    gate(source, obj)
}

pub(crate) fn post_gate(
    source: &Source<'_>,
    obj: &Object<'_>,
) -> Result<PostGateRow, InvalidRecord> {
    obj.array("detachedEmbeddingUris", DETACHED)?;
    obj.array("embeddingRules", EMBEDDING_RULES)?;
    gate(source, obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Rows;
    use crate::records::test_support::{CREATED, DID, map, other_uri};
    use serde_json::json;

    fn own_post(rkey: &str) -> String {
        format!("at://{DID}/app.bsky.feed.post/{rkey}")
    }

    #[test]
    fn gates_for_own_post() {
        for c in ["app.bsky.feed.threadgate", "app.bsky.feed.postgate"] {
            let row = match map(
                c,
                json!({"$type": c, "post": own_post("3k2a"), "createdAt": CREATED}),
            ) {
                Ok(Rows::ThreadGate(row)) | Ok(Rows::PostGate(row)) => row,
                other => panic!("{c}: {other:?}"),
            };
            assert_eq!(row.post_uri, own_post("3k2a"));
            assert_eq!(row.uri, format!("at://{DID}/{c}/3k2a"));
        }
    }

    #[test]
    fn gates_for_other_posts_are_refused() {
        for c in ["app.bsky.feed.threadgate", "app.bsky.feed.postgate"] {
            for post in [own_post("3k2b"), other_uri("app.bsky.feed.post", "3k2a")] {
                let got = map(c, json!({"$type": c, "post": post, "createdAt": CREATED}));
                assert_eq!(
                    got.err().map(|e| e.reason),
                    Some(InvalidReason::Mismatch),
                    "{c} {post}"
                );
            }
        }
    }

    #[test]
    fn oversized_rule_lists_are_refused() {
        let c = "app.bsky.feed.threadgate";
        let allow = vec![json!({"$type": "app.bsky.feed.threadgate#followingRule"}); 6];
        let got = map(
            c,
            json!({"$type": c, "post": own_post("3k2a"), "allow": allow, "createdAt": CREATED}),
        );
        assert_eq!(
            got.err().map(|e| (e.reason, e.path)),
            Some((InvalidReason::BadLength, "allow".into()))
        );
        let c = "app.bsky.feed.postgate";
        let got = map(
            c,
            json!({"$type": c, "post": own_post("3k2a"), "createdAt": 1}),
        );
        assert_eq!(got.err().map(|e| e.reason), Some(InvalidReason::WrongType));
    }
}
