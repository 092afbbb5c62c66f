//! `app.bsky.feed.like` and `app.bsky.feed.repost`: a strong reference to a subject, optionally
//! the repost it was seen `via`; a repost also puts the subject in the reposter's feed.

use super::error::InvalidRecord;
use super::fields::{Object, StrongRef};
use super::post::FeedItemRow;
use super::{Source, sort_at};

/// A row of `like`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LikeRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `subject`: the liked record's URI.
    pub subject: String,
    /// `subjectCid`.
    pub subject_cid: String,
    /// `via`: the repost through which the subject was seen.
    pub via: Option<String>,
    /// `viaCid`.
    pub via_cid: Option<String>,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// The rows of one repost: `repost` and its `feed_item`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepostRows {
    /// The `repost` row (same columns as a like's).
    pub repost: LikeRow,
    /// The `feed_item` row of type `repost`.
    pub feed_item: FeedItemRow,
}

/// Subject, via and dates, shared by both record types.
fn interaction(source: &Source<'_>, obj: &Object<'_>) -> Result<LikeRow, InvalidRecord> {
    let subject = obj.req_strong_ref("subject")?;
    let via: Option<StrongRef> = obj.strong_ref("via")?;
    Ok(LikeRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        subject: subject.uri.as_str().to_owned(),
        subject_cid: subject.cid,
        via: via.as_ref().map(|v| v.uri.as_str().to_owned()),
        via_cid: via.map(|v| v.cid),
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn like(source: &Source<'_>, obj: &Object<'_>) -> Result<LikeRow, InvalidRecord> {
    interaction(source, obj)
}

pub(crate) fn repost(source: &Source<'_>, obj: &Object<'_>) -> Result<RepostRows, InvalidRecord> {
    let repost = interaction(source, obj)?;
    let feed_item = FeedItemRow {
        uri: repost.uri.clone(),
        cid: repost.cid.clone(),
        kind: "repost",
        post_uri: repost.subject.clone(),
        originator_did: repost.creator.clone(),
        sort_at: sort_at(&repost.created_at, &repost.indexed_at),
    };
    Ok(RepostRows { repost, feed_item })
}

#[cfg(test)]
mod tests {
    use crate::records::test_support::{CID, DID, INDEXED_AT, other_uri, source};
    use crate::records::{InvalidReason, LikeRow, Rows, map_record};
    use serde_json::json;

    fn subject() -> String {
        other_uri("app.bsky.feed.post", "3jaa")
    }

    #[test]
    fn like_with_via() {
        let via = other_uri("app.bsky.feed.repost", "3jab");
        let record = json!({"$type": "app.bsky.feed.like",
            "subject": {"uri": subject(), "cid": CID},
            "via": {"uri": via, "cid": CID},
            "createdAt": "2024-01-01T00:00:00Z"});
        let got = map_record(&source("app.bsky.feed.like", "3k2a"), &record);
        assert_eq!(
            got,
            Ok(Rows::Like(LikeRow {
                uri: format!("at://{DID}/app.bsky.feed.like/3k2a"),
                cid: CID.into(),
                creator: DID.into(),
                subject: subject(),
                subject_cid: CID.into(),
                via: Some(via),
                via_cid: Some(CID.into()),
                created_at: "2024-01-01T00:00:00.000Z".into(),
                indexed_at: INDEXED_AT.into(),
            }))
        );
    }

    #[test]
    fn repost_feeds_the_subject() {
        let record = json!({"$type": "app.bsky.feed.repost",
            "subject": {"uri": subject(), "cid": CID},
            "createdAt": "2024-01-01T00:00:00Z"});
        let Ok(Rows::Repost(rows)) = map_record(&source("app.bsky.feed.repost", "3k2a"), &record)
        else {
            panic!("not a repost");
        };
        assert_eq!(rows.repost.via, None);
        assert_eq!(rows.feed_item.kind, "repost");
        assert_eq!(rows.feed_item.uri, rows.repost.uri);
        assert_eq!(rows.feed_item.post_uri, subject());
        assert_eq!(rows.feed_item.originator_did, DID);
        assert_eq!(rows.feed_item.sort_at, "2024-01-01T00:00:00.000Z");
    }

    #[test]
    fn invalid_likes() {
        let src = source("app.bsky.feed.like", "3k2a");
        let reason = |v| map_record(&src, &v).err().map(|e| (e.reason, e.path));
        assert_eq!(
            reason(json!({"$type": "app.bsky.feed.like", "createdAt": "2024-01-01T00:00:00Z"})),
            Some((InvalidReason::MissingField, "subject".into()))
        );
        assert_eq!(
            reason(json!({"$type": "app.bsky.feed.like", "subject": subject(),
                          "createdAt": "2024-01-01T00:00:00Z"})),
            Some((InvalidReason::NotAnObject, "subject".into()))
        );
        assert_eq!(
            reason(json!({"$type": "app.bsky.feed.like",
                          "subject": {"uri": subject(), "cid": CID}, "via": {"uri": subject()},
                          "createdAt": "2024-01-01T00:00:00Z"})),
            Some((InvalidReason::MissingField, "via.cid".into()))
        );
        assert_eq!(
            reason(json!({"$type": "app.bsky.feed.like",
                          "subject": {"uri": subject(), "cid": CID}, "createdAt": "soon"})),
            Some((InvalidReason::BadDatetime, "createdAt".into()))
        );
    }
}
