//! Record writes and deletes of one round: the rev guard, `record` rows, tombstones, typed rows,
//! duplicates and their promotion, and notifications.
//!
//! The guard is decided in Rust from the stored state read at the start of the round; that read
//! cannot go stale, because the batch holds its DIDs' advisory locks (every writer of a DID's
//! rows takes them first) and a round holds each path once. The same read says which writes are
//! fresh (no `record` row yet): their rows go in with plain inserts ([`insert`]).

use std::collections::{HashMap, HashSet};

use sqlx::PgConnection;
use streams::payloads::{RecordDelete, RecordWrite, StreamEvent, is_relay_seq};

use super::bulk::{Column, run};
use super::error::{ApplyError, Step};
use super::guard::{self, Skip, Stored};
use super::insert::{self, Fresh};
use super::new_repos::NewRepos;
use super::remove::{collection_of, remove};
use super::touched::Touched;
use super::{Effect, indexed_at, notify};
use crate::records::{Rows, Source, json_without_nul, map_record};

/// Collections whose second record for the same subject is a duplicate.
const DEDUPLICATED: [&str; 4] = [
    "app.bsky.feed.like",
    "app.bsky.feed.repost",
    "app.bsky.graph.follow",
    "app.bsky.graph.block",
];

/// A write or delete of the round, with its index in the batch.
pub(crate) enum PathOp<'a> {
    /// A create or update.
    Write(usize, &'a RecordWrite),
    /// A delete.
    Delete(usize, &'a RecordDelete),
}

impl PathOp<'_> {
    /// The op for a batch change, if it is a record event.
    pub(crate) fn of(i: usize, event: &StreamEvent) -> Option<PathOp<'_>> {
        match event {
            StreamEvent::Create(w) | StreamEvent::Update(w) => Some(PathOp::Write(i, w)),
            StreamEvent::Delete(d) => Some(PathOp::Delete(i, d)),
            _ => None,
        }
    }

    fn uri(&self) -> String {
        let (did, collection, rkey) = match self {
            PathOp::Write(_, w) => (&w.did, &w.collection, &w.rkey),
            PathOp::Delete(_, d) => (&d.did, &d.collection, &d.rkey),
        };
        format!("at://{did}/{collection}/{rkey}")
    }

    /// The DID whose repo the op writes.
    pub(crate) fn did(&self) -> &str {
        match self {
            PathOp::Write(_, w) => &w.did,
            PathOp::Delete(_, d) => &d.did,
        }
    }
}

/// A create or update the round applies.
struct Write<'a> {
    /// Its index in the batch.
    index: usize,
    /// The record's URI.
    uri: String,
    /// The event.
    event: &'a RecordWrite,
    /// Its canonical time: `indexedAt` of its rows.
    indexed_at: String,
    /// [`Fresh::Yes`] when the path had no `record` row (so none of its rows can exist),
    /// [`Fresh::No`] when it replaces a stored version.
    fresh: Fresh,
}

/// Applies the record ops of one round, filling in their outcomes.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    ops: &[PathOp<'_>],
    new_repos: &mut NewRepos,
    outcomes: &mut [Effect],
    touched: &mut Touched,
) -> Result<(), ApplyError> {
    if ops.is_empty() {
        return Ok(());
    }
    let uris: Vec<String> = ops.iter().map(PathOp::uri).collect();
    let dids: Vec<&str> = ops.iter().map(PathOp::did).collect();
    // Paths of new repos have nothing stored: only the others are read.
    let new: HashSet<&str> = dids
        .iter()
        .copied()
        .filter(|did| new_repos.contains(did))
        .collect();
    let (stored, dead) = read_stored(conn, &uris, &dids, &new).await?;
    new_repos.written(new.iter().copied());

    // Decide each op; collect what to remove, delete and write.
    let mut to_remove: Vec<String> = Vec::new();
    let mut deleted: Vec<(String, &RecordDelete)> = Vec::new();
    let mut writes: Vec<Write<'_>> = Vec::new();
    let mut revived: Vec<String> = Vec::new();
    let nothing = Stored::default();
    for (n, (op, uri)) in ops.iter().zip(uris).enumerate() {
        let stored = stored.get(&n).unwrap_or(&nothing);
        let (i, outcome) = match op {
            PathOp::Write(i, w) => {
                touched_commit(touched, w.seq, &w.did, &w.rev, &w.commit);
                let outcome = guard::write(stored, &w.rev, &w.cid).map(|plan| {
                    if plan.replaces {
                        to_remove.push(uri.clone());
                    }
                    if plan.revives {
                        revived.push(uri.clone());
                    }
                    writes.push(Write {
                        index: *i,
                        uri,
                        event: w,
                        indexed_at: indexed_at(&w.time),
                        fresh: if plan.replaces { Fresh::No } else { Fresh::Yes },
                    });
                });
                (*i, outcome)
            }
            PathOp::Delete(i, d) => {
                touched_commit(touched, d.seq, &d.did, &d.rev, &d.commit);
                let outcome = guard::delete(stored, &d.rev).map(|plan| {
                    if plan.removes {
                        to_remove.push(uri.clone());
                    }
                    deleted.push((uri, d));
                });
                (*i, outcome)
            }
        };
        let outcome = match outcome {
            Ok(()) => Effect::Applied,
            Err(Skip::Stale) => Effect::Stale,
            Err(Skip::Unchanged) => Effect::Unchanged,
        };
        set(outcomes, i, outcome);
    }
    for op in ops {
        let (did, time) = match op {
            PathOp::Write(_, w) => (&w.did, &w.time),
            PathOp::Delete(_, d) => (&d.did, &d.time),
        };
        if !dead.contains(did.as_str()) {
            touched.actor(did, time);
        }
    }

    remove(conn, &to_remove, touched).await?;
    let promoted = apply_deletes(conn, &deleted).await?;
    write_records(conn, &writes, &revived).await?;

    // Map and insert typed rows: the writes, then the promoted duplicates.
    let mut mapped: Vec<Mapped> = Vec::new();
    for write in &writes {
        let w = write.event;
        let source = Source {
            did: &w.did,
            collection: &w.collection,
            rkey: &w.rkey,
            cid: &w.cid,
            indexed_at: &write.indexed_at,
        };
        match map_record(&source, &w.record) {
            Ok(rows) => mapped.push(Mapped {
                rows,
                live: is_relay_seq(w.seq),
                fresh: write.fresh,
            }),
            Err(invalid) => {
                metrics::counter!("indexer_invalid_records_total", "reason" => invalid.reason.as_str())
                    .increment(1);
                tracing::debug!(uri = write.uri, %invalid, "record stored without typed rows");
                set(outcomes, write.index, Effect::Invalid(invalid));
            }
        }
    }
    // A promoted duplicate's record row was there all along: not fresh.
    mapped.extend(promoted.into_iter().map(|rows| Mapped {
        rows,
        live: false,
        fresh: Fresh::No,
    }));
    let mut inserted = HashSet::new();
    for fresh in [Fresh::Yes, Fresh::No] {
        let rows: Vec<&Rows> = mapped
            .iter()
            .filter(|m| m.fresh == fresh)
            .map(|m| &m.rows)
            .collect();
        if !rows.is_empty() {
            inserted.extend(insert::insert(conn, &rows, fresh, &new, touched).await?);
        }
    }
    let notifying: Vec<&Mapped> = mapped
        .iter()
        .filter(|m| m.live && uri_of(&m.rows).is_some_and(|u| inserted.contains(u)))
        .collect();
    let replies: Vec<(String, String)> = notifying
        .iter()
        .filter_map(|m| match &m.rows {
            Rows::Post(p) => Some((p.post.uri.clone(), p.post.reply_parent.clone()?)),
            _ => None,
        })
        .collect();
    let ancestors = notify::ancestors(conn, &replies).await?;
    for fresh in [Fresh::Yes, Fresh::No] {
        let notifs: Vec<notify::Notif> = notifying
            .iter()
            .filter(|m| m.fresh == fresh)
            .flat_map(|m| {
                let above = uri_of(&m.rows)
                    .and_then(|u| ancestors.get(u))
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                notify::for_insert(&m.rows, above)
            })
            .collect();
        notify::insert(conn, &notifs, fresh).await?;
    }
    Ok(())
}

/// A write's typed rows, ready to insert.
struct Mapped {
    /// The rows.
    rows: Rows,
    /// From a live event: it notifies.
    live: bool,
    /// Whether the rows can be there already (see [`insert`]).
    fresh: Fresh,
}

fn set(outcomes: &mut [Effect], i: usize, outcome: Effect) {
    if let Some(slot) = outcomes.get_mut(i) {
        *slot = outcome;
    }
}

/// Live commits move `actor_sync` forward; backfill events do not (the `repo` event does).
fn touched_commit(touched: &mut Touched, seq: i64, did: &str, rev: &str, commit: &str) {
    if is_relay_seq(seq) {
        touched.commit(did, rev, commit);
    }
}

/// The main row's URI of mapped rows.
fn uri_of(rows: &Rows) -> Option<&str> {
    Some(match rows {
        Rows::Post(p) => &p.post.uri,
        Rows::Like(l) => &l.uri,
        Rows::Repost(r) => &r.repost.uri,
        Rows::Follow(f) | Rows::Block(f) => &f.uri,
        _ => return None,
    })
}

/// One path's stored state: its index in the round, `record.rev`, `record.cid`, tombstone rev,
/// account deleted.
type StoredRow = (i64, Option<String>, Option<String>, Option<String>, bool);

/// What is stored for each path (by its index in `uris`, only paths with something stored),
/// and which of the DIDs are deleted accounts: one round trip, for the paths whose DID is not
/// in `new` (a repo with nothing stored).
async fn read_stored<'a>(
    conn: &mut PgConnection,
    uris: &[String],
    dids: &[&'a str],
    new: &HashSet<&str>,
) -> Result<(HashMap<usize, Stored>, HashSet<&'a str>), ApplyError> {
    // Positions in `uris` of the paths read.
    let read: Vec<usize> = (0..uris.len())
        .filter(|&n| dids.get(n).is_some_and(|did| !new.contains(did)))
        .collect();
    if read.is_empty() {
        return Ok((HashMap::new(), HashSet::new()));
    }
    let uris: Vec<&str> = read
        .iter()
        .filter_map(|&n| uris.get(n).map(String::as_str))
        .collect();
    let read_dids: Vec<&str> = read.iter().filter_map(|&n| dids.get(n).copied()).collect();
    let rows: Vec<StoredRow> = sqlx::query_as(
        // One index probe per path, whatever the planner thinks of the tables' sizes:
        // `OFFSET 0` keeps each lookup a parameterised subquery (see `deduplicated`). Fresh
        // paths, the common case, return nothing.
        r#"SELECT x.i, r.rev, r.cid, t.rev, a.did IS NOT NULL
               FROM (SELECT unnest($1::text[]) AS uri, unnest($2::text[]) AS did,
                 generate_series(1::int8, cardinality($1::text[])) AS i) AS x
               LEFT JOIN LATERAL (SELECT rev, cid FROM record WHERE uri = x.uri OFFSET 0) r
                 ON true
               LEFT JOIN LATERAL (SELECT rev FROM record_tombstone WHERE uri = x.uri OFFSET 0) t
                 ON true
               LEFT JOIN LATERAL (SELECT did FROM actor_tombstone WHERE did = x.did OFFSET 0) a
                 ON true
               WHERE r.rev IS NOT NULL OR t.rev IS NOT NULL OR a.did IS NOT NULL"#,
    )
    .bind(&uris)
    .bind(&read_dids)
    .fetch_all(&mut *conn)
    .await
    .step("reading record revs and tombstones")?;
    let mut stored: HashMap<usize, Stored> = HashMap::new();
    let mut dead = HashSet::new();
    for (i, rev, cid, tombstone, is_dead) in rows {
        // `generate_series` counts from 1; back to positions in the caller's `uris`.
        let Some(&i) = usize::try_from(i - 1).ok().and_then(|i| read.get(i)) else {
            continue;
        };
        if is_dead && let Some(did) = dids.get(i) {
            dead.insert(*did);
        }
        // Every returned row has something stored (the query's WHERE).
        let record = rev.zip(cid);
        stored.insert(
            i,
            Stored {
                record,
                tombstone,
                account_deleted: is_dead,
            },
        );
    }
    Ok((stored, dead))
}

/// Deletes `record` rows, raises tombstones, drops notifications, and promotes the oldest
/// duplicate of each deleted original; returns the promoted records' rows.
async fn apply_deletes(
    conn: &mut PgConnection,
    deleted: &[(String, &RecordDelete)],
) -> Result<Vec<Rows>, ApplyError> {
    if deleted.is_empty() {
        return Ok(Vec::new());
    }
    let uris: Vec<String> = deleted.iter().map(|(u, _)| u.clone()).collect();
    sqlx::query("DELETE FROM record WHERE uri = ANY($1)")
        .bind(&uris)
        .execute(&mut *conn)
        .await
        .step("deleting record rows")?;
    sqlx::query(
        r#"INSERT INTO record_tombstone (uri, did, rev, "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[])
           ON CONFLICT (uri) DO UPDATE SET rev = excluded.rev, "indexedAt" = excluded."indexedAt"
           WHERE record_tombstone.rev < excluded.rev"#,
    )
    .bind(&uris)
    .bind(
        deleted
            .iter()
            .map(|(_, d)| d.did.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        deleted
            .iter()
            .map(|(_, d)| d.rev.clone())
            .collect::<Vec<_>>(),
    )
    .bind(
        deleted
            .iter()
            .map(|(_, d)| indexed_at(&d.time))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *conn)
    .await
    .step("writing tombstones")?;
    notify::delete(conn, &uris).await?;

    let originals: Vec<String> = uris
        .iter()
        .filter(|u| collection_of(u).is_some_and(|c| DEDUPLICATED.contains(&c)))
        .cloned()
        .collect();
    if originals.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: Vec<(String, String, String, String, String)> = sqlx::query_as(
        r#"SELECT DISTINCT ON (d."duplicateOf") d."duplicateOf", d.uri, r.cid, r.json,
             r."indexedAt"
           FROM duplicate_record d JOIN record r ON r.uri = d.uri
           WHERE d."duplicateOf" = ANY($1)
           ORDER BY d."duplicateOf", d."indexedAt", d.uri"#,
    )
    .bind(&originals)
    .fetch_all(&mut *conn)
    .await
    .step("finding duplicates to promote")?;
    let mut promoted = Vec::new();
    let mut old = Vec::new();
    let mut new = Vec::new();
    for (original, uri, cid, json, at) in candidates {
        let Some(rows) = promoted_rows(&uri, &cid, &json, &at) else {
            continue;
        };
        promoted.push(rows);
        old.push(original);
        new.push(uri);
    }
    if !new.is_empty() {
        sqlx::query("DELETE FROM duplicate_record WHERE uri = ANY($1)")
            .bind(&new)
            .execute(&mut *conn)
            .await
            .step("promoting duplicates")?;
        // The remaining duplicates now duplicate the promoted record.
        sqlx::query(
            r#"UPDATE duplicate_record d SET "duplicateOf" = p.new
               FROM (SELECT unnest($1::text[]) AS old, unnest($2::text[]) AS new) AS p
               WHERE d."duplicateOf" = p.old"#,
        )
        .bind(&old)
        .bind(&new)
        .execute(&mut *conn)
        .await
        .step("re-pointing duplicates")?;
    }
    Ok(promoted)
}

/// The typed rows of a stored duplicate, or `None` if its stored JSON no longer maps.
fn promoted_rows(uri: &str, cid: &str, json: &str, indexed_at: &str) -> Option<Rows> {
    let mut parts = uri.strip_prefix("at://")?.splitn(3, '/');
    let (did, collection, rkey) = (parts.next()?, parts.next()?, parts.next()?);
    let record: serde_json::Value = serde_json::from_str(json).ok()?;
    let source = Source {
        did,
        collection,
        rkey,
        cid,
        indexed_at,
    };
    map_record(&source, &record).ok()
}

/// Writes the `record` rows of applied writes (fresh paths with a plain insert, replaced
/// versions over the stored row) and drops the tombstones of `revived` paths.
async fn write_records(
    conn: &mut PgConnection,
    writes: &[Write<'_>],
    revived: &[String],
) -> Result<(), ApplyError> {
    macro_rules! insert {
        () => {
            r#"INSERT INTO record (uri, cid, did, json, "indexedAt", rev)
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[]), unnest($5::text[]), unnest($6::text[])"#
        };
    }
    for fresh in [Fresh::Yes, Fresh::No] {
        let writes: Vec<&Write<'_>> = writes.iter().filter(|w| w.fresh == fresh).collect();
        if writes.is_empty() {
            continue;
        }
        let json: Vec<String> = writes
            .iter()
            .map(|w| json_without_nul(&w.event.record))
            .collect();
        let column = |f: for<'b> fn(&'b Write<'b>) -> &'b str| {
            Column::Text(writes.iter().map(|w| f(w)).collect())
        };
        let sql = match fresh {
            Fresh::Yes => insert!(),
            Fresh::No => concat!(
                insert!(),
                r#" ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid, json = excluded.json,
                      "indexedAt" = excluded."indexedAt", rev = excluded.rev"#
            ),
        };
        let columns = vec![
            column(|w| &w.uri),
            column(|w| &w.event.cid),
            column(|w| &w.event.did),
            Column::Text(json.iter().map(String::as_str).collect()),
            column(|w| &w.indexed_at),
            column(|w| &w.event.rev),
        ];
        run(conn, sql, columns, "writing record rows").await?;
    }
    if !revived.is_empty() {
        sqlx::query("DELETE FROM record_tombstone WHERE uri = ANY($1)")
            .bind(revived)
            .execute(&mut *conn)
            .await
            .step("dropping superseded tombstones")?;
    }
    Ok(())
}
