//! Events about a DID rather than a record: `account` (status, deletion), verified handles,
//! `sync` and `repo` commit markers, and the `actor` / `actor_sync` rows every batch settles.

use std::collections::HashSet;

use sqlx::PgConnection;
use streams::payloads::{AccountEvent, CommitMarker};

use super::error::{ApplyError, Step};
use super::remove::remove;
use super::touched::Touched;
use super::{Effect, HandleChange, indexed_at};

/// The statuses the reference records in `actor.upstreamStatus`.
const UPSTREAM_STATUSES: [&str; 3] = ["deactivated", "suspended", "takendown"];

async fn is_dead(conn: &mut PgConnection, did: &str) -> Result<bool, ApplyError> {
    let found: Option<(String,)> = sqlx::query_as("SELECT did FROM actor_tombstone WHERE did = $1")
        .bind(did)
        .fetch_optional(&mut *conn)
        .await
        .step("reading account tombstone")?;
    Ok(found.is_some())
}

/// Applies an `account` event.
pub(crate) async fn account(
    conn: &mut PgConnection,
    e: &AccountEvent,
    touched: &mut Touched,
) -> Result<Effect, ApplyError> {
    let time = indexed_at(&e.time);
    if e.active {
        sqlx::query("DELETE FROM actor_tombstone WHERE did = $1")
            .bind(&e.did)
            .execute(&mut *conn)
            .await
            .step("clearing account tombstone")?;
        sqlx::query(
            r#"INSERT INTO actor (did, "indexedAt") VALUES ($1, $2)
               ON CONFLICT (did) DO UPDATE SET "upstreamStatus" = NULL"#,
        )
        .bind(&e.did)
        .bind(&time)
        .execute(&mut *conn)
        .await
        .step("clearing upstream status")?;
        return Ok(Effect::Applied);
    }
    match e.status.as_deref() {
        Some("deleted") => {
            delete_account(conn, &e.did, &time, touched).await?;
            Ok(Effect::Applied)
        }
        Some(status) if UPSTREAM_STATUSES.contains(&status) => {
            if is_dead(conn, &e.did).await? {
                return Ok(Effect::Stale);
            }
            sqlx::query(
                r#"INSERT INTO actor (did, "indexedAt", "upstreamStatus") VALUES ($1, $2, $3)
                   ON CONFLICT (did) DO UPDATE SET "upstreamStatus" = excluded."upstreamStatus""#,
            )
            .bind(&e.did)
            .bind(&time)
            .bind(status)
            .execute(&mut *conn)
            .await
            .step("setting upstream status")?;
            Ok(Effect::Applied)
        }
        // Other statuses (`desynchronized`, `throttled`, none) say nothing the schema records.
        _ => {
            touched.actor(&e.did, &e.time);
            Ok(Effect::Applied)
        }
    }
}

/// Removes every row `did` authored, and remembers the deletion.
async fn delete_account(
    conn: &mut PgConnection,
    did: &str,
    time: &str,
    touched: &mut Touched,
) -> Result<(), ApplyError> {
    let uris: Vec<String> = sqlx::query_as::<_, (String,)>("SELECT uri FROM record WHERE did = $1")
        .bind(did)
        .fetch_all(&mut *conn)
        .await
        .step("listing the account's records")?
        .into_iter()
        .map(|(u,)| u)
        .collect();
    // Removing the rows through `remove` counts them out of every aggregate they were in.
    remove(conn, &uris, touched).await?;
    for (sql, step) in [
        (
            "DELETE FROM record WHERE did = $1",
            "deleting the account's records",
        ),
        (
            "DELETE FROM record_tombstone WHERE did = $1",
            "deleting the account's tombstones",
        ),
        (
            "DELETE FROM notification WHERE author = $1 OR did = $1",
            "deleting the account's notifications",
        ),
        (
            "DELETE FROM actor_sync WHERE did = $1",
            "deleting the account's sync state",
        ),
        ("DELETE FROM actor WHERE did = $1", "deleting the actor"),
    ] {
        sqlx::query(sql)
            .bind(did)
            .execute(&mut *conn)
            .await
            .step(step)?;
    }
    sqlx::query(
        r#"INSERT INTO actor_tombstone (did, "deletedAt") VALUES ($1, $2)
           ON CONFLICT (did) DO NOTHING"#,
    )
    .bind(did)
    .bind(time)
    .execute(&mut *conn)
    .await
    .step("writing account tombstone")?;
    Ok(())
}

/// Applies a verified handle: the column is unique, so a previous holder loses it.
pub(crate) async fn handle(
    conn: &mut PgConnection,
    h: &HandleChange,
) -> Result<Effect, ApplyError> {
    if is_dead(conn, &h.did).await? {
        return Ok(Effect::Stale);
    }
    let handle = h
        .handle
        .as_ref()
        .map(|s| s.replace('\0', "").to_lowercase());
    if let Some(handle) = &handle {
        sqlx::query("UPDATE actor SET handle = NULL WHERE handle = $1 AND did <> $2")
            .bind(handle)
            .bind(&h.did)
            .execute(&mut *conn)
            .await
            .step("clearing a taken-over handle")?;
    }
    sqlx::query(
        r#"INSERT INTO actor (did, handle, "indexedAt") VALUES ($1, $2, $3)
           ON CONFLICT (did) DO UPDATE SET handle = excluded.handle,
             "indexedAt" = excluded."indexedAt""#,
    )
    .bind(&h.did)
    .bind(&handle)
    .bind(indexed_at(&h.time))
    .execute(&mut *conn)
    .await
    .step("writing handle")?;
    Ok(Effect::Applied)
}

/// A `sync` event: records the commit; the repo needs a fresh backfill unless what was indexed
/// is already newer.
pub(crate) async fn sync(
    conn: &mut PgConnection,
    m: &CommitMarker,
    touched: &mut Touched,
) -> Result<Effect, ApplyError> {
    if is_dead(conn, &m.did).await? {
        return Ok(Effect::Stale);
    }
    let indexed: Option<(Option<String>,)> =
        sqlx::query_as(r#"SELECT "repoRev" FROM actor_sync WHERE did = $1"#)
            .bind(&m.did)
            .fetch_optional(&mut *conn)
            .await
            .step("reading actor_sync")?;
    // Equal counts too: a redelivered sync (after its resync request failed) asks again.
    let newer = match indexed.and_then(|(rev,)| rev) {
        Some(rev) => m.rev >= rev,
        None => true,
    };
    touched.actor(&m.did, &m.time);
    touched.commit(&m.did, &m.rev, &m.commit);
    Ok(if newer {
        Effect::NeedsResync
    } else {
        Effect::Unchanged
    })
}

/// A `repo` event: the backfill of the repo reached this commit.
pub(crate) fn repo(m: &CommitMarker, touched: &mut Touched) -> Effect {
    touched.actor(&m.did, &m.time);
    touched.commit(&m.did, &m.rev, &m.commit);
    Effect::Applied
}

/// Writes the `actor_sync` commits and `actor` rows the batch saw (never for deleted accounts).
pub(crate) async fn settle(conn: &mut PgConnection, touched: &Touched) -> Result<(), ApplyError> {
    let unmoved = move_syncs(conn, touched).await?;
    // A DID whose `actor_sync` row was just moved has its `actor` row: the two are inserted
    // together (both here, in one transaction, both refused for a tombstoned DID) and deleted
    // together (`delete_account`, under the DID's lock). Only the others need the probe; on a
    // live stream that is nearly none.
    let actors: Vec<(&str, String)> = touched
        .actors
        .iter()
        .filter(|(did, _)| !touched.syncs.contains_key(*did) || unmoved.contains(did.as_str()))
        .map(|(did, time)| (did.as_str(), indexed_at(time)))
        .collect();
    if actors.is_empty() {
        return Ok(());
    }
    // The probe drops DIDs with a row before they reach `ON CONFLICT`, whose speculative insert
    // costs more per row (and stays for races). `OFFSET 0`: one index probe per DID, never a
    // scan (see `deduplicated`).
    sqlx::query(
        r#"INSERT INTO actor (did, "indexedAt")
           SELECT d, t FROM (SELECT unnest($1::text[]) AS d, unnest($2::text[]) AS t) AS x
           WHERE NOT EXISTS (SELECT 1 FROM actor a WHERE a.did = x.d OFFSET 0)
             AND NOT EXISTS (SELECT 1 FROM actor_tombstone a WHERE a.did = x.d OFFSET 0)
           ORDER BY d
           ON CONFLICT (did) DO NOTHING"#,
    )
    .bind(actors.iter().map(|(did, _)| *did).collect::<Vec<_>>())
    .bind(actors.iter().map(|(_, t)| t.as_str()).collect::<Vec<_>>())
    .execute(&mut *conn)
    .await
    .step("writing actor rows")?;
    Ok(())
}

/// Moves `actor_sync` forward to the batch's commits (inserting rows for DIDs without one);
/// returns the DIDs whose row was not moved (new, tombstoned, or already at that commit).
async fn move_syncs(
    conn: &mut PgConnection,
    touched: &Touched,
) -> Result<HashSet<String>, ApplyError> {
    if touched.syncs.is_empty() {
        return Ok(HashSet::new());
    }
    // Nearly every DID has its row (a live commit moves it): a plain `UPDATE` skips the row
    // lock `ON CONFLICT DO UPDATE` takes (and logs) before updating. `did = ANY($1)` keeps the
    // rows found by the primary key whatever the statistics say (a plan cached while the table
    // was empty would otherwise scan it); the batch's DID locks keep other writers off these
    // rows. Only DIDs without a row are inserted; the ones just moved need no probe to tell.
    let (revs, cids): (Vec<&str>, Vec<&str>) = touched
        .syncs
        .values()
        .map(|(rev, cid)| (rev.as_str(), cid.as_str()))
        .unzip();
    let unmoved: Vec<String> = sqlx::query_scalar(
        r#"WITH x AS (SELECT unnest($1::text[]) AS d, unnest($2::text[]) AS c,
             unnest($3::text[]) AS r),
           moved AS (
             UPDATE actor_sync s SET "commitCid" = x.c, "repoRev" = x.r FROM x
             WHERE s.did = ANY($1) AND s.did = x.d
               AND (s."repoRev" IS NULL OR s."repoRev" < x.r)
             RETURNING s.did),
           unmoved AS MATERIALIZED (SELECT d, c, r FROM x WHERE d NOT IN (SELECT did FROM moved)),
           added AS (
             INSERT INTO actor_sync (did, "commitCid", "repoRev")
             SELECT d, c, r FROM unmoved u
             WHERE NOT EXISTS (SELECT 1 FROM actor_sync s WHERE s.did = u.d OFFSET 0)
               AND NOT EXISTS (SELECT 1 FROM actor_tombstone a WHERE a.did = u.d OFFSET 0)
             ORDER BY d
             ON CONFLICT (did) DO NOTHING)
           SELECT d FROM unmoved"#,
    )
    .bind(touched.syncs.keys().map(String::as_str).collect::<Vec<_>>())
    .bind(cids)
    .bind(revs)
    .fetch_all(&mut *conn)
    .await
    .step("moving actor_sync forward")?;
    Ok(unmoved.into_iter().collect())
}
