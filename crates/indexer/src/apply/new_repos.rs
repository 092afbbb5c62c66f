//! Repos with nothing stored yet: most of a backfill, whose checks can mostly be skipped.
//!
//! A DID with no `record` row, no record tombstone and no account tombstone when its batch has
//! taken its lock has nothing a write of it could be older than, replace, or duplicate: each of
//! its paths is fresh without reading it, and none of its likes, reposts, follows or blocks can
//! duplicate a stored one (the creator of each is the DID). One probe per DID replaces a probe
//! per path and one per deduplicated row: for a repo's snapshot, hundreds of index lookups.
//!
//! It holds only until the DID's first round is written: after that its rows exist, so later
//! rounds of the batch read and probe as for any other DID ([`NewRepos::written`]).

use std::collections::HashSet;

use sqlx::PgConnection;

use super::error::{ApplyError, Step};

/// The DIDs of a batch that have nothing stored (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct NewRepos(HashSet<String>);

impl NewRepos {
    /// Which of `dids` have nothing stored. The caller holds their locks, so the answer
    /// cannot go stale before it writes them.
    pub(crate) async fn read(conn: &mut PgConnection, dids: &[&str]) -> Result<Self, ApplyError> {
        if dids.is_empty() {
            return Ok(Self::default());
        }
        // `OFFSET 0` keeps each probe a parameterised index lookup (see `deduplicated`).
        let new: Vec<String> = sqlx::query_scalar(
            r#"SELECT d FROM unnest($1::text[]) AS d
               WHERE NOT EXISTS (SELECT 1 FROM record WHERE did = d OFFSET 0)
                 AND NOT EXISTS (SELECT 1 FROM record_tombstone WHERE did = d OFFSET 0)
                 AND NOT EXISTS (SELECT 1 FROM actor_tombstone WHERE did = d OFFSET 0)"#,
        )
        .bind(dids)
        .fetch_all(&mut *conn)
        .await
        .step("finding repos with nothing stored")?;
        Ok(Self(new.into_iter().collect()))
    }

    /// Whether `did` has nothing stored.
    pub(crate) fn contains(&self, did: &str) -> bool {
        self.0.contains(did)
    }

    /// `dids` were written to (rows or tombstones): they are not new any more.
    pub(crate) fn written<'a>(&mut self, dids: impl IntoIterator<Item = &'a str>) {
        for did in dids {
            self.0.remove(did);
        }
    }
}
