//! Exact aggregates: `post_agg` and `profile_agg` moved by deltas, once per key per batch.
//!
//! Never a `COUNT(*)`: a counted row adds (or removes) one only when `RETURNING` says it really
//! went in (or out), and the batch sums those per key and applies each sum once, at the end.
//! Concurrent batches stay exact because `ON CONFLICT DO UPDATE` adds to the latest committed
//! value under the row's lock; every batch locks its keys in one global order (post keys
//! sorted, then profile keys sorted), so two batches cannot deadlock on them.

use sqlx::PgConnection;

use super::error::{ApplyError, Step};
use super::touched::Touched;

/// Adds every delta `touched` holds to its aggregate row (created at the delta if missing).
pub(crate) async fn apply(conn: &mut PgConnection, touched: &Touched) -> Result<(), ApplyError> {
    if !touched.post_aggs.is_empty() {
        let keys: Vec<&str> = touched.post_aggs.keys().map(String::as_str).collect();
        let column = |i: usize| -> Vec<i64> {
            touched
                .post_aggs
                .values()
                .map(|c| c.get(i).copied().unwrap_or(0))
                .collect()
        };
        sqlx::query(
            r#"INSERT INTO post_agg (uri, "likeCount", "replyCount", "repostCount", "quoteCount")
               SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[])
                 AS x(k, l, r, s, q)
               ORDER BY k
               ON CONFLICT (uri) DO UPDATE SET
                 "likeCount" = post_agg."likeCount" + excluded."likeCount",
                 "replyCount" = post_agg."replyCount" + excluded."replyCount",
                 "repostCount" = post_agg."repostCount" + excluded."repostCount",
                 "quoteCount" = post_agg."quoteCount" + excluded."quoteCount""#,
        )
        .bind(&keys)
        .bind(column(0))
        .bind(column(1))
        .bind(column(2))
        .bind(column(3))
        .execute(&mut *conn)
        .await
        .step("adding to post_agg")?;
    }
    if !touched.profile_aggs.is_empty() {
        let keys: Vec<&str> = touched.profile_aggs.keys().map(String::as_str).collect();
        let column = |i: usize| -> Vec<i64> {
            touched
                .profile_aggs
                .values()
                .map(|c| c.get(i).copied().unwrap_or(0))
                .collect()
        };
        sqlx::query(
            r#"INSERT INTO profile_agg (did, "followersCount", "followsCount", "postsCount")
               SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[])
                 AS x(k, fr, fs, p)
               ORDER BY k
               ON CONFLICT (did) DO UPDATE SET
                 "followersCount" = profile_agg."followersCount" + excluded."followersCount",
                 "followsCount" = profile_agg."followsCount" + excluded."followsCount",
                 "postsCount" = profile_agg."postsCount" + excluded."postsCount""#,
        )
        .bind(&keys)
        .bind(column(0))
        .bind(column(1))
        .bind(column(2))
        .execute(&mut *conn)
        .await
        .step("adding to profile_agg")?;
    }
    Ok(())
}
