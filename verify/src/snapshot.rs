//! One reading of the whole pipeline (Redis and PostgreSQL) and the rates between two readings.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::Result;
use redis::aio::MultiplexedConnection;
use serde::Serialize;
use sqlx::PgPool;

use crate::db_probe::{self, CountMode, DbState};
use crate::redis_probe::{self, RedisState};

/// Everything verify reads at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// When the reading started.
    pub at: Instant,
    /// The Redis side.
    pub redis: RedisState,
    /// The PostgreSQL side, when a database was given.
    pub db: Option<DbState>,
}

impl Snapshot {
    /// Reads Redis, then PostgreSQL when `pool` is given.
    pub async fn take(
        redis: &mut MultiplexedConnection,
        pool: Option<&PgPool>,
        mode: CountMode,
    ) -> Result<Snapshot> {
        let at = Instant::now();
        let redis = redis_probe::probe(redis).await?;
        let db = match pool {
            Some(pool) => Some(db_probe::probe(pool, mode).await?),
            None => None,
        };
        Ok(Snapshot { at, redis, db })
    }

    /// A stream's state by name.
    pub fn stream(&self, name: &str) -> Option<&redis_probe::StreamState> {
        self.redis.streams.iter().find(|s| s.name == name)
    }
}

/// Per-second rates between two snapshots.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rates {
    /// Seconds between the two readings.
    pub window_secs: f64,
    /// Entries added per second, per stream.
    pub stream_growth: BTreeMap<String, f64>,
    /// Change of length per second, per stream (negative while draining).
    pub stream_length_change: BTreeMap<String, f64>,
    /// Entries read per second, per `stream/group`.
    pub group_read: BTreeMap<String, f64>,
    /// Rows per second, per table.
    pub table_growth: BTreeMap<String, f64>,
}

impl Rates {
    /// The rates from `before` to `after`.
    pub fn between(before: &Snapshot, after: &Snapshot) -> Rates {
        let secs = after.at.duration_since(before.at).as_secs_f64().max(1e-3);
        let per_sec = |a: f64, b: f64| (b - a) / secs;
        let mut rates = Rates {
            window_secs: secs,
            ..Rates::default()
        };
        for stream in &after.redis.streams {
            let Some(old) = before.stream(&stream.name) else {
                continue;
            };
            rates.stream_growth.insert(
                stream.name.clone(),
                per_sec(old.entries_added as f64, stream.entries_added as f64),
            );
            rates.stream_length_change.insert(
                stream.name.clone(),
                per_sec(old.length as f64, stream.length as f64),
            );
            for group in &stream.groups {
                let old_read = old
                    .groups
                    .iter()
                    .find(|g| g.name == group.name)
                    .and_then(|g| g.entries_read);
                if let (Some(a), Some(b)) = (old_read, group.entries_read) {
                    rates.group_read.insert(
                        format!("{}/{}", stream.name, group.name),
                        per_sec(a as f64, b as f64),
                    );
                }
            }
        }
        if let (Some(old), Some(new)) = (&before.db, &after.db) {
            for (table, count) in new {
                if let Some(was) = old.get(table) {
                    rates
                        .table_growth
                        .insert(table.clone(), per_sec(*was as f64, *count as f64));
                }
            }
        }
        rates
    }
}
