//! Exact aggregates: `post_agg` and `profile_agg` recounted once per distinct key per batch.
//!
//! Never a `COUNT(*)` per event: the batch gathers the keys whose counted rows it changed, and
//! recounts each once, from the indexed rows, at the end. Concurrent batches stay exact because
//! each takes a transaction-scoped advisory lock per key (in one global order, so no deadlock)
//! before it recounts: under READ COMMITTED the recount statement that runs after the lock is
//! granted sees every other batch that recounted the key before it, committed.

use sqlx::PgConnection;

use super::error::{ApplyError, Step};
use super::touched::Touched;

/// Advisory-lock namespace of aggregate keys (DID locks use [`super::DID_LOCKS`]).
const AGG_LOCKS: i32 = 2;

/// Recounts every aggregate key `touched` names.
pub(crate) async fn recount(conn: &mut PgConnection, touched: &Touched) -> Result<(), ApplyError> {
    let posts: Vec<String> = touched.post_aggs.iter().cloned().collect();
    let profiles: Vec<String> = touched.profile_aggs.iter().cloned().collect();
    if posts.is_empty() && profiles.is_empty() {
        return Ok(());
    }
    let keys: Vec<String> = posts.iter().chain(profiles.iter()).cloned().collect();
    sqlx::query(
        "SELECT pg_advisory_xact_lock($2, h) FROM \
         (SELECT DISTINCT hashtext(k) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS s",
    )
    .bind(&keys)
    .bind(AGG_LOCKS)
    .execute(&mut *conn)
    .await
    .step("locking aggregate keys")?;
    if !posts.is_empty() {
        sqlx::query(
            r#"INSERT INTO post_agg (uri, "likeCount", "replyCount", "repostCount", "quoteCount")
               SELECT k,
                 (SELECT count(*) FROM "like" WHERE subject = k),
                 (SELECT count(*) FROM post WHERE "replyParent" = k
                    AND ("violatesThreadGate" IS NULL OR "violatesThreadGate" = false)),
                 (SELECT count(*) FROM repost WHERE subject = k),
                 (SELECT count(*) FROM quote WHERE subject = k)
               FROM unnest($1::text[]) AS k ORDER BY k
               ON CONFLICT (uri) DO UPDATE SET
                 "likeCount" = excluded."likeCount", "replyCount" = excluded."replyCount",
                 "repostCount" = excluded."repostCount", "quoteCount" = excluded."quoteCount""#,
        )
        .bind(&posts)
        .execute(&mut *conn)
        .await
        .step("recounting post_agg")?;
    }
    if !profiles.is_empty() {
        sqlx::query(
            r#"INSERT INTO profile_agg (did, "followersCount", "followsCount", "postsCount")
               SELECT k,
                 (SELECT count(*) FROM follow WHERE "subjectDid" = k),
                 (SELECT count(*) FROM follow WHERE creator = k),
                 (SELECT count(*) FROM post WHERE creator = k)
               FROM unnest($1::text[]) AS k ORDER BY k
               ON CONFLICT (did) DO UPDATE SET
                 "followersCount" = excluded."followersCount",
                 "followsCount" = excluded."followsCount", "postsCount" = excluded."postsCount""#,
        )
        .bind(&profiles)
        .execute(&mut *conn)
        .await
        .step("recounting profile_agg")?;
    }
    Ok(())
}
