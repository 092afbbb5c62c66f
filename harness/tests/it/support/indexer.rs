//! Shared by the indexer's write-path tests: a migrated database, event builders, and a
//! snapshot of every table the indexer writes, for comparing whole database states.

use std::collections::BTreeMap;

use harness::services::TestPostgres;
use indexer::apply::{Change, Effect, apply_batch};
use indexer::schema::{self, SchemaName};
use serde_json::{Value, json};
use sqlx::postgres::{PgPool, PgPoolOptions};
use streams::payloads::{
    AccountEvent, BACKFILL_SEQ, CommitMarker, RecordDelete, RecordWrite, StreamEvent,
};

/// A CID for records and commits (its value does not matter to the indexer beyond syntax).
pub const CID: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";
/// Another CID, for updated versions.
pub const CID2: &str = "bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku";
/// Event time used throughout.
pub const TIME: &str = "2026-11-27T10:00:00.000Z";

/// A fresh database with the indexer's schema, and a pool on it.
pub async fn database(pg: &TestPostgres) -> anyhow::Result<PgPool> {
    let url = pg.create_database().await?;
    let name = SchemaName::parse("bsky")?;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(schema::connect_options(&url, &name)?)
        .await?;
    schema::migrate(&pool, &name).await?;
    Ok(pool)
}

/// A TID-shaped rev from a small number (TIDs sort as strings; so do these).
pub fn rev(n: u32) -> String {
    const ALPHABET: &[u8] = b"234567abcdefghijklmnopqrstuvwxyz";
    let mut out = String::from("3k");
    let mut v = u64::from(n);
    let mut digits = [b'2'; 11];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(v % 32) as usize];
        v /= 32;
    }
    out.push_str(std::str::from_utf8(&digits).unwrap_or("22222222222"));
    out
}

/// `at://did/collection/rkey`.
pub fn uri(did: &str, collection: &str, rkey: &str) -> String {
    format!("at://{did}/{collection}/{rkey}")
}

/// A create (or update) event. Every argument is a field of the event the tests vary.
#[allow(clippy::too_many_arguments)]
pub fn write(
    seq: i64,
    update: bool,
    did: &str,
    collection: &str,
    rkey: &str,
    rev_n: u32,
    cid: &str,
    record: Value,
) -> Change {
    let w = RecordWrite {
        seq,
        time: TIME.into(),
        did: did.into(),
        commit: CID.into(),
        rev: rev(rev_n),
        collection: collection.into(),
        rkey: rkey.into(),
        cid: cid.into(),
        record,
    };
    Change::Event(if update {
        StreamEvent::Update(w)
    } else {
        StreamEvent::Create(w)
    })
}

/// A delete event.
pub fn delete(seq: i64, did: &str, collection: &str, rkey: &str, rev_n: u32) -> Change {
    Change::Event(StreamEvent::Delete(RecordDelete {
        seq,
        time: TIME.into(),
        did: did.into(),
        commit: CID.into(),
        rev: rev(rev_n),
        collection: collection.into(),
        rkey: rkey.into(),
    }))
}

/// An account event.
pub fn account(seq: i64, did: &str, active: bool, status: Option<&str>) -> Change {
    Change::Event(StreamEvent::Account(AccountEvent {
        seq,
        time: TIME.into(),
        did: did.into(),
        active,
        status: status.map(str::to_owned),
    }))
}

/// A `repo` marker (end of a backfilled repo).
pub fn repo_done(did: &str, rev_n: u32) -> Change {
    Change::Event(StreamEvent::Repo(CommitMarker {
        seq: BACKFILL_SEQ,
        time: TIME.into(),
        did: did.into(),
        commit: CID.into(),
        rev: rev(rev_n),
    }))
}

/// A post record.
pub fn post(text: &str) -> Value {
    json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-27T09:00:00.000Z"})
}

/// A reply to `parent` (also the root).
pub fn reply(text: &str, parent: &str) -> Value {
    json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-27T09:00:00.000Z",
           "reply": {"root": {"uri": parent, "cid": CID}, "parent": {"uri": parent, "cid": CID}}})
}

/// A like or repost of `subject`.
pub fn like(collection: &str, subject: &str) -> Value {
    json!({"$type": collection, "subject": {"uri": subject, "cid": CID},
           "createdAt": "2026-11-27T09:00:00.000Z"})
}

/// A follow or block of `subject`.
pub fn follow(collection: &str, subject: &str) -> Value {
    json!({"$type": collection, "subject": subject, "createdAt": "2026-11-27T09:00:00.000Z"})
}

/// A profile.
pub fn profile(name: &str) -> Value {
    json!({"$type": "app.bsky.actor.profile", "displayName": name})
}

/// Applies `changes` as one batch.
pub async fn apply(pool: &PgPool, changes: &[Change]) -> anyhow::Result<Vec<Effect>> {
    Ok(apply_batch(pool, changes).await?)
}

/// The tables the indexer writes (notification ids vary with retries, so they are left out).
pub const TABLES: &[&str] = &[
    "record",
    "record_tombstone",
    "actor_tombstone",
    "actor",
    "actor_sync",
    "post",
    "post_embed_image",
    "post_embed_external",
    "post_embed_record",
    "post_embed_video",
    "quote",
    "feed_item",
    "\"like\"",
    "repost",
    "follow",
    "actor_block",
    "list",
    "list_item",
    "list_block",
    "feed_generator",
    "profile",
    "thread_gate",
    "post_gate",
    "starter_pack",
    "labeler",
    "verification",
    "duplicate_record",
    "post_agg",
    "profile_agg",
    "notification",
    "label",
    "label_negation",
];

/// Every row of every table the indexer writes, as sorted JSON text per table.
pub async fn snapshot(pool: &PgPool) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    let mut out = BTreeMap::new();
    for table in TABLES {
        let sql = format!("SELECT (to_jsonb(t) - 'id')::text FROM {table} t ORDER BY 1");
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .fetch_all(pool)
            .await?;
        out.insert(
            (*table).to_owned(),
            rows.into_iter().map(|(r,)| r).collect(),
        );
    }
    Ok(out)
}

/// `SELECT count(*)` of one query.
pub async fn count(pool: &PgPool, sql: &'static str) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(pool).await?)
}

/// Asserts that `post_agg` and `profile_agg` equal the counts of the rows they summarise.
pub async fn assert_aggregates_exact(pool: &PgPool) -> anyhow::Result<()> {
    let wrong_posts = count(
        pool,
        r#"SELECT count(*) FROM post_agg a WHERE
             a."likeCount" <> (SELECT count(*) FROM "like" WHERE subject = a.uri)
          OR a."repostCount" <> (SELECT count(*) FROM repost WHERE subject = a.uri)
          OR a."replyCount" <> (SELECT count(*) FROM post WHERE "replyParent" = a.uri)
          OR a."quoteCount" <> (SELECT count(*) FROM quote WHERE subject = a.uri)"#,
    )
    .await?;
    let missing_posts = count(
        pool,
        r#"SELECT count(*) FROM (SELECT subject AS k FROM "like" UNION SELECT subject FROM repost
             UNION SELECT "replyParent" FROM post WHERE "replyParent" IS NOT NULL
             UNION SELECT subject FROM quote) s
           WHERE NOT EXISTS (SELECT 1 FROM post_agg WHERE uri = s.k)"#,
    )
    .await?;
    let wrong_profiles = count(
        pool,
        r#"SELECT count(*) FROM profile_agg a WHERE
             a."followersCount" <> (SELECT count(*) FROM follow WHERE "subjectDid" = a.did)
          OR a."followsCount" <> (SELECT count(*) FROM follow WHERE creator = a.did)
          OR a."postsCount" <> (SELECT count(*) FROM post WHERE creator = a.did)"#,
    )
    .await?;
    let missing_profiles = count(
        pool,
        r#"SELECT count(*) FROM (SELECT creator AS k FROM follow UNION SELECT "subjectDid" FROM follow
             UNION SELECT creator FROM post) s
           WHERE NOT EXISTS (SELECT 1 FROM profile_agg WHERE did = s.k)"#,
    )
    .await?;
    anyhow::ensure!(
        (wrong_posts, missing_posts, wrong_profiles, missing_profiles) == (0, 0, 0, 0),
        "aggregates drifted: post_agg wrong {wrong_posts} missing {missing_posts}, \
         profile_agg wrong {wrong_profiles} missing {missing_profiles}"
    );
    Ok(())
}
