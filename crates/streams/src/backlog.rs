//! What a stream's consumers have not yet handled: the measure back-pressure waits on.
//!
//! The contract's "Backpressure": the largest backlog among the stream's groups, each group's
//! backlog being its lag (entries not yet delivered) plus its pending entries (delivered, not yet
//! acknowledged); the stream's length when it has no group yet. Entries that every group has
//! acknowledged never count, so a producer whose consumers keep up never waits, however much it
//! has written. When Redis cannot tell a group's lag (entries were deleted inside the range it has
//! still to read), the stream's length stands in for it: never less than the truth, and bounded,
//! since consumers trim what they have handled. One script reads everything, so the figures come
//! from one moment.

use std::sync::LazyLock;

use redis::aio::ConnectionManager;

use crate::error::{Result, StreamsError};

const BACKLOG_BODY: &str = r#"
local stream = KEYS[1]
if redis.call('EXISTS', stream) == 0 then return 0 end
local len = redis.call('XLEN', stream)
local groups = redis.call('XINFO', 'GROUPS', stream)
if #groups == 0 then return len end
local worst = 0
for _, g in ipairs(groups) do
  local lag = field(g, 'lag')
  local backlog
  if lag then
    backlog = tonumber(lag) + tonumber(field(g, 'pending'))
  else
    backlog = len
  end
  if backlog > worst then worst = backlog end
end
return worst
"#;

static BACKLOG: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(&format!("{}{}", crate::lua::HELPERS, BACKLOG_BODY)));

/// The unhandled backlog of `stream`: the largest lag plus pending among its groups, its length
/// when it has no group, 0 when it does not exist.
pub async fn unhandled_backlog(conn: &mut ConnectionManager, stream: &str) -> Result<u64> {
    BACKLOG
        .key(stream)
        .invoke_async(conn)
        .await
        .map_err(StreamsError::redis("backlog script", stream))
}
