//! Likes, reposts, follows and blocks: the typed tables where a creator's second record for the
//! same subject is a duplicate. It does not go in; it is recorded in `duplicate_record`,
//! pointing at the original, as the reference does (and promoted when the original goes, see
//! `paths`).
//!
//! Fresh rows ([`Fresh::Yes`]) go in with a plain insert after a probe of the deduplicating
//! constraint, which cannot race: the same creator is the same DID, whose lock the batch holds.
//! Two of them for the same subject in one round are told apart before the insert. Other rows
//! keep `ON CONFLICT DO NOTHING`.
//!
//! The probe is written `NOT EXISTS (… OFFSET 0)`: the `OFFSET` keeps PostgreSQL from turning it
//! into an anti-join, which it would plan as a hash over a sequential scan of the whole table
//! whenever its statistics are older than the table (a backfill into an empty database grows
//! tables far faster than autoanalyze follows; the full run took 50% longer so). As a subquery it
//! is one index probe per row at any size.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::bulk::{Column, bind, col, ocol, run};
use super::error::{ApplyError, Step};
use super::insert::{Fresh, Inserted};
use super::touched::{PostCount, ProfileCount, Touched};
use crate::records::{FollowRow, LikeRow};

/// The rows to try inserting: all of them, or of fresh rows the first of each `(creator,
/// subject)` pair, in order. A fresh round may hold two likes (follows, …) of the same subject by
/// the same creator, and a plain insert of both would fail on the deduplicating constraint; the
/// later ones are left out, to be recorded as duplicates.
fn candidates<'a, T>(
    rows: &[&'a T],
    fresh: Fresh,
    key: impl Fn(&'a T) -> (&'a str, &'a str),
) -> Vec<&'a T> {
    if fresh == Fresh::No {
        return rows.to_vec();
    }
    let mut seen = HashSet::new();
    rows.iter()
        .copied()
        .filter(|r| seen.insert(key(r)))
        .collect()
}

/// Records in `duplicate_record` (with `sql`, a [`duplicate_insert!`]) the rows that did not go
/// in; `columns` gives a row's uri, cid, creator, subject and `indexedAt`.
async fn record_duplicates<'a, T>(
    conn: &mut PgConnection,
    sql: &'static str,
    rows: &[&'a T],
    went_in: &HashSet<&str>,
    columns: impl Fn(&'a T) -> [&'a str; 5],
) -> Result<(), ApplyError> {
    let dups: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| columns(r))
        .filter(|c| !went_in.contains(c[0]))
        .collect();
    let columns = (0..5)
        .map(|i| Column::Text(dups.iter().map(|c| c[i]).collect()))
        .collect();
    run(conn, sql, columns, "recording duplicates").await?;
    Ok(())
}

/// `INSERT INTO $table` of like-shaped rows from `$1 … $9`, as `t(uri, cid, creator, subject, …)`.
macro_rules! like_insert {
    ($table:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            r#" (uri, cid, creator, subject, "subjectCid", via, "viaCid", "createdAt", "indexedAt")
               SELECT * FROM (SELECT unnest($1::text[]) AS uri, unnest($2::text[]) AS cid,
                 unnest($3::text[]) AS creator, unnest($4::text[]) AS subject,
                 unnest($5::text[]) AS sc, unnest($6::text[]) AS via, unnest($7::text[]) AS vc,
                 unnest($8::text[]) AS ca, unnest($9::text[]) AS ia) AS t"#
        )
    };
}

/// The insert of like-shaped rows into `$table`: fresh rows whose creator has one for the subject
/// already are skipped by a probe, the others by `ON CONFLICT DO NOTHING`.
macro_rules! like_sql {
    ($fresh:expr, $table:literal) => {
        match $fresh {
            Fresh::Yes => concat!(
                like_insert!($table),
                " WHERE NOT EXISTS (SELECT 1 FROM ",
                $table,
                " o WHERE o.creator = t.creator AND o.subject = t.subject OFFSET 0)",
                " RETURNING uri, subject"
            ),
            Fresh::No => concat!(
                like_insert!($table),
                " ON CONFLICT DO NOTHING RETURNING uri, subject"
            ),
        }
    };
}

/// `INSERT INTO duplicate_record` of rows `$1 … $5` that duplicate a `$table` row, whose
/// subject column is `$subject`.
macro_rules! duplicate_insert {
    ($table:literal, $subject:literal) => {
        concat!(
            r#"INSERT INTO duplicate_record (uri, cid, "duplicateOf", "indexedAt")
               SELECT t.uri, t.cid, o.uri, t.at
               FROM (SELECT unnest($1::text[]) AS uri, unnest($2::text[]) AS cid,
                 unnest($3::text[]) AS creator, unnest($4::text[]) AS subject,
                 unnest($5::text[]) AS at) AS t
               JOIN "#,
            $table,
            " o ON o.creator = t.creator AND o.",
            $subject,
            r#" = t.subject AND o.uri <> t.uri
               ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid,
                 "duplicateOf" = excluded."duplicateOf", "indexedAt" = excluded."indexedAt""#
        )
    };
}

/// Likes (or reposts, which have the same columns).
pub(super) async fn likes(
    conn: &mut PgConnection,
    rows: &[&LikeRow],
    repost: bool,
    fresh: Fresh,
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (sql, dup_sql, step) = if repost {
        (
            like_sql!(fresh, "repost"),
            duplicate_insert!("repost", "subject"),
            "inserting repost rows",
        )
    } else {
        (
            like_sql!(fresh, "\"like\""),
            duplicate_insert!("\"like\"", "subject"),
            "inserting like rows",
        )
    };
    let candidates = &candidates(rows, fresh, |r| (&r.creator, &r.subject));
    let done: Vec<(String, String)> = bind(
        sql,
        vec![
            col(candidates, |r| &r.uri),
            col(candidates, |r| &r.cid),
            col(candidates, |r| &r.creator),
            col(candidates, |r| &r.subject),
            col(candidates, |r| &r.subject_cid),
            ocol(candidates, |r| r.via.as_deref()),
            ocol(candidates, |r| r.via_cid.as_deref()),
            col(candidates, |r| &r.created_at),
            col(candidates, |r| &r.indexed_at),
        ],
    )
    .fetch_all(&mut *conn)
    .await
    .step(step)?;
    let went_in: HashSet<&str> = done.iter().map(|(u, _)| u.as_str()).collect();
    record_duplicates(conn, dup_sql, rows, &went_in, |r| {
        [&r.uri, &r.cid, &r.creator, &r.subject, &r.indexed_at]
    })
    .await?;
    let count = if repost {
        PostCount::Repost
    } else {
        PostCount::Like
    };
    for (uri, subject) in done {
        touched.post(Some(&subject), count, 1);
        inserted.insert(uri);
    }
    Ok(())
}

/// `INSERT INTO $table` of follow-shaped rows from `$1 … $6`, as `t(uri, cid, creator, subject,
/// …)`.
macro_rules! follow_insert {
    ($table:literal) => {
        concat!(
            "INSERT INTO ",
            $table,
            r#" (uri, cid, creator, "subjectDid", "createdAt", "indexedAt")
               SELECT * FROM (SELECT unnest($1::text[]) AS uri, unnest($2::text[]) AS cid,
                 unnest($3::text[]) AS creator, unnest($4::text[]) AS subject,
                 unnest($5::text[]) AS ca, unnest($6::text[]) AS ia) AS t"#
        )
    };
}

/// The insert of follow-shaped rows into `$table`, as [`like_sql!`] does it.
macro_rules! follow_sql {
    ($fresh:expr, $table:literal) => {
        match $fresh {
            Fresh::Yes => concat!(
                follow_insert!($table),
                " WHERE NOT EXISTS (SELECT 1 FROM ",
                $table,
                r#" o WHERE o.creator = t.creator AND o."subjectDid" = t.subject OFFSET 0)"#,
                r#" RETURNING uri, creator, "subjectDid""#
            ),
            Fresh::No => concat!(
                follow_insert!($table),
                r#" ON CONFLICT DO NOTHING RETURNING uri, creator, "subjectDid""#
            ),
        }
    };
}

/// Follows (or blocks, which have the same columns).
pub(super) async fn follows(
    conn: &mut PgConnection,
    rows: &[&FollowRow],
    block: bool,
    fresh: Fresh,
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (sql, dup_sql, step) = if block {
        (
            follow_sql!(fresh, "actor_block"),
            duplicate_insert!("actor_block", "\"subjectDid\""),
            "inserting actor_block rows",
        )
    } else {
        (
            follow_sql!(fresh, "follow"),
            duplicate_insert!("follow", "\"subjectDid\""),
            "inserting follow rows",
        )
    };
    let candidates = &candidates(rows, fresh, |r| (&r.creator, &r.subject_did));
    let done: Vec<(String, String, String)> = bind(
        sql,
        vec![
            col(candidates, |r| &r.uri),
            col(candidates, |r| &r.cid),
            col(candidates, |r| &r.creator),
            col(candidates, |r| &r.subject_did),
            col(candidates, |r| &r.created_at),
            col(candidates, |r| &r.indexed_at),
        ],
    )
    .fetch_all(&mut *conn)
    .await
    .step(step)?;
    let went_in: HashSet<&str> = done.iter().map(|(u, _, _)| u.as_str()).collect();
    record_duplicates(conn, dup_sql, rows, &went_in, |r| {
        [&r.uri, &r.cid, &r.creator, &r.subject_did, &r.indexed_at]
    })
    .await?;
    for (uri, creator, subject) in done {
        if !block {
            touched.profile(&creator, ProfileCount::Follows, 1);
            touched.profile(&subject, ProfileCount::Followers, 1);
        }
        inserted.insert(uri);
    }
    Ok(())
}
