//! What the harness's tests share: the longest wait for any condition, a private Redis, a
//! signing key per seed, and each area's builders and probes in its own module.

use std::time::Duration;

use harness::services::TestRedis;
use protocol::crypto::{KeyKind, Keypair};
use redis::aio::MultiplexedConnection;

pub mod backfiller;
pub mod indexer;
pub mod ingester;
pub mod mock;
pub mod streams;

/// Longest wait for any condition in these tests (a loaded 2-core machine runs several at once).
pub const DEADLINE: Duration = Duration::from_secs(120);

/// A private Redis and a client for it.
pub async fn redis() -> (TestRedis, redis::Client) {
    let server = TestRedis::start().await.expect("start redis");
    let client = redis::Client::open(server.url().as_str()).expect("client");
    (server, client)
}

/// A plain connection for probes, with timeouts generous enough for a loaded machine (the
/// client's default response timeout is 500 ms).
pub async fn conn(client: &redis::Client) -> MultiplexedConnection {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(10)))
        .set_response_timeout(Some(Duration::from_secs(30)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .expect("connect")
}

/// A fixed signing key per seed, different for every seed.
pub fn key(seed: u64) -> Keypair {
    let mut bytes = [7u8; 32];
    bytes[..8].copy_from_slice(&(seed + 1).to_le_bytes());
    Keypair::from_secret_bytes(KeyKind::K256, &bytes).expect("key")
}
