//! The two kinds of Redis connection the stages need.
//!
//! redis-rs times out every response after 500 ms by default. That is right for ordinary commands on a
//! healthy server but wrong for a `XREADGROUP … BLOCK`, which is meant to wait, and too tight for a
//! large MULTI/EXEC on a busy machine. Both kinds reconnect by themselves after a failure.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::error::{Result, StreamsError};

/// How long an ordinary command (or a whole pipeline) may take before it counts as failed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// A shared, reconnecting connection for ordinary commands and pipelines.
pub async fn command_connection(client: &redis::Client) -> Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(3);
    ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(StreamsError::redis(
            "connect",
            client.get_connection_info().addr().to_string(),
        ))
}

/// A dedicated connection for blocking reads: it may wait up to `block` plus a margin for an answer.
/// Use one per blocking reader; a blocked connection serves nobody else.
pub async fn blocking_connection(
    client: &redis::Client,
    block: Duration,
) -> Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_response_timeout(Some(block + COMMAND_TIMEOUT))
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_number_of_retries(3);
    ConnectionManager::new_with_config(client.clone(), config)
        .await
        .map_err(StreamsError::redis(
            "connect",
            client.get_connection_info().addr().to_string(),
        ))
}
