//! `--expect MANIFEST`: the database (and the dead-letter streams) compared with the harness's
//! oracle, row by row. Lists what is missing, extra or stale, so a failure says where to look.
//!
//! Rules, for a manifest of format `harness-manifest/1`:
//! - A `records[]` entry with `required: true` is in `record` with exactly that `cid`; its stored
//!   `rev` is at least the entry's `rev` (a backfill writes a record with the repository's rev,
//!   which is newer than the commit that wrote it) and at most the actor's `rev`.
//! - An entry with `required: false` may be missing; if present, it must match the same way.
//! - For every DID in `actors`, `record` holds no URI outside `records[]`; one listed in
//!   `absent[]` is reported as resurrected.
//! - An actor whose handle came from an `#identity` event has exactly that handle; otherwise its
//!   handle is that one or none. An actor whose status came from an `#account` event has exactly
//!   that `upstreamStatus`; otherwise that one or none. Deleted accounts are judged by their
//!   records only.
//! - `label` equals `labels[]` (keyed by `src, uri, cid, val`; `exp` compared to the second).
//! - Every `dead_letters[]` entry with `required: true` has an entry in its stream whose DID
//!   matches and whose reason contains `reason` (case-insensitive); `required: false` ones may be
//!   there. Every other entry of the pipeline's dead-letter streams is unexpected.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result};
use redis::aio::MultiplexedConnection;
use serde::Serialize;
use sqlx::{PgPool, Row};
use streams::names::dlq_stream;

use crate::manifest::{LabelExpectation, Manifest};

/// How many examples of each kind of difference the text report shows.
const EXAMPLES: usize = 5;

/// The streams whose dead letters are always judged (any entry there is a lost event or repo).
const PIPELINE_STREAMS: [&str; 4] = [
    "repo_backfill",
    "firehose_live",
    "firehose_backfill",
    "label_live",
];

/// Every difference between the manifest and what the pipeline wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Comparison {
    /// Required records not in `record`.
    pub missing_records: Vec<String>,
    /// Records in `record`, of DIDs the manifest covers, that it does not expect.
    pub extra_records: Vec<String>,
    /// Records present with another CID, or a rev out of range: `uri (cid@rev, expected …)`.
    pub stale_records: Vec<String>,
    /// URIs that must be absent but are present.
    pub resurrected: Vec<String>,
    /// Accounts whose handle or upstream status differ: `did: field is X, expected Y`.
    pub actor_mismatches: Vec<String>,
    /// Expected labels not in `label` (or with another expiry).
    pub missing_labels: Vec<String>,
    /// Labels in `label` that the manifest does not have.
    pub extra_labels: Vec<String>,
    /// Required dead letters not found (or found with another reason).
    pub missing_dead_letters: Vec<String>,
    /// Dead letters the manifest does not expect.
    pub unexpected_dead_letters: Vec<String>,
}

impl Comparison {
    fn kinds(&self) -> [(&'static str, &Vec<String>); 9] {
        [
            ("missing records", &self.missing_records),
            ("extra records", &self.extra_records),
            ("stale records", &self.stale_records),
            ("resurrected records", &self.resurrected),
            ("actor mismatches", &self.actor_mismatches),
            ("missing labels", &self.missing_labels),
            ("extra labels", &self.extra_labels),
            ("missing dead letters", &self.missing_dead_letters),
            ("unexpected dead letters", &self.unexpected_dead_letters),
        ]
    }

    /// Whether the database equals the manifest.
    pub fn is_equal(&self) -> bool {
        self.kinds().iter().all(|(_, list)| list.is_empty())
    }

    /// One line: the count of each kind of difference, or that there is none.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .kinds()
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(name, list)| format!("{} {name}", list.len()))
            .collect();
        if parts.is_empty() {
            "database equals the manifest".into()
        } else {
            parts.join(", ")
        }
    }

    /// A few examples of each kind of difference.
    pub fn examples(&self) -> Vec<String> {
        self.kinds()
            .iter()
            .flat_map(|(name, list)| {
                list.iter()
                    .take(EXAMPLES)
                    .map(move |item| format!("{name}: {item}"))
            })
            .collect()
    }
}

/// Compares the database behind `pool` and the DLQs in Redis with `manifest`.
pub async fn compare(
    manifest: &Manifest,
    pool: &PgPool,
    redis: &mut MultiplexedConnection,
) -> Result<Comparison> {
    let mut comparison = Comparison::default();
    compare_records(manifest, pool, &mut comparison).await?;
    compare_actors(manifest, pool, &mut comparison).await?;
    compare_labels(manifest, pool, &mut comparison).await?;
    compare_dead_letters(manifest, redis, &mut comparison).await?;
    Ok(comparison)
}

/// The DID of an `at://did/…` URI.
fn did_of(uri: &str) -> &str {
    uri.trim_start_matches("at://")
        .split('/')
        .next()
        .unwrap_or_default()
}

async fn compare_records(manifest: &Manifest, pool: &PgPool, out: &mut Comparison) -> Result<()> {
    let dids: BTreeSet<&str> = manifest
        .records
        .iter()
        .map(|r| did_of(&r.uri))
        .chain(manifest.absent.iter().map(|a| did_of(&a.uri)))
        .chain(manifest.actors.iter().map(|a| a.did.as_str()))
        .collect();
    let dids: Vec<String> = dids.into_iter().map(str::to_owned).collect();
    let rows = sqlx::query("SELECT uri, cid, rev FROM record WHERE did = ANY($1)")
        .bind(&dids)
        .fetch_all(pool)
        .await
        .context("reading records")?;
    let mut stored: HashMap<String, (String, Option<String>)> = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert(
            row.try_get("uri")?,
            (row.try_get("cid")?, row.try_get("rev")?),
        );
    }
    let head_rev: HashMap<&str, &str> = manifest
        .actors
        .iter()
        .filter_map(|a| a.rev.as_deref().map(|rev| (a.did.as_str(), rev)))
        .collect();
    for record in &manifest.records {
        let Some((cid, rev)) = stored.get(&record.uri) else {
            if record.required {
                out.missing_records.push(record.uri.clone());
            }
            continue;
        };
        let rev = rev.as_deref().unwrap_or("");
        let newest = head_rev.get(did_of(&record.uri)).copied();
        let rev_ok = rev >= record.rev.as_str() && newest.is_none_or(|newest| rev <= newest);
        if *cid != record.cid || !rev_ok {
            out.stale_records.push(format!(
                "{} ({cid}@{rev}, expected {} at rev {}..={})",
                record.uri,
                record.cid,
                record.rev,
                newest.unwrap_or("?")
            ));
        }
    }
    let absent: BTreeSet<&str> = manifest.absent.iter().map(|a| a.uri.as_str()).collect();
    let mut extra: Vec<&String> = stored
        .keys()
        .filter(|uri| manifest.record(uri).is_none())
        .collect();
    extra.sort();
    for uri in extra {
        if absent.contains(uri.as_str()) {
            out.resurrected.push(uri.clone());
        } else {
            out.extra_records.push(uri.clone());
        }
    }
    out.missing_records.sort();
    out.stale_records.sort();
    Ok(())
}

async fn compare_actors(manifest: &Manifest, pool: &PgPool, out: &mut Comparison) -> Result<()> {
    let dids: Vec<String> = manifest.actors.iter().map(|a| a.did.clone()).collect();
    let rows =
        sqlx::query(r#"SELECT did, handle, "upstreamStatus" FROM actor WHERE did = ANY($1)"#)
            .bind(&dids)
            .fetch_all(pool)
            .await
            .context("reading actors")?;
    let mut stored: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    for row in rows {
        stored.insert(
            row.try_get("did")?,
            (row.try_get("handle")?, row.try_get("upstreamStatus")?),
        );
    }
    let show = |v: Option<&str>| v.unwrap_or("none").to_owned();
    for actor in &manifest.actors {
        if actor.status.as_deref() == Some("deleted") {
            continue;
        }
        let (handle, status) = stored
            .get(&actor.did)
            .map_or((None, None), |(h, s)| (h.as_deref(), s.as_deref()));
        let expected_handle = actor.handle.to_lowercase();
        let handle_ok = match handle {
            Some(handle) => handle == expected_handle,
            None => !actor.handle_from_event,
        };
        if !handle_ok {
            out.actor_mismatches.push(format!(
                "{}: handle is {}, expected {expected_handle}{}",
                actor.did,
                show(handle),
                if actor.handle_from_event {
                    ""
                } else {
                    " or none"
                }
            ));
        }
        let status_ok = match status {
            Some(status) => Some(status) == actor.status.as_deref(),
            None => actor.status.is_none() || !actor.status_from_event,
        };
        if !status_ok {
            out.actor_mismatches.push(format!(
                "{}: upstreamStatus is {}, expected {}{}",
                actor.did,
                show(status),
                show(actor.status.as_deref()),
                if actor.status_from_event {
                    ""
                } else {
                    " or none"
                }
            ));
        }
    }
    Ok(())
}

/// An expiry as compared: to the second, so `…:56Z` and `…:56.000Z` agree.
fn expiry(exp: Option<&str>) -> Option<String> {
    exp.map(|e| e.chars().take(19).collect())
}

async fn compare_labels(manifest: &Manifest, pool: &PgPool, out: &mut Comparison) -> Result<()> {
    let rows = sqlx::query("SELECT src, uri, cid, val, exp FROM label")
        .fetch_all(pool)
        .await
        .context("reading labels")?;
    let mut stored = BTreeSet::new();
    for row in rows {
        let exp: Option<String> = row.try_get("exp")?;
        stored.insert(LabelExpectation {
            src: row.try_get("src")?,
            uri: row.try_get("uri")?,
            cid: row.try_get("cid")?,
            val: row.try_get("val")?,
            exp: expiry(exp.as_deref()),
        });
    }
    let expected: BTreeSet<LabelExpectation> = manifest
        .labels
        .iter()
        .map(|l| LabelExpectation {
            exp: expiry(l.exp.as_deref()),
            ..l.clone()
        })
        .collect();
    let show = |l: &LabelExpectation| {
        let exp = l
            .exp
            .as_deref()
            .map(|e| format!(" exp {e}"))
            .unwrap_or_default();
        format!("{} {} {} {}{exp}", l.src, l.val, l.uri, l.cid)
    };
    out.missing_labels = expected.difference(&stored).map(show).collect();
    out.extra_labels = stored.difference(&expected).map(show).collect();
    Ok(())
}

async fn compare_dead_letters(
    manifest: &Manifest,
    redis: &mut MultiplexedConnection,
    out: &mut Comparison,
) -> Result<()> {
    let streams: BTreeSet<String> = manifest
        .dead_letters
        .iter()
        .map(|d| d.stream.clone())
        .chain(PIPELINE_STREAMS.iter().map(|s| dlq_stream(s)))
        .collect();
    // Every entry of those streams, by (stream, DID): its reasons.
    let mut found: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for stream in &streams {
        for (did, reason) in dlq_entries(redis, stream).await? {
            found.entry((stream.clone(), did)).or_default().push(reason);
        }
    }
    let mut expected_keys = BTreeSet::new();
    for dead in &manifest.dead_letters {
        let key = (dead.stream.clone(), dead.did.clone());
        let wanted = dead.reason.to_lowercase();
        let reasons = found.get(&key);
        let matches = reasons
            .is_some_and(|reasons| reasons.iter().any(|r| r.to_lowercase().contains(&wanted)));
        if dead.required && !matches {
            let seen = reasons.map_or("nothing".into(), |r| r.join(" | "));
            out.missing_dead_letters.push(format!(
                "{} {} expected {:?}, found {seen}",
                dead.stream, dead.did, dead.reason
            ));
        }
        expected_keys.insert(key);
    }
    for ((stream, did), reasons) in &found {
        if !expected_keys.contains(&(stream.clone(), did.clone())) {
            out.unexpected_dead_letters
                .push(format!("{stream} {did}: {}", reasons.join(" | ")));
        }
    }
    Ok(())
}

/// `(did, reason)` of every entry of the dead-letter stream `key`, read in pages.
async fn dlq_entries(
    redis: &mut MultiplexedConnection,
    key: &str,
) -> Result<Vec<(String, String)>> {
    let mut entries = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let page: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(key)
            .arg(&start)
            .arg("+")
            .arg("COUNT")
            .arg(1000)
            .query_async(redis)
            .await
            .with_context(|| format!("XRANGE {key}"))?;
        let Some((last, _)) = page.last() else { break };
        start = format!("({last}");
        for (_, fields) in &page {
            let reason = fields.get("reason").cloned().unwrap_or_default();
            // The original payload is under the stream's own field; any JSON field with a `did`.
            let did = fields
                .values()
                .filter_map(|v| serde_json::from_str::<serde_json::Value>(v).ok())
                .find_map(|v| v.get("did").and_then(|d| d.as_str()).map(str::to_owned))
                .unwrap_or_default();
            entries.push((did, reason));
        }
    }
    Ok(entries)
}
