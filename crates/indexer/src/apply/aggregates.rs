//! Exact aggregates: `post_agg` and `profile_agg` moved by deltas, once per key per batch.
//!
//! Never a `COUNT(*)`: a counted row adds (or removes) one only when `RETURNING` says it really
//! went in (or out), and the batch sums those per key and applies each sum once, at the end.
//!
//! Most keys of a batch have no row yet (the first like of a post, a backfill into an empty
//! database), so each table is written by one statement that adds to the stored rows with
//! `ON CONFLICT DO UPDATE` and inserts the missing ones with a plain `INSERT`, which skips
//! PostgreSQL's speculative insertion. Aggregate keys are not covered by the batch's DID locks:
//! a concurrent batch may create a missing row first. Then the plain insert fails on the unique
//! key, the savepoint taken before is rolled back, and every delta is added again with
//! `ON CONFLICT DO UPDATE`, which adds to the latest committed value under the row's lock.
//!
//! Two batches cannot deadlock on these rows: each locks its keys in one global order (post
//! keys, stored ones sorted, then missing ones sorted; then profile keys likewise), and a
//! missing key is only ever waited on by a batch that is past every key it holds.

use std::collections::BTreeMap;

use sqlx::{Acquire, PgConnection};

use super::error::{ApplyError, Step};
use super::touched::Touched;

/// The statements of one aggregate table.
struct Table {
    /// Stored rows by `ON CONFLICT DO UPDATE`, missing ones by plain `INSERT`.
    split: &'static str,
    /// Every row by `ON CONFLICT DO UPDATE`: after a concurrent batch created a missing row.
    upsert: &'static str,
}

/// `"a" = table."a" + excluded."a", …`: each counted column plus its delta.
macro_rules! add_deltas {
    ($table:literal, $first:literal $(, $column:literal)*) => {
        concat!(
            "\"", $first, "\" = ", $table, ".\"", $first, "\" + excluded.\"", $first, "\""
            $(, ", \"", $column, "\" = ", $table, ".\"", $column, "\" + excluded.\"",
              $column, "\"")*
        )
    };
}

/// Both statements of one aggregate table; `$deltas` selects the deltas as `k, …`, one
/// `unnest` per column (in the select list: PostgreSQL walks the arrays in step without first
/// copying each into a tuple store, as `FROM unnest(…)` does).
macro_rules! table {
    ($table:literal, $key:literal, [$($column:literal = $delta:literal),+], $deltas:literal) => {
        Table {
            split: concat!(
                "WITH deltas AS (SELECT ", $deltas, "), ",
                "x AS MATERIALIZED (SELECT deltas.*, EXISTS (SELECT 1 FROM ", $table,
                " a WHERE a.", $key, " = deltas.k OFFSET 0) AS stored FROM deltas), ",
                "missing AS (INSERT INTO ", $table, " (", $key, $(", \"", $column, "\""),+, ") ",
                "SELECT k", $(", ", $delta),+, " FROM x WHERE NOT stored ORDER BY k) ",
                "INSERT INTO ", $table, " (", $key, $(", \"", $column, "\""),+, ") ",
                "SELECT k", $(", ", $delta),+, " FROM x WHERE stored ORDER BY k ",
                "ON CONFLICT (", $key, ") DO UPDATE SET ",
                add_deltas!($table, $($column),+)
            ),
            upsert: concat!(
                "WITH x AS (SELECT ", $deltas, ") ",
                "INSERT INTO ", $table, " (", $key, $(", \"", $column, "\""),+, ") ",
                "SELECT k", $(", ", $delta),+, " FROM x ORDER BY k ",
                "ON CONFLICT (", $key, ") DO UPDATE SET ",
                add_deltas!($table, $($column),+)
            ),
        }
    };
}

const POST_AGG: Table = table!(
    "post_agg",
    "uri",
    [
        "likeCount" = "l",
        "replyCount" = "r",
        "repostCount" = "s",
        "quoteCount" = "q"
    ],
    "unnest($1::text[]) AS k, unnest($2::int8[]) AS l, unnest($3::int8[]) AS r, \
     unnest($4::int8[]) AS s, unnest($5::int8[]) AS q"
);

const PROFILE_AGG: Table = table!(
    "profile_agg",
    "did",
    [
        "followersCount" = "fr",
        "followsCount" = "fs",
        "postsCount" = "p"
    ],
    "unnest($1::text[]) AS k, unnest($2::int8[]) AS fr, unnest($3::int8[]) AS fs, \
     unnest($4::int8[]) AS p"
);

/// Adds every delta `touched` holds to its aggregate row (created at the delta if missing).
pub(crate) async fn apply(conn: &mut PgConnection, touched: &Touched) -> Result<(), ApplyError> {
    if touched.post_aggs.is_empty() && touched.profile_aggs.is_empty() {
        return Ok(());
    }
    let mut savepoint = conn
        .begin()
        .await
        .step("taking the aggregates' savepoint")?;
    match write(&mut savepoint, touched, |t| t.split).await {
        Ok(()) => savepoint
            .commit()
            .await
            .step("releasing the aggregates' savepoint"),
        Err(e) if is_unique_violation(&e) => {
            savepoint
                .rollback()
                .await
                .step("rolling back to the aggregates' savepoint")?;
            metrics::counter!("indexer_aggregate_races_total").increment(1);
            write(conn, touched, |t| t.upsert).await
        }
        Err(e) => Err(e),
    }
}

fn is_unique_violation(e: &ApplyError) -> bool {
    matches!(&e.source, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}

/// Writes both tables' deltas with the statement `pick` chooses.
async fn write(
    conn: &mut PgConnection,
    touched: &Touched,
    pick: fn(&Table) -> &'static str,
) -> Result<(), ApplyError> {
    for (table, deltas, step) in [
        (&POST_AGG, columns(&touched.post_aggs), "adding to post_agg"),
        (
            &PROFILE_AGG,
            columns(&touched.profile_aggs),
            "adding to profile_agg",
        ),
    ] {
        let Some((keys, counts)) = deltas else {
            continue;
        };
        let mut query = sqlx::query(pick(table)).bind(keys);
        for count in counts {
            query = query.bind(count);
        }
        query.execute(&mut *conn).await.step(step)?;
    }
    Ok(())
}

/// The keys of `deltas` and one column per count, in key order; `None` when there are none.
fn columns<const N: usize>(
    deltas: &BTreeMap<String, [i64; N]>,
) -> Option<(Vec<&str>, Vec<Vec<i64>>)> {
    if deltas.is_empty() {
        return None;
    }
    let keys = deltas.keys().map(String::as_str).collect();
    let counts = (0..N)
        .map(|i| {
            deltas
                .values()
                .map(|c| c.get(i).copied().unwrap_or(0))
                .collect()
        })
        .collect();
    Some((keys, counts))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_every_column_once_and_add_to_the_stored_value() {
        assert_eq!(
            POST_AGG.upsert,
            "WITH x AS (SELECT unnest($1::text[]) AS k, unnest($2::int8[]) AS l, \
             unnest($3::int8[]) AS r, unnest($4::int8[]) AS s, unnest($5::int8[]) AS q) \
             INSERT INTO post_agg (uri, \"likeCount\", \"replyCount\", \"repostCount\", \
             \"quoteCount\") SELECT k, l, r, s, q FROM x ORDER BY k \
             ON CONFLICT (uri) DO UPDATE SET \
             \"likeCount\" = post_agg.\"likeCount\" + excluded.\"likeCount\", \"replyCount\" = \
             post_agg.\"replyCount\" + excluded.\"replyCount\", \"repostCount\" = \
             post_agg.\"repostCount\" + excluded.\"repostCount\", \"quoteCount\" = \
             post_agg.\"quoteCount\" + excluded.\"quoteCount\""
        );
        assert!(PROFILE_AGG.split.contains(
            "missing AS (INSERT INTO profile_agg (did, \"followersCount\", \"followsCount\", \
             \"postsCount\") SELECT k, fr, fs, p FROM x WHERE NOT stored ORDER BY k)"
        ));
    }
}
