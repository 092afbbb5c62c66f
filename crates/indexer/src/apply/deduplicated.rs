//! Likes, reposts, follows and blocks: the typed tables where a creator's second record for the
//! same subject is a duplicate. It does not go in; it is recorded in `duplicate_record`,
//! pointing at the original, as the reference does (and promoted when the original goes, see
//! `paths`).
//!
//! Fresh rows ([`Fresh::Yes`]) go in with a plain insert after a probe of the deduplicating
//! constraint, which cannot race: the same creator is the same DID, whose lock the batch holds.
//! Two of them for the same subject in one round are told apart before the insert. Other rows
//! keep `ON CONFLICT DO NOTHING`. Either way the statement answers only the positions of the
//! rows that did not go in (few), not every row that did: reading back the URI and subject of
//! every like was a tenth of the write path's client CPU.
//!
//! Rows whose creator had nothing stored when the batch began ([`NewRepos`]) skip the probe:
//! no stored row of theirs can exist to duplicate. Each row carries that as `known`.
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
#[cfg(doc)]
use super::new_repos::NewRepos;
use super::touched::{PostCount, ProfileCount, Touched};
use crate::records::{FollowRow, LikeRow};

/// A row of a table where a creator's second row for the same subject is a duplicate.
trait Deduplicated {
    /// `(creator, subject)`: the deduplicating key.
    fn key(&self) -> (&str, &str);
    /// Its `duplicate_record` columns: uri, cid, creator, subject, `indexedAt`.
    fn duplicate_columns(&self) -> [&str; 5];
}

impl Deduplicated for LikeRow {
    fn key(&self) -> (&str, &str) {
        (&self.creator, &self.subject)
    }

    fn duplicate_columns(&self) -> [&str; 5] {
        [
            &self.uri,
            &self.cid,
            &self.creator,
            &self.subject,
            &self.indexed_at,
        ]
    }
}

impl Deduplicated for FollowRow {
    fn key(&self) -> (&str, &str) {
        (&self.creator, &self.subject_did)
    }

    fn duplicate_columns(&self) -> [&str; 5] {
        [
            &self.uri,
            &self.cid,
            &self.creator,
            &self.subject_did,
            &self.indexed_at,
        ]
    }
}

/// How fresh a round's rows are: [`Fresh`] for all of them, and the creators among them that
/// had nothing stored (whose rows need no probe).
#[derive(Clone, Copy)]
pub(super) struct Freshness<'a> {
    /// Whether the rows can be in their tables already.
    pub(super) fresh: Fresh,
    /// Creators with nothing stored when the batch began.
    pub(super) new_repos: &'a HashSet<&'a str>,
}

/// The rows to try inserting: all of them, or of fresh rows the first of each `(creator,
/// subject)` pair, in order. A fresh round may hold two likes (follows, …) of the same subject by
/// the same creator, and a plain insert of both would fail on the deduplicating constraint; the
/// later ones are left out, to be recorded as duplicates.
fn candidates<'a, T: Deduplicated>(rows: &[&'a T], fresh: Fresh) -> Vec<&'a T> {
    if fresh == Fresh::No {
        return rows.to_vec();
    }
    let mut seen = HashSet::new();
    rows.iter()
        .copied()
        .filter(|r| seen.insert(r.key()))
        .collect()
}

/// Records in `duplicate_record` (with `sql`, a [`duplicate_insert!`]) the rows that did not go
/// in.
async fn record_duplicates<T: Deduplicated>(
    conn: &mut PgConnection,
    sql: &'static str,
    rows: &[&T],
    went_in: &HashSet<&str>,
) -> Result<(), ApplyError> {
    let dups: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| r.duplicate_columns())
        .filter(|c| !went_in.contains(c[0]))
        .collect();
    let columns = (0..5)
        .map(|i| Column::Text(dups.iter().map(|c| c[i]).collect()))
        .collect();
    run(conn, sql, columns, "recording duplicates").await?;
    Ok(())
}

/// A statement that inserts rows `$rows` (with a position `i`) by `$insert` (reading them as
/// `t`) and answers the positions of those that did not go in: for fresh rows, the ones
/// `$probe` finds; for the others, the ones `ON CONFLICT DO NOTHING` skipped.
macro_rules! left_out {
    ($fresh:expr, $probe:expr, $rows:expr, $insert:expr) => {
        match $fresh {
            Fresh::Yes => concat!(
                "WITH t AS MATERIALIZED (SELECT t.*, ",
                $probe,
                " AS dup FROM (",
                $rows,
                ") AS t), ins AS (",
                $insert,
                " WHERE NOT dup) SELECT i FROM t WHERE dup"
            ),
            Fresh::No => concat!(
                "WITH t AS MATERIALIZED (",
                $rows,
                "), ins AS (",
                $insert,
                " ON CONFLICT DO NOTHING RETURNING uri) ",
                "SELECT i FROM t WHERE uri NOT IN (SELECT uri FROM ins)"
            ),
        }
    };
}

/// Like-shaped rows from `$1 … $10`, as `(uri, cid, creator, subject, …, known, i)`, `i` the
/// position from 1.
macro_rules! like_rows {
    () => {
        r#"SELECT unnest($1::text[]) AS uri, unnest($2::text[]) AS cid,
             unnest($3::text[]) AS creator, unnest($4::text[]) AS subject,
             unnest($5::text[]) AS sc, unnest($6::text[]) AS via, unnest($7::text[]) AS vc,
             unnest($8::text[]) AS ca, unnest($9::text[]) AS ia, unnest($10::bool[]) AS known,
             generate_series(1::int8, cardinality($1::text[])) AS i"#
    };
}

/// The insert of like-shaped rows into `$table`, answering the positions of the rows that did
/// not go in: fresh rows whose creator has one for the subject already are told by a probe, the
/// others by `ON CONFLICT DO NOTHING`.
macro_rules! like_sql {
    ($fresh:expr, $table:literal) => {
        left_out!(
            $fresh,
            concat!(
                "(t.known AND EXISTS (SELECT 1 FROM ",
                $table,
                " o WHERE o.creator = t.creator AND o.subject = t.subject OFFSET 0))"
            ),
            like_rows!(),
            concat!(
                "INSERT INTO ",
                $table,
                r#" (uri, cid, creator, subject, "subjectCid", via, "viaCid", "createdAt",
                   "indexedAt") SELECT uri, cid, creator, subject, sc, via, vc, ca, ia FROM t"#
            )
        )
    };
}

/// The statements of one deduplicated table.
struct Statements {
    /// Inserts rows, answering the positions of those left out (a [`left_out!`] statement).
    insert: &'static str,
    /// Records duplicates (a [`duplicate_insert!`] statement).
    duplicates: &'static str,
    /// What a failed insert was doing.
    step: &'static str,
}

/// Inserts the candidates among `rows` (their columns bound by `columns`), records every row
/// that did not go in as a duplicate; returns the rows that went in.
async fn insert_deduplicated<'a, T: Deduplicated>(
    conn: &mut PgConnection,
    rows: &[&'a T],
    freshness: Freshness<'_>,
    statements: Statements,
    columns: impl Fn(&[&'a T]) -> Vec<Column<'a>>,
) -> Result<Vec<&'a T>, ApplyError> {
    let candidates = candidates(rows, freshness.fresh);
    let mut bound = columns(&candidates);
    bound.push(Column::Flag(
        candidates
            .iter()
            .map(|r| !freshness.new_repos.contains(r.key().0))
            .collect(),
    ));
    let left_out: Vec<(i64,)> = bind(statements.insert, bound)
        .fetch_all(&mut *conn)
        .await
        .step(statements.step)?;
    // Positions count from 1.
    let left_out: HashSet<usize> = left_out
        .into_iter()
        .filter_map(|(i,)| usize::try_from(i - 1).ok())
        .collect();
    let went_in: Vec<&T> = candidates
        .iter()
        .enumerate()
        .filter(|(n, _)| !left_out.contains(n))
        .map(|(_, row)| *row)
        .collect();
    let uris: HashSet<&str> = went_in.iter().map(|r| r.duplicate_columns()[0]).collect();
    record_duplicates(conn, statements.duplicates, rows, &uris).await?;
    Ok(went_in)
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
    freshness: Freshness<'_>,
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statements = if repost {
        Statements {
            insert: like_sql!(freshness.fresh, "repost"),
            duplicates: duplicate_insert!("repost", "subject"),
            step: "inserting repost rows",
        }
    } else {
        Statements {
            insert: like_sql!(freshness.fresh, "\"like\""),
            duplicates: duplicate_insert!("\"like\"", "subject"),
            step: "inserting like rows",
        }
    };
    let done = insert_deduplicated(conn, rows, freshness, statements, |rows| {
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.subject),
            col(rows, |r| &r.subject_cid),
            ocol(rows, |r| r.via.as_deref()),
            ocol(rows, |r| r.via_cid.as_deref()),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ]
    })
    .await?;
    let count = if repost {
        PostCount::Repost
    } else {
        PostCount::Like
    };
    for row in done {
        touched.post(Some(&row.subject), count, 1);
        inserted.insert(row.uri.clone());
    }
    Ok(())
}

/// Follow-shaped rows from `$1 … $7`, as `(uri, cid, creator, subject, …, known, i)`, `i` the
/// position from 1.
macro_rules! follow_rows {
    () => {
        r#"SELECT unnest($1::text[]) AS uri, unnest($2::text[]) AS cid,
             unnest($3::text[]) AS creator, unnest($4::text[]) AS subject,
             unnest($5::text[]) AS ca, unnest($6::text[]) AS ia, unnest($7::bool[]) AS known,
             generate_series(1::int8, cardinality($1::text[])) AS i"#
    };
}

/// The insert of follow-shaped rows into `$table`, as [`like_sql!`] does it.
macro_rules! follow_sql {
    ($fresh:expr, $table:literal) => {
        left_out!(
            $fresh,
            concat!(
                "(t.known AND EXISTS (SELECT 1 FROM ",
                $table,
                r#" o WHERE o.creator = t.creator AND o."subjectDid" = t.subject OFFSET 0))"#
            ),
            follow_rows!(),
            concat!(
                "INSERT INTO ",
                $table,
                r#" (uri, cid, creator, "subjectDid", "createdAt", "indexedAt")
                   SELECT uri, cid, creator, subject, ca, ia FROM t"#
            )
        )
    };
}

/// Follows (or blocks, which have the same columns).
pub(super) async fn follows(
    conn: &mut PgConnection,
    rows: &[&FollowRow],
    block: bool,
    freshness: Freshness<'_>,
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let statements = if block {
        Statements {
            insert: follow_sql!(freshness.fresh, "actor_block"),
            duplicates: duplicate_insert!("actor_block", "\"subjectDid\""),
            step: "inserting actor_block rows",
        }
    } else {
        Statements {
            insert: follow_sql!(freshness.fresh, "follow"),
            duplicates: duplicate_insert!("follow", "\"subjectDid\""),
            step: "inserting follow rows",
        }
    };
    let done = insert_deduplicated(conn, rows, freshness, statements, |rows| {
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.subject_did),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ]
    })
    .await?;
    for row in done {
        if !block {
            touched.profile(&row.creator, ProfileCount::Follows, 1);
            touched.profile(&row.subject_did, ProfileCount::Followers, 1);
        }
        inserted.insert(row.uri.clone());
    }
    Ok(())
}
