//! `--expect MANIFEST`: the database (and the dead-letter streams) compared with the harness's
//! oracle, row by row. Lists what is missing, extra or stale, so a failure says where to look.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, Result};
use redis::aio::MultiplexedConnection;
use serde::Serialize;
use sqlx::{PgPool, Row};
use streams::names::dlq_stream;

use crate::manifest::{ExpectedLabel, Manifest};

/// How many examples of each kind of difference the text report shows.
const EXAMPLES: usize = 5;

/// Every difference between the manifest and what the pipeline wrote.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Comparison {
    /// Expected records not in `record`.
    pub missing_records: Vec<String>,
    /// Records in `record`, of DIDs the manifest covers, that it does not expect.
    pub extra_records: Vec<String>,
    /// Records present with another CID or rev than expected: `uri (cid@rev, expected cid@rev)`.
    pub stale_records: Vec<String>,
    /// URIs that must be absent but are present.
    pub resurrected: Vec<String>,
    /// Accounts whose handle or upstream status differ: `did: field is X, expected Y`.
    pub actor_mismatches: Vec<String>,
    /// Expected labels not in `label`.
    pub missing_labels: Vec<String>,
    /// Labels in `label` that the manifest does not have.
    pub extra_labels: Vec<String>,
    /// Expected dead letters not found (or found with another reason).
    pub missing_dead_letters: Vec<String>,
    /// Dead-lettered repos the manifest does not expect.
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
        if parts.is_empty() { "database equals the manifest".into() } else { parts.join(", ") }
    }

    /// A few examples of each kind of difference.
    pub fn examples(&self) -> Vec<String> {
        self.kinds()
            .iter()
            .flat_map(|(name, list)| list.iter().take(EXAMPLES).map(move |item| format!("{name}: {item}")))
            .collect()
    }
}

/// Compares the database behind `pool` and the DLQs in Redis with `manifest`.
pub async fn compare(manifest: &Manifest, pool: &PgPool, redis: &mut MultiplexedConnection) -> Result<Comparison> {
    let mut comparison = Comparison::default();
    compare_records(manifest, pool, &mut comparison).await?;
    compare_actors(manifest, pool, &mut comparison).await?;
    compare_labels(manifest, pool, &mut comparison).await?;
    compare_dead_letters(manifest, redis, &mut comparison).await?;
    Ok(comparison)
}

/// The DID of an `at://did/…` URI.
fn did_of(uri: &str) -> &str {
    uri.trim_start_matches("at://").split('/').next().unwrap_or_default()
}

async fn compare_records(manifest: &Manifest, pool: &PgPool, out: &mut Comparison) -> Result<()> {
    let dids: BTreeSet<&str> = manifest
        .records
        .iter()
        .map(|r| did_of(&r.uri))
        .chain(manifest.absent.iter().map(|u| did_of(u)))
        .chain(manifest.actors.iter().map(|a| a.did.as_str()))
        .collect();
    let dids: Vec<String> = dids.into_iter().map(str::to_owned).collect();
    let rows = sqlx::query("SELECT uri, cid, rev FROM record WHERE did = ANY($1)")
        .bind(&dids)
        .fetch_all(pool)
        .await
        .context("reading records")?;
    let mut stored: HashMap<String, (String, String)> = HashMap::with_capacity(rows.len());
    for row in rows {
        stored.insert(row.try_get("uri")?, (row.try_get("cid")?, row.try_get("rev")?));
    }
    let expected: HashMap<&str, (&str, &str)> =
        manifest.records.iter().map(|r| (r.uri.as_str(), (r.cid.as_str(), r.rev.as_str()))).collect();
    for record in &manifest.records {
        match stored.get(&record.uri) {
            None => out.missing_records.push(record.uri.clone()),
            Some((cid, rev)) if *cid != record.cid || *rev != record.rev => out
                .stale_records
                .push(format!("{} ({cid}@{rev}, expected {}@{})", record.uri, record.cid, record.rev)),
            Some(_) => {}
        }
    }
    let absent: BTreeSet<&str> = manifest.absent.iter().map(String::as_str).collect();
    let mut extra: Vec<String> = stored
        .keys()
        .filter(|uri| !expected.contains_key(uri.as_str()))
        .cloned()
        .collect();
    extra.sort();
    for uri in extra {
        if absent.contains(uri.as_str()) {
            out.resurrected.push(uri);
        } else {
            out.extra_records.push(uri);
        }
    }
    out.missing_records.sort();
    out.stale_records.sort();
    Ok(())
}

async fn compare_actors(manifest: &Manifest, pool: &PgPool, out: &mut Comparison) -> Result<()> {
    let dids: Vec<String> = manifest.actors.iter().map(|a| a.did.clone()).collect();
    let rows = sqlx::query(r#"SELECT did, handle, "upstreamStatus" FROM actor WHERE did = ANY($1)"#)
        .bind(&dids)
        .fetch_all(pool)
        .await
        .context("reading actors")?;
    let mut stored: HashMap<String, (Option<String>, Option<String>)> = HashMap::new();
    for row in rows {
        stored.insert(row.try_get("did")?, (row.try_get("handle")?, row.try_get("upstreamStatus")?));
    }
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    for actor in &manifest.actors {
        let Some((handle, status)) = stored.get(&actor.did) else {
            out.actor_mismatches.push(format!("{}: no actor row", actor.did));
            continue;
        };
        if *handle != actor.handle {
            out.actor_mismatches.push(format!("{}: handle is {}, expected {}", actor.did, show(handle), show(&actor.handle)));
        }
        if *status != actor.upstream_status {
            out.actor_mismatches.push(format!(
                "{}: upstreamStatus is {}, expected {}",
                actor.did,
                show(status),
                show(&actor.upstream_status)
            ));
        }
    }
    Ok(())
}

async fn compare_labels(manifest: &Manifest, pool: &PgPool, out: &mut Comparison) -> Result<()> {
    let rows = sqlx::query("SELECT src, uri, cid, val FROM label")
        .fetch_all(pool)
        .await
        .context("reading labels")?;
    let mut stored = BTreeSet::new();
    for row in rows {
        stored.insert(ExpectedLabel {
            src: row.try_get("src")?,
            uri: row.try_get("uri")?,
            cid: row.try_get("cid")?,
            val: row.try_get("val")?,
        });
    }
    let expected: BTreeSet<ExpectedLabel> = manifest.labels.iter().cloned().collect();
    let show = |l: &ExpectedLabel| format!("{} {} {} {}", l.src, l.val, l.uri, l.cid);
    out.missing_labels = expected.difference(&stored).map(show).collect();
    out.extra_labels = stored.difference(&expected).map(show).collect();
    Ok(())
}

async fn compare_dead_letters(manifest: &Manifest, redis: &mut MultiplexedConnection, out: &mut Comparison) -> Result<()> {
    let streams: BTreeSet<&str> = manifest.dead_letters.iter().map(|d| d.stream.as_str()).collect();
    // Every DLQ entry of those streams, by DID: its reasons.
    let mut found: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for stream in streams.iter().copied().chain(["repo_backfill"]).collect::<BTreeSet<_>>() {
        for (did, reason) in dlq_entries(redis, stream).await? {
            found.entry((stream.to_owned(), did)).or_default().push(reason);
        }
    }
    let mut expected_keys = BTreeSet::new();
    for dead in &manifest.dead_letters {
        let key = (dead.stream.clone(), dead.did.clone());
        let matches = found
            .get(&key)
            .is_some_and(|reasons| reasons.iter().any(|r| r.to_lowercase().starts_with(&dead.reason.to_lowercase())));
        if !matches {
            let seen = found.get(&key).map_or("nothing".into(), |r| r.join(" | "));
            out.missing_dead_letters.push(format!("{} {} expected {:?}, found {seen}", dead.stream, dead.did, dead.reason));
        }
        expected_keys.insert(key);
    }
    for ((stream, did), reasons) in &found {
        if !expected_keys.contains(&(stream.clone(), did.clone())) {
            out.unexpected_dead_letters.push(format!("{stream} {did}: {}", reasons.join(" | ")));
        }
    }
    Ok(())
}

/// `(did, reason)` of every entry of `<stream>_dlq`, read in pages.
async fn dlq_entries(redis: &mut MultiplexedConnection, stream: &str) -> Result<Vec<(String, String)>> {
    let key = dlq_stream(stream);
    let mut entries = Vec::new();
    let mut start = "-".to_owned();
    loop {
        let page: Vec<(String, HashMap<String, String>)> = redis::cmd("XRANGE")
            .arg(&key)
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
