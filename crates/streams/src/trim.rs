//! Trimming streams without losing anything a group still needs (contract rule 8).
//!
//! A stream is cut below the smallest id any group on it may still need: its oldest pending entry, or
//! the entry after its last-delivered id when nothing is pending. A group ahead of its stream (see
//! [`crate::consumer::heal_group_if_ahead`]) blocks trimming until healed, and a stream without
//! groups is not trimmed. One script reads the groups and trims, so no group moves in between.
//! Every consumer runs it on the streams it reads (see the consumer's maintenance task).

use std::sync::LazyLock;

use redis::aio::ConnectionManager;

use crate::error::{Result, StreamsError};

const TRIM_BODY: &str = r#"
local stream, mode = KEYS[1], ARGV[1]
if redis.call('EXISTS', stream) == 0 then return {0, '', ''} end
local lastgen = field(redis.call('XINFO', 'STREAM', stream), 'last-generated-id')
local groups = redis.call('XINFO', 'GROUPS', stream)
if #groups == 0 then return {0, '', ''} end
local min = nil
for _, g in ipairs(groups) do
  local name = field(g, 'name')
  local last = field(g, 'last-delivered-id')
  if idcmp(last, lastgen) > 0 then return {0, '', name} end
  local bound
  if tonumber(field(g, 'pending')) > 0 then
    bound = redis.call('XPENDING', stream, name)[2]
  else
    bound = idnext(last)
  end
  if min == nil or idcmp(bound, min) < 0 then min = bound end
end
local removed
if mode == '~' then
  -- Without LIMIT 0, an approximate trim removes at most 100 nodes' worth of entries per call,
  -- which a fast consumer outruns: the stream would grow by the difference for ever.
  removed = redis.call('XTRIM', stream, 'MINID', '~', min, 'LIMIT', 0)
else
  removed = redis.call('XTRIM', stream, 'MINID', '=', min)
end
return {removed, min, ''}
"#;

static TRIM: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{}{}", crate::lua::HELPERS, TRIM_BODY)));

/// What one trim did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrimReport {
    /// Entries removed.
    pub removed: u64,
    /// The id below which entries were removed (`None` when nothing could be trimmed).
    pub min_id: Option<String>,
    /// A group ahead of its stream that prevented trimming.
    pub blocked_by: Option<String>,
}

/// Trims `stream` below what every group on it still needs. `exact` trims to the id; otherwise whole
/// radix-tree nodes only (`MINID ~`, much cheaper, may keep a few more entries).
pub async fn trim_stream(
    conn: &mut ConnectionManager,
    stream: &str,
    exact: bool,
) -> Result<TrimReport> {
    let (removed, min_id, blocked_by): (u64, String, String) = TRIM
        .key(stream)
        .arg(if exact { "=" } else { "~" })
        .invoke_async(conn)
        .await
        .map_err(StreamsError::redis("trim script", stream))?;
    if removed > 0 {
        metrics::counter!("streams_trimmed_total", "stream" => stream.to_owned())
            .increment(removed);
    }
    if !blocked_by.is_empty() {
        tracing::warn!(
            stream,
            group = blocked_by,
            "not trimming: group is ahead of its stream"
        );
    }
    Ok(TrimReport {
        removed,
        min_id: (!min_id.is_empty()).then_some(min_id),
        blocked_by: (!blocked_by.is_empty()).then_some(blocked_by),
    })
}
