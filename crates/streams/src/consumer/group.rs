//! Detecting and healing a consumer group that is ahead of its stream (contract rule 2).
//!
//! When a stream is deleted and refilled, a group can keep a last-delivered id beyond every entry:
//! `XREADGROUP >` then returns nothing forever and the stage sits idle. The check and the
//! `XGROUP SETID … 0` run in one script so a consumer cannot advance the group in between.

use std::sync::LazyLock;

use redis::aio::ConnectionManager;

use crate::error::{Result, StreamsError};

const HEAL_BODY: &str = r#"
local stream, group = KEYS[1], ARGV[1]
if redis.call('EXISTS', stream) == 0 then return {0, '', ''} end
local lastgen = field(redis.call('XINFO', 'STREAM', stream), 'last-generated-id')
for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  if field(g, 'name') == group then
    local last = field(g, 'last-delivered-id')
    if idcmp(last, lastgen) > 0 then
      redis.call('XGROUP', 'SETID', stream, group, '0')
      return {1, last, lastgen}
    end
    return {0, last, lastgen}
  end
end
return {0, '', lastgen}
"#;

static HEAL: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{}{}", crate::lua::HELPERS, HEAL_BODY)));

/// Heals `group` on `stream` if its last-delivered id is ahead of the stream's last generated id.
/// Returns whether it was healed; logs and counts a heal.
pub async fn heal_group_if_ahead(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
) -> Result<bool> {
    let (healed, last_delivered, last_generated): (i64, String, String) = HEAL
        .key(stream)
        .arg(group)
        .invoke_async(conn)
        .await
        .map_err(StreamsError::redis("group heal script", stream))?;
    if healed == 1 {
        tracing::warn!(
            stream,
            group,
            last_delivered,
            last_generated,
            "consumer group was ahead of its stream (stream deleted and refilled?); reset it to 0"
        );
        metrics::counter!("streams_group_heals_total", "stream" => stream.to_owned(), "group" => group.to_owned())
            .increment(1);
    }
    Ok(healed == 1)
}

/// Publishes the group's lag and pending count as gauges.
pub(crate) async fn publish_lag(
    conn: &mut ConnectionManager,
    stream: &str,
    group: &str,
) -> Result<()> {
    let reply: redis::RedisResult<redis::streams::StreamInfoGroupsReply> = redis::cmd("XINFO")
        .arg("GROUPS")
        .arg(stream)
        .query_async(conn)
        .await;
    let reply = match reply {
        Ok(r) => r,
        // The stream can vanish between checks; the reader recreates it.
        Err(e) if e.code() == Some("ERR") => return Ok(()),
        Err(e) => return Err(StreamsError::redis("XINFO GROUPS", stream)(e)),
    };
    if let Some(g) = reply.groups.iter().find(|g| g.name == group) {
        let labels = [("stream", stream.to_owned()), ("group", group.to_owned())];
        if let Some(lag) = g.lag {
            metrics::gauge!("streams_group_lag", &labels).set(lag as f64);
        }
        metrics::gauge!("streams_group_pending", &labels).set(g.pending as f64);
    }
    Ok(())
}
