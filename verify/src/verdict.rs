//! The operator's success criteria (`reference/backfill-plan.md`, "Success Metrics"), judged one by
//! one from two snapshots taken a sample window apart.
//!
//! Each criterion is stated so that a pipeline that has finished its work passes too: a stream that
//! no longer grows is fine when everything it feeds has caught up, and a stalled one is not.

use serde::Serialize;
use streams::names::{FIREHOSE_BACKFILL, FIREHOSE_LIVE, INGESTER_DONE, LABEL_LIVE, REPO_BACKFILL};

use crate::redis_probe::StreamState;
use crate::snapshot::Snapshot;

/// A consumer idle longer than this while its group has work is not "showing activity".
pub const ACTIVE_IDLE_MS: u64 = 10_000;

/// PASS, WARN or FAIL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The criterion holds.
    Pass,
    /// The criterion holds, but an operator should act before it does not (the verdict passes).
    Warn,
    /// The criterion does not hold.
    Fail,
}

/// One judged criterion.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Short stable name (also what `--skip` takes).
    pub name: &'static str,
    /// The verdict.
    pub status: Status,
    /// The figure behind the verdict, for a person.
    pub figure: String,
}

impl Check {
    fn new(name: &'static str, pass: bool, figure: impl Into<String>) -> Check {
        let status = if pass { Status::Pass } else { Status::Fail };
        Check {
            name,
            status,
            figure: figure.into(),
        }
    }

    fn warn_if(name: &'static str, warn: bool, figure: impl Into<String>) -> Check {
        let status = if warn { Status::Warn } else { Status::Pass };
        Check {
            name,
            status,
            figure: figure.into(),
        }
    }
}

/// The caps the stages were given for their capped streams (`DLQ_MAX_LEN`,
/// `INGESTER_SKIPPED_MAX_LEN`), so verify can tell how full each one is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Entries kept in each `<stream>_dlq`.
    pub dlq: u64,
    /// Entries kept in each `<stream>:skipped:<host>`.
    pub skipped: u64,
}

impl Caps {
    /// The cap of the capped stream `name`.
    pub fn of(&self, name: &str) -> u64 {
        if name.contains(":skipped:") {
            self.skipped
        } else {
            self.dlq
        }
    }
}

/// Names of every check, for `--skip` validation and help text.
pub const CHECK_NAMES: [&str; 9] = [
    "backfill-listing",
    "backfill-fetching",
    "indexing",
    "groups-active",
    "groups-positioned",
    "listing-cursors",
    "live-cursors",
    "nothing-skipped",
    "capped-streams",
];

/// Judges every criterion from `before` and `after`.
pub fn judge(before: &Snapshot, after: &Snapshot, caps: &Caps) -> Vec<Check> {
    vec![
        backfill_listing(before, after),
        backfill_fetching(before, after),
        indexing(before, after),
        groups_active(after),
        groups_positioned(after),
        listing_cursors(before, after),
        live_cursors(before, after),
        nothing_skipped(after),
        capped_streams(after, caps),
    ]
}

fn added(snapshot: &Snapshot, stream: &str) -> u64 {
    snapshot.stream(stream).map_or(0, |s| s.entries_added)
}

/// Every group on the stream has read and acknowledged everything.
fn caught_up(stream: Option<&StreamState>) -> bool {
    stream.is_some_and(|s| {
        !s.groups.is_empty() && s.groups.iter().all(|g| g.lag == Some(0) && g.pending == 0)
    })
}

fn listing_cursors_of(snapshot: &Snapshot) -> Vec<(&str, &str)> {
    snapshot
        .redis
        .cursors
        .iter()
        .filter(|c| c.stream == REPO_BACKFILL)
        .map(|c| (c.host.as_str(), c.value.as_str()))
        .collect()
}

/// "repo_backfill stream length INCREASING", or the listing has finished on every host.
fn backfill_listing(before: &Snapshot, after: &Snapshot) -> Check {
    let grew = added(after, REPO_BACKFILL).saturating_sub(added(before, REPO_BACKFILL));
    let cursors = listing_cursors_of(after);
    let done = !cursors.is_empty() && cursors.iter().all(|(_, v)| *v == INGESTER_DONE);
    let figure = format!(
        "+{grew} repos listed in the window; {} of {} hosts done",
        cursors.iter().filter(|(_, v)| *v == INGESTER_DONE).count(),
        cursors.len()
    );
    Check::new("backfill-listing", grew > 0 || done, figure)
}

/// "firehose_backfill stream length INCREASING", or the backfiller has nothing left to fetch.
fn backfill_fetching(before: &Snapshot, after: &Snapshot) -> Check {
    let grew = added(after, FIREHOSE_BACKFILL).saturating_sub(added(before, FIREHOSE_BACKFILL));
    let drained = caught_up(after.stream(REPO_BACKFILL));
    Check::new(
        "backfill-fetching",
        grew > 0 || drained,
        format!(
            "+{grew} backfill events in the window; repo_backfill {}",
            if drained {
                "fully consumed"
            } else {
                "has unconsumed repos"
            }
        ),
    )
}

/// "PostgreSQL post count INCREASING", or every indexed stream is fully consumed.
fn indexing(before: &Snapshot, after: &Snapshot) -> Check {
    let (Some(old), Some(new)) = (&before.db, &after.db) else {
        return Check::new("indexing", false, "no database given (--database-url)");
    };
    let records = |db: &crate::db_probe::DbState| db.get("record").copied().unwrap_or(0);
    let grew = records(new) - records(old);
    let drained = [FIREHOSE_LIVE, FIREHOSE_BACKFILL, LABEL_LIVE]
        .iter()
        .all(|s| {
            after
                .stream(s)
                .is_none_or(|st| st.entries_added == 0 || caught_up(Some(st)))
        });
    Check::new(
        "indexing",
        grew > 0 || drained,
        format!(
            "{grew:+} records in the window; indexer streams {}",
            if drained {
                "fully consumed"
            } else {
                "have unconsumed events"
            }
        ),
    )
}

/// "All consumer groups showing activity (inactive < 10s)", for every group that has work.
fn groups_active(after: &Snapshot) -> Check {
    let mut idle = Vec::new();
    let mut busy = 0;
    for stream in &after.redis.streams {
        for group in &stream.groups {
            let has_work = group.pending > 0 || group.lag.is_none_or(|l| l > 0);
            if !has_work {
                continue;
            }
            busy += 1;
            let most_recent = group.consumers.iter().map(|c| c.idle_ms).min();
            if most_recent.is_none_or(|ms| ms >= ACTIVE_IDLE_MS) {
                idle.push(format!(
                    "{}/{} (idle {})",
                    stream.name,
                    group.name,
                    most_recent.map_or("with no consumer".into(), |ms| format!(
                        "{:.0}s",
                        ms as f64 / 1000.0
                    ))
                ));
            }
        }
    }
    let figure = if idle.is_empty() {
        format!("{busy} groups with work, all active")
    } else {
        format!("inactive with work waiting: {}", idle.join(", "))
    };
    Check::new("groups-active", idle.is_empty(), figure)
}

/// No group's position is past its stream (it would read nothing until healed).
fn groups_positioned(after: &Snapshot) -> Check {
    let ahead: Vec<String> = after
        .redis
        .streams
        .iter()
        .flat_map(|s| {
            s.groups.iter().filter(|g| g.ahead_of_stream).map(move |g| {
                format!(
                    "{}/{} at {} > {}",
                    s.name, g.name, g.last_delivered_id, s.last_generated_id
                )
            })
        })
        .collect();
    let figure = if ahead.is_empty() {
        "no group ahead of its stream".to_owned()
    } else {
        ahead.join(", ")
    };
    Check::new("groups-positioned", ahead.is_empty(), figure)
}

/// "No error retry loops": every listRepos cursor that is not done moved in the window.
fn listing_cursors(before: &Snapshot, after: &Snapshot) -> Check {
    let old = listing_cursors_of(before);
    let stuck: Vec<String> = listing_cursors_of(after)
        .into_iter()
        .filter(|(host, value)| *value != INGESTER_DONE && old.contains(&(host, value)))
        .map(|(host, value)| format!("{host} at {value}"))
        .collect();
    let figure = if stuck.is_empty() {
        "every unfinished listing moved".to_owned()
    } else {
        format!("not moving: {}", stuck.join(", "))
    };
    Check::new("listing-cursors", stuck.is_empty(), figure)
}

/// Every firehose and label cursor moved in the window (the live network is never quiet).
fn live_cursors(before: &Snapshot, after: &Snapshot) -> Check {
    let live = |s: &Snapshot| -> Vec<(String, String, String)> {
        s.redis
            .cursors
            .iter()
            .filter(|c| c.stream == FIREHOSE_LIVE || c.stream == LABEL_LIVE)
            .map(|c| (c.stream.clone(), c.host.clone(), c.value.clone()))
            .collect()
    };
    let old = live(before);
    let now = live(after);
    let stuck: Vec<String> = now
        .iter()
        .filter(|c| old.contains(c))
        .map(|(stream, host, value)| format!("{stream} {host} at {value}"))
        .collect();
    let figure = if now.is_empty() {
        "no live cursor stored yet".to_owned()
    } else if stuck.is_empty() {
        format!("{} live cursors, all moving", now.len())
    } else {
        format!("not moving: {}", stuck.join(", "))
    };
    Check::new("live-cursors", !now.is_empty() && stuck.is_empty(), figure)
}

/// Nothing was stepped past by the listRepos isolation (each skip needs an operator's replay).
fn nothing_skipped(after: &Snapshot) -> Check {
    let total: u64 = after.redis.skipped.iter().map(|s| s.count).sum();
    let hosts: Vec<String> = after
        .redis
        .skipped
        .iter()
        .filter(|s| s.count > 0)
        .map(|s| format!("{}: {}", s.host, s.count))
        .collect();
    let figure = if total == 0 {
        "no skipped listRepos entries".to_owned()
    } else {
        format!("{total} skipped listRepos entries ({})", hosts.join(", "))
    };
    Check::new("nothing-skipped", total == 0, figure)
}

/// Dead-letter and skip-record streams keep only their newest entries: one nearing its cap
/// (`streams::capped::NEAR_CAP`) is about to drop the oldest, which an operator should replay or
/// clear first. A warning, not a failure: nothing is lost yet.
fn capped_streams(after: &Snapshot, caps: &Caps) -> Check {
    let near: Vec<String> = after
        .redis
        .capped
        .iter()
        .filter(|s| s.length as f64 >= caps.of(&s.name) as f64 * streams::capped::NEAR_CAP)
        .map(|s| format!("{} at {} of {}", s.name, s.length, caps.of(&s.name)))
        .collect();
    let figure = if near.is_empty() {
        format!(
            "{} capped streams, none near its cap",
            after.redis.capped.len()
        )
    } else {
        format!("near their caps: {}", near.join(", "))
    };
    Check::warn_if("capped-streams", !near.is_empty(), figure)
}
