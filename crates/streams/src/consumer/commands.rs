//! The Redis commands of a consumer, and the parsing of their raw replies.
//!
//! Replies are parsed by hand from [`redis::Value`] because a history read can return an entry whose
//! data is gone (`[id, nil]`), which typed replies do not represent; such an entry becomes a
//! [`RawEntry`] with no fields.

use redis::Value;
use redis::aio::ConnectionManager;

use crate::error::{Result, StreamsError};

/// An entry as read: its id and fields (none when it was deleted while pending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawEntry {
    pub id: String,
    pub fields: Vec<(String, Vec<u8>)>,
}

/// What one XAUTOCLAIM call returned.
#[derive(Debug, Default)]
pub(crate) struct AutoClaimed {
    pub next: String,
    pub entries: Vec<RawEntry>,
    pub deleted: Vec<String>,
}

/// Creates `group` on `stream` at the start of the stream (creating the stream too); a group that
/// exists already is left exactly as it is.
pub(crate) async fn ensure_group(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
) -> Result<bool> {
    let r: redis::RedisResult<()> = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match r {
        Ok(()) => Ok(true),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(false),
        Err(e) => Err(StreamsError::redis("XGROUP CREATE", stream)(e)),
    }
}

/// Whether an error says the group (or its stream) no longer exists.
pub(crate) fn is_nogroup(err: &StreamsError) -> bool {
    matches!(err, StreamsError::Redis { source, .. } if source.code() == Some("NOGROUP"))
}

/// `XREADGROUP … STREAMS s1 … sk id1 … idk`; `block` only for new entries (`>`).
pub(crate) async fn read_group(
    conn: &mut ConnectionManager,
    group: &str,
    consumer: &str,
    count: usize,
    block_ms: Option<u64>,
    streams: &[(&str, &str)],
) -> Result<Vec<(String, Vec<RawEntry>)>> {
    let key = streams.first().map(|(s, _)| *s).unwrap_or_default();
    let mut cmd = redis::cmd("XREADGROUP");
    cmd.arg("GROUP")
        .arg(group)
        .arg(consumer)
        .arg("COUNT")
        .arg(count);
    if let Some(ms) = block_ms {
        cmd.arg("BLOCK").arg(ms);
    }
    cmd.arg("STREAMS");
    for (stream, _) in streams {
        cmd.arg(*stream);
    }
    for (_, id) in streams {
        cmd.arg(*id);
    }
    let value: Value = cmd
        .query_async(conn)
        .await
        .map_err(StreamsError::redis("XREADGROUP", key))?;
    parse_read_reply(value).ok_or_else(|| StreamsError::reply("XREADGROUP", key, "malformed reply"))
}

/// `XAUTOCLAIM stream group consumer min_idle start COUNT count`.
pub(crate) async fn autoclaim(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    consumer: &str,
    min_idle_ms: u64,
    start: &str,
    count: usize,
) -> Result<AutoClaimed> {
    let value: Value = redis::cmd("XAUTOCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(min_idle_ms)
        .arg(start)
        .arg("COUNT")
        .arg(count)
        .query_async(conn)
        .await
        .map_err(StreamsError::redis("XAUTOCLAIM", stream))?;
    parse_autoclaim(value)
        .ok_or_else(|| StreamsError::reply("XAUTOCLAIM", stream, "malformed reply"))
}

/// Claims one entry back for a retry: the delivery count goes up and the entry's data comes back.
/// Empty when the entry is no longer pending in the group.
pub(crate) async fn claim_for_retry(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    consumer: &str,
    id: &str,
) -> Result<Vec<RawEntry>> {
    let value: Value = redis::cmd("XCLAIM")
        .arg(stream)
        .arg(group)
        .arg(consumer)
        .arg(0)
        .arg(id)
        .query_async(conn)
        .await
        .map_err(StreamsError::redis("XCLAIM", stream))?;
    parse_entries(value).ok_or_else(|| StreamsError::reply("XCLAIM", stream, "malformed reply"))
}

/// Resets the idle time of entries this consumer holds, without counting a delivery, so nobody
/// claims them while they are in work.
pub(crate) async fn touch(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    consumer: &str,
    ids: &[&str],
) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut cmd = redis::cmd("XCLAIM");
    cmd.arg(stream).arg(group).arg(consumer).arg(0);
    for id in ids {
        cmd.arg(*id);
    }
    cmd.arg("JUSTID");
    let _: Value = cmd
        .query_async(conn)
        .await
        .map_err(StreamsError::redis("XCLAIM JUSTID", stream))?;
    Ok(())
}

/// The delivery count of each id, from `XPENDING stream group id id 1` (pipelined); `None` for an
/// id that is no longer pending.
pub(crate) async fn delivery_counts(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
    ids: &[&str],
) -> Result<Vec<Option<u64>>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = redis::pipe();
    for id in ids {
        pipe.cmd("XPENDING")
            .arg(stream)
            .arg(group)
            .arg(*id)
            .arg(*id)
            .arg(1);
    }
    let replies: Vec<Value> = pipe
        .query_async(conn)
        .await
        .map_err(StreamsError::redis("XPENDING", stream))?;
    if replies.len() != ids.len() {
        return Err(StreamsError::reply(
            "XPENDING",
            stream,
            "reply count differs",
        ));
    }
    Ok(replies.into_iter().map(parse_pending_count).collect())
}

fn parse_pending_count(value: Value) -> Option<u64> {
    let Value::Array(rows) = value else {
        return None;
    };
    let Some(Value::Array(row)) = rows.into_iter().next() else {
        return None;
    };
    match row.get(3) {
        Some(Value::Int(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// Text of a bulk or simple string.
pub(crate) fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

fn bytes(value: Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b),
        Value::SimpleString(s) => Some(s.into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

/// One `[id, [f1, v1, …] | nil]`.
fn parse_entry(value: Value) -> Option<RawEntry> {
    let Value::Array(parts) = value else {
        return None;
    };
    let mut parts = parts.into_iter();
    let id = text(&parts.next()?)?;
    let fields = match parts.next() {
        None | Some(Value::Nil) => Vec::new(),
        Some(Value::Array(flat)) => {
            let mut fields = Vec::with_capacity(flat.len() / 2);
            let mut flat = flat.into_iter();
            while let Some(k) = flat.next() {
                let k = text(&k)?;
                let v = bytes(flat.next()?)?;
                fields.push((k, v));
            }
            fields
        }
        Some(Value::Map(pairs)) => {
            let mut fields = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                fields.push((text(&k)?, bytes(v)?));
            }
            fields
        }
        Some(_) => return None,
    };
    Some(RawEntry { id, fields })
}

fn parse_entries(value: Value) -> Option<Vec<RawEntry>> {
    match value {
        Value::Nil => Some(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            // XCLAIM may answer nil for an entry deleted under it.
            .filter(|v| !matches!(v, Value::Nil))
            .map(parse_entry)
            .collect(),
        _ => None,
    }
}

fn parse_read_reply(value: Value) -> Option<Vec<(String, Vec<RawEntry>)>> {
    let pairs: Vec<(Value, Value)> = match value {
        Value::Nil => return Some(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::Array(kv) => {
                    let mut kv = kv.into_iter();
                    Some((kv.next()?, kv.next()?))
                }
                _ => None,
            })
            .collect::<Option<_>>()?,
        Value::Map(pairs) => pairs,
        _ => return None,
    };
    pairs
        .into_iter()
        .map(|(k, v)| Some((text(&k)?, parse_entries(v)?)))
        .collect()
}

fn parse_autoclaim(value: Value) -> Option<AutoClaimed> {
    let Value::Array(parts) = value else {
        return None;
    };
    let mut parts = parts.into_iter();
    let next = text(&parts.next()?)?;
    let entries = parse_entries(parts.next()?)?;
    let deleted = match parts.next() {
        Some(Value::Array(ids)) => ids.iter().map(text).collect::<Option<_>>()?,
        _ => Vec::new(),
    };
    Some(AutoClaimed {
        next,
        entries,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_read_replies_with_deleted_entries() {
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), Value::Array(vec![bulk("f"), bulk("v")])]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
            ]),
        ])]);
        let parsed = parse_read_reply(reply).unwrap();
        assert_eq!(parsed.len(), 1);
        let (stream, entries) = &parsed[0];
        assert_eq!(stream, "s");
        assert_eq!(entries[0].fields, vec![("f".to_string(), b"v".to_vec())]);
        assert_eq!(entries[1].id, "2-0");
        assert!(entries[1].fields.is_empty());
        assert_eq!(parse_read_reply(Value::Nil).unwrap().len(), 0);
    }

    #[test]
    fn malformed_replies_are_refused_not_panicked_on() {
        assert!(parse_read_reply(Value::Int(3)).is_none());
        assert!(parse_read_reply(Value::Array(vec![Value::Array(vec![bulk("s")])])).is_none());
        let odd = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            Value::Array(vec![bulk("f")]),
        ])]);
        assert!(parse_entries(odd).is_none());
        assert!(parse_autoclaim(Value::Array(vec![])).is_none());
        assert_eq!(parse_pending_count(Value::Array(vec![])), None);
    }

    #[test]
    fn parses_autoclaim_and_pending() {
        let reply = Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![Value::Array(vec![
                bulk("1-0"),
                Value::Array(vec![bulk("f"), bulk("v")]),
            ])]),
            Value::Array(vec![bulk("3-0")]),
        ]);
        let c = parse_autoclaim(reply).unwrap();
        assert_eq!(c.next, "0-0");
        assert_eq!(c.entries.len(), 1);
        assert_eq!(c.deleted, vec!["3-0".to_string()]);
        let pending = Value::Array(vec![Value::Array(vec![
            bulk("1-0"),
            bulk("c"),
            Value::Int(5),
            Value::Int(3),
        ])]);
        assert_eq!(parse_pending_count(pending), Some(3));
    }
}
