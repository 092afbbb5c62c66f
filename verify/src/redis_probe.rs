//! What Redis says about the pipeline at one moment: stream lengths, consumer groups and their
//! consumers, cursors per host, skipped listRepos entries and dead-letter streams.
//!
//! Everything is read with plain commands (XLEN, XINFO, SCAN, XREVRANGE): verify never writes.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, Result};
use redis::Value;
use redis::aio::MultiplexedConnection;
use serde::Serialize;
use streams::names::{FIREHOSE_BACKFILL, FIREHOSE_LIVE, LABEL_LIVE, REPO_BACKFILL, dlq_stream};

/// The streams of the contract, in pipeline order.
pub const PIPELINE_STREAMS: [&str; 4] =
    [REPO_BACKFILL, FIREHOSE_LIVE, FIREHOSE_BACKFILL, LABEL_LIVE];

/// How many of a dead-letter stream's newest entries are read to rank its reasons.
const DLQ_SAMPLE: usize = 1000;

/// One stream's state.
#[derive(Debug, Clone, Serialize)]
pub struct StreamState {
    /// Stream name.
    pub name: String,
    /// Entries in the stream now (XLEN).
    pub length: u64,
    /// Entries ever added (XINFO STREAM `entries-added`): grows even when trimming keeps
    /// the length flat, so growth is judged on it.
    pub entries_added: u64,
    /// The newest id the stream ever generated.
    pub last_generated_id: String,
    /// Its consumer groups.
    pub groups: Vec<GroupState>,
}

/// One consumer group's state.
#[derive(Debug, Clone, Serialize)]
pub struct GroupState {
    /// Group name.
    pub name: String,
    /// Entries not yet delivered to the group (XINFO GROUPS `lag`; absent when Redis cannot tell).
    pub lag: Option<u64>,
    /// Entries delivered but not acknowledged.
    pub pending: u64,
    /// Entries the group has read so far.
    pub entries_read: Option<u64>,
    /// The group's last-delivered id.
    pub last_delivered_id: String,
    /// The group's position is past everything the stream ever held (the stream was deleted and
    /// refilled): `XREADGROUP >` returns nothing until the group is healed.
    pub ahead_of_stream: bool,
    /// Its consumers.
    pub consumers: Vec<ConsumerState>,
}

/// One consumer of a group.
#[derive(Debug, Clone, Serialize)]
pub struct ConsumerState {
    /// Consumer name.
    pub name: String,
    /// Entries pending on this consumer.
    pub pending: u64,
    /// Milliseconds since the consumer last did anything.
    pub idle_ms: u64,
}

/// A cursor key (`<stream>:cursor:<host>`).
#[derive(Debug, Clone, Serialize)]
pub struct CursorState {
    /// The stream the cursor belongs to.
    pub stream: String,
    /// The normalised host.
    pub host: String,
    /// The stored value (`!ingester-done` when a backfill listing has finished).
    pub value: String,
}

/// Entries the backfill ingester stepped past because they kept failing, for one host.
#[derive(Debug, Clone, Serialize)]
pub struct SkippedState {
    /// The normalised host.
    pub host: String,
    /// How many entries were skipped.
    pub count: u64,
    /// The newest skipped entries' JSON records (cursor, error, time), newest first.
    pub latest: Vec<serde_json::Value>,
}

/// One dead-letter stream.
#[derive(Debug, Clone, Serialize)]
pub struct DlqState {
    /// The DLQ's name (`<stream>_dlq`).
    pub name: String,
    /// Entries in it.
    pub length: u64,
    /// Reasons among its newest entries, most common first, with their counts.
    pub top_reasons: Vec<(String, u64)>,
}

/// Everything verify reads from Redis at one moment.
#[derive(Debug, Clone, Serialize)]
pub struct RedisState {
    /// The pipeline's streams.
    pub streams: Vec<StreamState>,
    /// Every cursor key found.
    pub cursors: Vec<CursorState>,
    /// Skipped listRepos entries per host.
    pub skipped: Vec<SkippedState>,
    /// The dead-letter streams of the pipeline's streams.
    pub dlqs: Vec<DlqState>,
    /// Every capped stream found (dead letters and skip records) with its length.
    pub capped: Vec<CappedState>,
}

/// A capped stream's length (see `streams::capped`).
#[derive(Debug, Clone, Serialize)]
pub struct CappedState {
    /// The stream (`firehose_live_dlq`, `repo_backfill:skipped:pds.example.com`).
    pub name: String,
    /// Entries in it.
    pub length: u64,
}

/// Reads the whole Redis side of the pipeline.
pub async fn probe(conn: &mut MultiplexedConnection) -> Result<RedisState> {
    let mut streams = Vec::new();
    for name in PIPELINE_STREAMS {
        streams.push(stream_state(conn, name).await?);
    }
    let mut cursors = Vec::new();
    for key in scan(conn, "*:cursor:*").await? {
        let Some((stream, host)) = key.split_once(":cursor:") else {
            continue;
        };
        let value: Option<String> = redis::cmd("GET")
            .arg(&key)
            .query_async(conn)
            .await
            .with_context(|| format!("GET {key}"))?;
        if let Some(value) = value {
            cursors.push(CursorState {
                stream: stream.into(),
                host: host.into(),
                value,
            });
        }
    }
    cursors.sort_by(|a, b| (&a.stream, &a.host).cmp(&(&b.stream, &b.host)));
    let mut skipped = Vec::new();
    for key in scan(conn, "repo_backfill:skipped:*").await? {
        let host = key.trim_start_matches("repo_backfill:skipped:").to_owned();
        let count: u64 = redis::cmd("XLEN")
            .arg(&key)
            .query_async(conn)
            .await
            .unwrap_or(0);
        let latest = newest_json(conn, &key, 5).await?;
        skipped.push(SkippedState {
            host,
            count,
            latest,
        });
    }
    skipped.sort_by(|a, b| a.host.cmp(&b.host));
    let mut dlqs = Vec::new();
    for stream in PIPELINE_STREAMS {
        dlqs.push(dlq_state(conn, &dlq_stream(stream)).await?);
    }
    let mut capped: Vec<CappedState> = dlqs
        .iter()
        .map(|d| CappedState {
            name: d.name.clone(),
            length: d.length,
        })
        .collect();
    for key in scan(conn, "*:skipped:*").await? {
        let length: u64 = redis::cmd("XLEN")
            .arg(&key)
            .query_async(conn)
            .await
            .with_context(|| format!("XLEN {key}"))?;
        capped.push(CappedState { name: key, length });
    }
    capped.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(RedisState {
        streams,
        cursors,
        skipped,
        dlqs,
        capped,
    })
}

async fn stream_state(conn: &mut MultiplexedConnection, name: &str) -> Result<StreamState> {
    let length: u64 = redis::cmd("XLEN")
        .arg(name)
        .query_async(conn)
        .await
        .with_context(|| format!("XLEN {name}"))?;
    let info: Value = match redis::cmd("XINFO")
        .arg("STREAM")
        .arg(name)
        .query_async(conn)
        .await
    {
        Ok(info) => info,
        // A stream nobody has written yet: nothing more to read.
        Err(e) if e.to_string().contains("no such key") => {
            return Ok(StreamState {
                name: name.into(),
                length,
                entries_added: 0,
                last_generated_id: "0-0".into(),
                groups: Vec::new(),
            });
        }
        Err(e) => return Err(e).with_context(|| format!("XINFO STREAM {name}")),
    };
    let info = as_map(&info);
    let last_generated_id = text(info.get("last-generated-id")).unwrap_or_else(|| "0-0".into());
    let entries_added = number(info.get("entries-added")).unwrap_or(length);
    let raw: Value = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(name)
        .query_async(conn)
        .await
        .with_context(|| format!("XINFO GROUPS {name}"))?;
    let mut groups = Vec::new();
    for group in as_list(&raw) {
        let group = as_map(group);
        let group_name = text(group.get("name")).unwrap_or_default();
        let last_delivered_id =
            text(group.get("last-delivered-id")).unwrap_or_else(|| "0-0".into());
        let ahead_of_stream = stream_id(&last_delivered_id) > stream_id(&last_generated_id);
        let consumers = consumers(conn, name, &group_name).await?;
        groups.push(GroupState {
            name: group_name,
            lag: number(group.get("lag")),
            pending: number(group.get("pending")).unwrap_or(0),
            entries_read: number(group.get("entries-read")),
            last_delivered_id,
            ahead_of_stream,
            consumers,
        });
    }
    Ok(StreamState {
        name: name.into(),
        length,
        entries_added,
        last_generated_id,
        groups,
    })
}

async fn consumers(
    conn: &mut MultiplexedConnection,
    stream: &str,
    group: &str,
) -> Result<Vec<ConsumerState>> {
    let raw: Value = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .with_context(|| format!("XINFO CONSUMERS {stream} {group}"))?;
    Ok(as_list(&raw)
        .iter()
        .map(|c| {
            let c = as_map(c);
            ConsumerState {
                name: text(c.get("name")).unwrap_or_default(),
                pending: number(c.get("pending")).unwrap_or(0),
                idle_ms: number(c.get("idle")).unwrap_or(0),
            }
        })
        .collect())
}

async fn dlq_state(conn: &mut MultiplexedConnection, name: &str) -> Result<DlqState> {
    let length: u64 = redis::cmd("XLEN")
        .arg(name)
        .query_async(conn)
        .await
        .with_context(|| format!("XLEN {name}"))?;
    let mut reasons: HashMap<String, u64> = HashMap::new();
    if length > 0 {
        let entries: Value = redis::cmd("XREVRANGE")
            .arg(name)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(DLQ_SAMPLE)
            .query_async(conn)
            .await
            .with_context(|| format!("XREVRANGE {name}"))?;
        for entry in as_list(&entries) {
            let fields = as_list(entry).get(1).map(as_map).unwrap_or_default();
            let reason = text(fields.get("reason")).unwrap_or_else(|| "(no reason)".into());
            *reasons.entry(reason_class(&reason)).or_default() += 1;
        }
    }
    let mut top_reasons: Vec<(String, u64)> = reasons.into_iter().collect();
    top_reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top_reasons.truncate(10);
    Ok(DlqState {
        name: name.into(),
        length,
        top_reasons,
    })
}

/// The reason without the specifics that make every entry unique (DIDs, offsets), so that equal
/// causes are counted together: the text up to the first `:` when there is one.
fn reason_class(reason: &str) -> String {
    let class = reason.split(':').next().unwrap_or(reason).trim();
    class.chars().take(120).collect()
}

/// The newest `count` entries' JSON payloads of a stream (any single field).
async fn newest_json(
    conn: &mut MultiplexedConnection,
    key: &str,
    count: usize,
) -> Result<Vec<serde_json::Value>> {
    let entries: Value = redis::cmd("XREVRANGE")
        .arg(key)
        .arg("+")
        .arg("-")
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await
        .with_context(|| format!("XREVRANGE {key}"))?;
    Ok(as_list(&entries)
        .iter()
        .filter_map(|entry| {
            let fields = as_list(entry).get(1).map(as_map)?;
            let payload = fields.values().next().and_then(|v| text(Some(v)))?;
            Some(serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)))
        })
        .collect())
}

async fn scan(conn: &mut MultiplexedConnection, pattern: &str) -> Result<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(conn)
            .await
            .with_context(|| format!("SCAN {pattern}"))?;
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// A stream id as a comparable pair.
pub fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

fn as_list(value: &Value) -> &[Value] {
    match value {
        Value::Array(items) => items,
        _ => &[],
    }
}

/// A reply that is a map in RESP3 or a flat key/value array in RESP2.
fn as_map(value: &Value) -> BTreeMap<String, Value> {
    match value {
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((text(Some(k))?, v.clone())))
            .collect(),
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((text(Some(k))?, v.clone())),
                _ => None,
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::BulkString(bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(value: Option<&Value>) -> Option<u64> {
    match value? {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(Some(other))?.parse().ok(),
    }
}
