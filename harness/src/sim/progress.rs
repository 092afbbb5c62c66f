//! What a person watching `harness simulate` sees, and what the run waits for: one reading of
//! Redis (listing cursor, live cursors, stream lengths, consumer groups, dead letters, memory) and
//! of PostgreSQL (rows in `record`), and the figures between two readings.
//!
//! Rows are counted from the statistics collector (`n_tup_ins - n_tup_del`), which costs nothing
//! at any table size; the exact `count(*)` is taken only by [`Reading::count_records`], when the
//! run believes it is done.

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamInfoGroupsReply, StreamInfoStreamReply};
use sqlx::PgPool;

/// The streams the pipeline writes, with the group that consumes each.
pub(crate) const STREAMS: [(&str, &str); 4] = [
    ("repo_backfill", "repo_backfill_group"),
    ("firehose_live", "firehose_group"),
    ("firehose_backfill", "firehose_group"),
    ("label_live", "firehose_group"),
];

/// A stream and its consumer group, as read once.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamReading {
    /// Entries ever added (the last generated id's position is not a count, so `entries_added`).
    pub(crate) added: u64,
    /// Entries in the stream now (`XLEN`): what trimming has left.
    pub(crate) length: u64,
    /// Entries the group has read.
    pub(crate) read: u64,
    /// Entries delivered but not acknowledged.
    pub(crate) pending: u64,
    /// Whether the group has acknowledged everything in the stream.
    pub(crate) caught_up: bool,
}

/// One reading of the pipeline.
#[derive(Debug, Clone)]
pub(crate) struct Reading {
    pub(crate) at: Instant,
    pub(crate) listing_done: bool,
    /// The firehose cursor the ingester saved for the relay.
    pub(crate) relay_cursor: Option<i64>,
    /// The label cursors, by labeler host key.
    pub(crate) label_cursors: BTreeMap<String, i64>,
    pub(crate) streams: BTreeMap<&'static str, StreamReading>,
    /// Entries in `repo_backfill_dlq`.
    pub(crate) dead_letters: u64,
    /// Rows in `record`: from the statistics, or exact after [`Reading::count_records`].
    pub(crate) records: i64,
    /// Redis's `used_memory`, in bytes.
    pub(crate) used_memory: u64,
}

impl Reading {
    /// Reads Redis and PostgreSQL. `relay` and `labelers` are cursor keys' host parts.
    pub(crate) async fn take(
        redis: &mut MultiplexedConnection,
        pool: &PgPool,
        relay: &str,
        labelers: &[String],
    ) -> Result<Reading> {
        let listing: Option<String> = redis.get(format!("repo_backfill:cursor:{relay}")).await?;
        let relay_cursor: Option<i64> = redis.get(format!("firehose_live:cursor:{relay}")).await?;
        let mut label_cursors = BTreeMap::new();
        for host in labelers {
            let cursor: Option<i64> = redis.get(format!("label_live:cursor:{host}")).await?;
            if let Some(cursor) = cursor {
                label_cursors.insert(host.clone(), cursor);
            }
        }
        let mut streams = BTreeMap::new();
        for (stream, group) in STREAMS {
            streams.insert(stream, read_stream(redis, stream, group).await?);
        }
        let dead_letters: u64 = redis.xlen("repo_backfill_dlq").await?;
        let records: Option<i64> = sqlx::query_scalar(
            "SELECT n_tup_ins - n_tup_del FROM pg_stat_user_tables WHERE relname = 'record'",
        )
        .fetch_optional(pool)
        .await
        .context("reading record's statistics")?;
        let info: String = redis::cmd("INFO").arg("memory").query_async(redis).await?;
        let used_memory = info
            .lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        Ok(Reading {
            at: Instant::now(),
            listing_done: listing.as_deref() == Some("!ingester-done"),
            relay_cursor,
            label_cursors,
            streams,
            dead_letters,
            records: records.unwrap_or(0),
            used_memory,
        })
    }

    /// Replaces the estimated row count with the exact one (a full scan: only when done).
    pub(crate) async fn count_records(&mut self, pool: &PgPool) -> Result<()> {
        self.records = sqlx::query_scalar("SELECT count(*) FROM record")
            .fetch_one(pool)
            .await
            .context("counting records")?;
        Ok(())
    }

    /// Whether every group has acknowledged everything in its stream.
    pub(crate) fn all_caught_up(&self) -> bool {
        self.streams.values().all(|s| s.caught_up)
    }

    /// Whether the indexers have acknowledged everything in their streams.
    pub(crate) fn indexers_caught_up(&self) -> bool {
        self.streams
            .iter()
            .filter(|(name, _)| **name != "repo_backfill")
            .all(|(_, s)| s.caught_up)
    }

    fn stream(&self, name: &str) -> StreamReading {
        self.streams.get(name).cloned().unwrap_or_default()
    }

    /// Entries of `stream` its group has acknowledged (read and no longer pending).
    fn handled(&self, stream: &str) -> u64 {
        let s = self.stream(stream);
        s.read.saturating_sub(s.pending)
    }

    /// Entries of `stream` its group has not acknowledged yet (lag plus pending).
    pub(crate) fn unhandled(&self, stream: &str) -> u64 {
        self.stream(stream)
            .added
            .saturating_sub(self.handled(stream))
    }

    /// Repo events the indexers have committed, live and backfill.
    pub(crate) fn indexed(&self) -> u64 {
        self.handled("firehose_live") + self.handled("firehose_backfill")
    }

    /// One line for a person: progress since `before`. "listed" and "written" count stream
    /// entries added (a requeued repo is listed again); "handled" counts entries the consuming
    /// group has acknowledged, i.e. fetched by the backfiller or committed by the indexer;
    /// "held" is what the streams hold now, after trimming.
    pub(crate) fn line(
        &self,
        before: &Reading,
        start: Instant,
        released: (usize, usize),
    ) -> String {
        let secs = self.at.duration_since(before.at).as_secs_f64().max(0.001);
        let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / secs;
        let listed = self.stream("repo_backfill");
        let (live, live_before) = (self.stream("firehose_live"), before.stream("firehose_live"));
        let (back, back_before) = (
            self.stream("firehose_backfill"),
            before.stream("firehose_backfill"),
        );
        let indexed = self.indexed();
        let indexed_before = before.indexed();
        let held: Vec<String> = STREAMS
            .iter()
            .map(|(name, _)| format!("{name} {}", self.stream(name).length))
            .collect();
        format!(
            "[{:>4}s] script {}/{} | repos listed {}{} handled {} (dlq {}) | \
             written: live {} ({:.0}/s), backfill {} ({:.0}/s) | indexed {}/{} ({:.0}/s) | \
             records ~{} ({:.0}/s) | held: {} | redis {:.0} MiB",
            self.at.duration_since(start).as_secs(),
            released.0,
            released.1,
            listed.added,
            if self.listing_done { " (done)" } else { "" },
            self.handled("repo_backfill"),
            self.dead_letters,
            live.added,
            rate(live.added, live_before.added),
            back.added,
            rate(back.added, back_before.added),
            indexed,
            live.added + back.added,
            rate(indexed, indexed_before),
            self.records,
            (self.records - before.records) as f64 / secs,
            held.join(", "),
            self.used_memory as f64 / (1024.0 * 1024.0),
        )
    }
}

/// A stream id as a comparable pair (`0-0` when unparsable).
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

async fn read_stream(
    redis: &mut MultiplexedConnection,
    stream: &str,
    group: &str,
) -> Result<StreamReading> {
    let exists: bool = redis.exists(stream).await?;
    if !exists {
        return Ok(StreamReading {
            caught_up: true,
            ..StreamReading::default()
        });
    }
    let info: StreamInfoStreamReply = redis.xinfo_stream(stream).await?;
    let added: Option<u64> = redis::cmd("XINFO")
        .arg("STREAM")
        .arg(stream)
        .query_async::<redis::Value>(redis)
        .await
        .ok()
        .and_then(|v| entries_added(&v));
    let groups: StreamInfoGroupsReply = redis.xinfo_groups(stream).await?;
    let last = stream_id(&info.last_generated_id);
    let reading = match groups.groups.iter().find(|g| g.name == group) {
        Some(g) => StreamReading {
            added: added.unwrap_or(info.length as u64),
            length: info.length as u64,
            read: g.entries_read.unwrap_or(0) as u64,
            pending: g.pending as u64,
            caught_up: g.pending == 0 && stream_id(&g.last_delivered_id) >= last,
        },
        None => StreamReading {
            added: added.unwrap_or(info.length as u64),
            length: info.length as u64,
            caught_up: info.length == 0,
            ..StreamReading::default()
        },
    };
    Ok(reading)
}

/// The `entries-added` field of an `XINFO STREAM` reply.
fn entries_added(value: &redis::Value) -> Option<u64> {
    let pairs: Vec<(redis::Value, redis::Value)> = match value {
        redis::Value::Map(pairs) => pairs.clone(),
        redis::Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((k.clone(), v.clone())),
                _ => None,
            })
            .collect(),
        _ => return None,
    };
    pairs.into_iter().find_map(|(k, v)| {
        let key: String = redis::from_redis_value(k).ok()?;
        (key == "entries-added")
            .then(|| redis::from_redis_value::<u64>(v).ok())
            .flatten()
    })
}
