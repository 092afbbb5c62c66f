//! The report verify prints: the verdict first, then the figures behind it; as text for a person
//! or as one JSON document (`--json`) for scripts.

use std::fmt::Write as _;

use serde::Serialize;
use streams::names::{BACKFILLER_GROUP, REPO_BACKFILL};

use crate::db_probe::DbState;
use crate::expect::Comparison;
use crate::redis_probe::RedisState;
use crate::snapshot::{Rates, Snapshot};
use crate::verdict::{Check, Status};

/// Repos listed vs fetched vs indexed, during a backfill.
#[derive(Debug, Clone, Serialize)]
pub struct Progress {
    /// Entries ever added to `repo_backfill`.
    pub listed: u64,
    /// Entries the backfiller group has finished (read and acknowledged).
    pub fetched: u64,
    /// Repos with an `actor_sync` row (a backfill `repo` event or a live commit was indexed).
    pub indexed: Option<i64>,
    /// Seconds until `indexed` reaches `listed` at the window's rate.
    pub eta_secs: Option<f64>,
}

/// Everything verify has to say.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// PASS when every check passed.
    pub verdict: Status,
    /// The criteria, one by one.
    pub checks: Vec<Check>,
    /// Backfill progress.
    pub progress: Progress,
    /// Rates over the sample window.
    pub rates: Rates,
    /// Redis at the end of the window.
    pub redis: RedisState,
    /// Row counts at the end of the window.
    pub database: Option<DbState>,
    /// The comparison with a harness manifest (`--expect`).
    pub expect: Option<Comparison>,
}

impl Report {
    /// Builds the report from the window's two snapshots and its judged checks.
    pub fn new(
        before: &Snapshot,
        after: &Snapshot,
        checks: Vec<Check>,
        expect: Option<Comparison>,
    ) -> Report {
        let rates = Rates::between(before, after);
        let all_pass = checks.iter().all(|c| c.status != Status::Fail)
            && expect.as_ref().is_none_or(Comparison::is_equal);
        Report {
            verdict: if all_pass { Status::Pass } else { Status::Fail },
            progress: progress(after, &rates),
            checks,
            rates,
            redis: after.redis.clone(),
            database: after.db.clone(),
            expect,
        }
    }

    /// The report for a person.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "== verdict: {:?}", self.verdict);
        for check in &self.checks {
            let _ = writeln!(
                out,
                "  {:<5} {:<18} {}",
                format!("{:?}", check.status).to_uppercase(),
                check.name,
                check.figure
            );
        }
        if let Some(expect) = &self.expect {
            let status = if expect.is_equal() { "PASS" } else { "FAIL" };
            let _ = writeln!(out, "  {status:<5} {:<18} {}", "expect", expect.summary());
            for line in expect.examples() {
                let _ = writeln!(out, "          {line}");
            }
        }
        let p = &self.progress;
        let _ = writeln!(
            out,
            "== backfill: {} listed, {} fetched, {} indexed{}",
            p.listed,
            p.fetched,
            p.indexed.map_or("?".into(), |n| n.to_string()),
            p.eta_secs
                .map_or(String::new(), |s| format!(", ETA {}", human_duration(s)))
        );
        let _ = writeln!(out, "== streams (window {:.1}s)", self.rates.window_secs);
        for stream in &self.redis.streams {
            let growth = self
                .rates
                .stream_growth
                .get(&stream.name)
                .copied()
                .unwrap_or(0.0);
            let change = self
                .rates
                .stream_length_change
                .get(&stream.name)
                .copied()
                .unwrap_or(0.0);
            let _ = writeln!(
                out,
                "  {:<18} length {:>10}  +{growth:.1}/s added  {change:+.1}/s length",
                stream.name, stream.length
            );
            for group in &stream.groups {
                let read = self
                    .rates
                    .group_read
                    .get(&format!("{}/{}", stream.name, group.name))
                    .copied()
                    .unwrap_or(0.0);
                let _ = writeln!(
                    out,
                    "    group {:<20} lag {:>8}  pending {:>6}  {read:.1}/s read{}",
                    group.name,
                    group.lag.map_or("?".into(), |l| l.to_string()),
                    group.pending,
                    if group.ahead_of_stream {
                        "  AHEAD OF STREAM"
                    } else {
                        ""
                    }
                );
                for consumer in &group.consumers {
                    let _ = writeln!(
                        out,
                        "      consumer {:<28} pending {:>6}  idle {:.1}s",
                        consumer.name,
                        consumer.pending,
                        consumer.idle_ms as f64 / 1000.0
                    );
                }
            }
        }
        let _ = writeln!(out, "== cursors");
        for cursor in &self.redis.cursors {
            let _ = writeln!(
                out,
                "  {:<18} {:<32} {}",
                cursor.stream, cursor.host, cursor.value
            );
        }
        for skipped in &self.redis.skipped {
            let _ = writeln!(
                out,
                "  skipped listRepos entries on {}: {}",
                skipped.host, skipped.count
            );
            for entry in &skipped.latest {
                let _ = writeln!(out, "    {entry}");
            }
        }
        let _ = writeln!(out, "== dead letters");
        for dlq in &self.redis.dlqs {
            let reasons: Vec<String> = dlq
                .top_reasons
                .iter()
                .map(|(r, n)| format!("{r} ×{n}"))
                .collect();
            let _ = writeln!(
                out,
                "  {:<22} {:>8}  {}",
                dlq.name,
                dlq.length,
                reasons.join("; ")
            );
        }
        if let Some(db) = &self.database {
            let _ = writeln!(out, "== postgresql");
            for (table, count) in db {
                let rate = self.rates.table_growth.get(table).copied().unwrap_or(0.0);
                let _ = writeln!(out, "  {table:<16} {count:>12}  {rate:+.1}/s");
            }
        }
        out
    }
}

fn progress(after: &Snapshot, rates: &Rates) -> Progress {
    let backfill = after.stream(REPO_BACKFILL);
    let listed = backfill.map_or(0, |s| s.entries_added);
    let fetched = backfill
        .and_then(|s| {
            s.groups
                .iter()
                .find(|g| g.name == BACKFILLER_GROUP)
                .or(s.groups.first())
        })
        .map_or(0, |g| g.entries_read.unwrap_or(0).saturating_sub(g.pending));
    let indexed = after
        .db
        .as_ref()
        .and_then(|db| db.get("actor_sync").copied());
    let eta_secs = indexed.and_then(|done| {
        let rate = rates.table_growth.get("actor_sync").copied().unwrap_or(0.0);
        let left = listed as f64 - done as f64;
        (rate > 0.0 && left > 0.0).then(|| left / rate)
    });
    Progress {
        listed,
        fetched,
        indexed,
        eta_secs,
    }
}

fn human_duration(secs: f64) -> String {
    let secs = secs.round() as u64;
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60),
    }
}
