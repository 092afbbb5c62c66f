//! Notifications for newly indexed live records, as the reference's plugins derive them.
//!
//! Only live events notify (a backfill never does), only for rows that really went in (not a
//! duplicate), never the author themself, and at most once per recipient and record. The unique
//! index on `(did, "recordUri", reason)` makes a redelivered event insert nothing.

use std::collections::HashMap;

use sqlx::PgConnection;

use super::bulk::{Column, run};
use super::error::{ApplyError, Step};
use super::insert::Fresh;
use crate::records::Rows;

/// One `notification` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notif {
    /// Recipient.
    pub did: String,
    /// The record that caused it.
    pub record_uri: String,
    /// Its CID.
    pub record_cid: String,
    /// Its author.
    pub author: String,
    /// `like`, `repost`, `follow`, `mention`, `reply`, `quote`, `like-via-repost`, ….
    pub reason: &'static str,
    /// What the reason is about (the liked post, the replied-to post), when there is one.
    pub reason_subject: Option<String>,
    /// `least(createdAt, indexedAt)` of the record.
    pub sort_at: String,
}

/// The DID of an `at://did:…/…` URI (`None` for handle authorities, which cannot be notified).
fn did_of(uri: &str) -> Option<&str> {
    let authority = uri.strip_prefix("at://")?.split('/').next()?;
    authority.starts_with("did:").then_some(authority)
}

fn earlier(a: &str, b: &str) -> String {
    if b < a { b.to_owned() } else { a.to_owned() }
}

/// Collects notifications, one per recipient, never for the author.
struct Builder {
    author: String,
    uri: String,
    cid: String,
    sort_at: String,
    out: Vec<Notif>,
}

impl Builder {
    fn notify(&mut self, did: Option<&str>, reason: &'static str, subject: Option<&str>) {
        let Some(did) = did else { return };
        if did == self.author || self.out.iter().any(|n| n.did == did) {
            return;
        }
        self.out.push(Notif {
            did: did.to_owned(),
            record_uri: self.uri.clone(),
            record_cid: self.cid.clone(),
            author: self.author.clone(),
            reason,
            reason_subject: subject.map(str::to_owned),
            sort_at: self.sort_at.clone(),
        });
    }
}

/// Deepest ancestor a reply notifies, counting the parent as 1 (the reference's
/// `REPLY_NOTIF_DEPTH` of 5, exclusive).
const REPLY_NOTIFY_HEIGHT: i32 = 4;

/// The indexed ancestors above the parent of each `(post, parent)` reply, nearest first, up to
/// [`REPLY_NOTIFY_HEIGHT`]: what the reference walks (`getAncestorsAndSelfQb`) to notify.
pub(crate) async fn ancestors(
    conn: &mut PgConnection,
    replies: &[(String, String)],
) -> Result<HashMap<String, Vec<String>>, ApplyError> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if replies.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(String, String)> = sqlx::query_as(
        r#"WITH RECURSIVE a(post, uri, height) AS (
             SELECT x.post, g.uri, 2
             FROM (SELECT unnest($1::text[]) AS post, unnest($2::text[]) AS parent) AS x
             JOIN post p ON p.uri = x.parent
             JOIN post g ON g.uri = p."replyParent"
             UNION ALL
             SELECT a.post, g.uri, a.height + 1
             FROM a JOIN post c ON c.uri = a.uri JOIN post g ON g.uri = c."replyParent"
             WHERE a.height < $3
           )
           SELECT post, uri FROM a ORDER BY post, height"#,
    )
    .bind(replies.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>())
    .bind(replies.iter().map(|(_, p)| p.as_str()).collect::<Vec<_>>())
    .bind(REPLY_NOTIFY_HEIGHT)
    .fetch_all(&mut *conn)
    .await
    .step("finding reply ancestors")?;
    for (post, uri) in rows {
        out.entry(post).or_default().push(uri);
    }
    Ok(out)
}

/// The notifications a newly indexed record causes; `ancestors` are a reply's indexed
/// ancestors above its parent, nearest first (see [`ancestors`]).
pub(crate) fn for_insert(rows: &Rows, ancestors: &[String]) -> Vec<Notif> {
    let builder = |author: &str, uri: &str, cid: &str, sort_at: String| Builder {
        author: author.to_owned(),
        uri: uri.to_owned(),
        cid: cid.to_owned(),
        sort_at,
        out: Vec::new(),
    };
    match rows {
        Rows::Post(p) => {
            let post = &p.post;
            let mut b = builder(
                &post.creator,
                &post.uri,
                &post.cid,
                p.feed_item.sort_at.clone(),
            );
            for did in &p.mentions {
                b.notify(Some(did), "mention", None);
            }
            if let Some(record) = &p.embeds.record
                && record.embed_uri.contains("/app.bsky.feed.post/")
            {
                b.notify(did_of(&record.embed_uri), "quote", Some(&record.embed_uri));
            }
            // The parent is notified even before it is indexed (its URI is in the record), then
            // the indexed ancestors as the reference does, then the root wherever it is.
            let targets = post
                .reply_parent
                .iter()
                .chain(ancestors)
                .chain(post.reply_root.iter());
            for target in targets {
                b.notify(did_of(target), "reply", Some(target));
            }
            b.out
        }
        Rows::Like(l) => {
            let mut b = builder(
                &l.creator,
                &l.uri,
                &l.cid,
                earlier(&l.created_at, &l.indexed_at),
            );
            b.notify(did_of(&l.subject), "like", Some(&l.subject));
            if let Some(via) = &l.via {
                b.notify(did_of(via), "like-via-repost", Some(via));
            }
            b.out
        }
        Rows::Repost(r) => {
            let l = &r.repost;
            let mut b = builder(
                &l.creator,
                &l.uri,
                &l.cid,
                earlier(&l.created_at, &l.indexed_at),
            );
            b.notify(did_of(&l.subject), "repost", Some(&l.subject));
            if let Some(via) = &l.via {
                b.notify(did_of(via), "repost-via-repost", Some(via));
            }
            b.out
        }
        Rows::Follow(f) => {
            let mut b = builder(
                &f.creator,
                &f.uri,
                &f.cid,
                earlier(&f.created_at, &f.indexed_at),
            );
            b.notify(Some(&f.subject_did), "follow", None);
            b.out
        }
        _ => Vec::new(),
    }
}

/// Inserts `notifs`, skipping any already there. Notifications of [`Fresh::Yes`] records cannot
/// be there (a record's notifications go with its `record` row, and one record notifies each
/// recipient once), so those go in with a plain insert, which costs PostgreSQL less.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    notifs: &[Notif],
    fresh: Fresh,
) -> Result<(), ApplyError> {
    if notifs.is_empty() {
        return Ok(());
    }
    macro_rules! insert {
        () => {
            r#"INSERT INTO notification (did, "recordUri", "recordCid", author, reason,
                 "reasonSubject", "sortAt")
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[]), unnest($5::text[]), unnest($6::text[]), unnest($7::text[])"#
        };
    }
    let col = |f: fn(&Notif) -> &str| Column::Text(notifs.iter().map(f).collect());
    let columns = vec![
        col(|x| &x.did),
        col(|x| &x.record_uri),
        col(|x| &x.record_cid),
        col(|x| &x.author),
        col(|x| x.reason),
        Column::Nullable(notifs.iter().map(|x| x.reason_subject.as_deref()).collect()),
        col(|x| &x.sort_at),
    ];
    let sql = match fresh {
        Fresh::Yes => insert!(),
        Fresh::No => concat!(
            insert!(),
            r#" ON CONFLICT (did, "recordUri", reason) DO NOTHING"#
        ),
    };
    run(conn, sql, columns, "inserting notifications").await?;
    Ok(())
}

/// Deletes the notifications caused by `uris` (deleted records).
pub(crate) async fn delete(conn: &mut PgConnection, uris: &[String]) -> Result<(), ApplyError> {
    if uris.is_empty() {
        return Ok(());
    }
    sqlx::query(r#"DELETE FROM notification WHERE "recordUri" = ANY($1)"#)
        .bind(uris)
        .execute(&mut *conn)
        .await
        .step("deleting notifications")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Source, map_record};
    use serde_json::json;

    const AUTHOR: &str = "did:plc:author";
    const OTHER: &str = "did:plc:other";
    const CID: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";

    fn rows(collection: &str, record: serde_json::Value) -> Rows {
        let source = Source {
            did: AUTHOR,
            collection,
            rkey: "3k2a",
            cid: CID,
            indexed_at: "2024-01-02T00:00:00.000Z",
        };
        map_record(&source, &record).unwrap_or(Rows::RecordOnly)
    }

    #[test]
    fn like_notifies_the_subject_author_but_never_oneself() {
        let like = |subject: &str| {
            rows(
                "app.bsky.feed.like",
                json!({"$type": "app.bsky.feed.like", "createdAt": "2024-01-01T00:00:00Z",
                       "subject": {"uri": format!("at://{subject}/app.bsky.feed.post/3j"), "cid": CID}}),
            )
        };
        let n = for_insert(&like(OTHER), &[]);
        assert_eq!(n.len(), 1);
        assert_eq!((n[0].did.as_str(), n[0].reason), (OTHER, "like"));
        assert_eq!(n[0].sort_at, "2024-01-01T00:00:00.000Z");
        assert!(for_insert(&like(AUTHOR), &[]).is_empty());
    }

    #[test]
    fn a_reply_notifies_parent_then_ancestors_then_root_once_each() {
        let at = |did: &str, rkey: &str| format!("at://{did}/app.bsky.feed.post/{rkey}");
        let (parent, root) = (at(OTHER, "3p"), at("did:plc:root", "3r"));
        let ancestors = [at("did:plc:grand", "3g"), at(OTHER, "3o"), at(AUTHOR, "3a")];
        let n = for_insert(
            &rows(
                "app.bsky.feed.post",
                json!({"$type": "app.bsky.feed.post", "text": "hi",
                       "createdAt": "2024-01-01T00:00:00Z",
                       "reply": {"root": {"uri": root, "cid": CID},
                                 "parent": {"uri": parent, "cid": CID}}}),
            ),
            &ancestors,
        );
        let got: Vec<(&str, &str, Option<&str>)> = n
            .iter()
            .map(|n| (n.did.as_str(), n.reason, n.reason_subject.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                (OTHER, "reply", Some(parent.as_str())),
                ("did:plc:grand", "reply", Some(ancestors[0].as_str())),
                ("did:plc:root", "reply", Some(root.as_str())),
            ]
        );
    }

    #[test]
    fn a_reply_that_mentions_the_parent_author_notifies_them_once() {
        let parent = format!("at://{OTHER}/app.bsky.feed.post/3j");
        let n = for_insert(
            &rows(
                "app.bsky.feed.post",
                json!({"$type": "app.bsky.feed.post", "text": "hi", "createdAt": "2024-01-01T00:00:00Z",
                   "reply": {"root": {"uri": parent, "cid": CID}, "parent": {"uri": parent, "cid": CID}},
                   "facets": [{"index": {"byteStart": 0, "byteEnd": 2},
                               "features": [{"$type": "app.bsky.richtext.facet#mention", "did": OTHER}]}]}),
            ),
            &[],
        );
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].reason, "mention");
    }
}
