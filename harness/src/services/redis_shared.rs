//! A private DB index on a shared Redis server (`HARNESS_REDIS_URL`).
//!
//! Tests running in parallel processes each claim one of the DB indexes 1..=15 with a lock key in
//! DB 0 (`SET harness:lock:N <token> NX EX 3600`: the expiry frees indexes of crashed test
//! processes), flush it, and on drop flush it again and release the lock if it is still theirs.

use std::time::Duration;

use url::Url;

use super::wait::wait_until;

/// How long a test waits for a DB index when all are claimed by other tests.
const CLAIM_TIMEOUT: Duration = Duration::from_secs(300);
/// Lock lifetime: longer than any test, short enough to recover indexes from killed runs.
const LOCK_SECONDS: u64 = 3600;
/// Releases the lock only when it still holds our token.
const RELEASE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// One claimed DB index on a shared server.
pub(crate) struct SharedRedis {
    base: Url,
    index: u8,
    token: String,
    url: String,
}

impl SharedRedis {
    /// Claims a free DB index on the server at `base_url` and empties it.
    pub(crate) async fn claim(base_url: &str) -> anyhow::Result<SharedRedis> {
        let base = Url::parse(base_url)
            .map_err(|e| anyhow::anyhow!("HARNESS_REDIS_URL {base_url:?} is not a URL: {e}"))?;
        let token = format!(
            "{}:{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default()
        );
        let lock_url = with_db(&base, 0);
        let client = redis::Client::open(lock_url.as_str())?;
        let con = client.get_multiplexed_async_connection().await?;
        let index = wait_until(
            "a free DB index on HARNESS_REDIS_URL",
            CLAIM_TIMEOUT,
            || {
                let mut con = con.clone();
                let token = token.clone();
                async move {
                    for index in 1..=15u8 {
                        let claimed: Option<String> = redis::cmd("SET")
                            .arg(format!("harness:lock:{index}"))
                            .arg(&token)
                            .arg("NX")
                            .arg("EX")
                            .arg(LOCK_SECONDS)
                            .query_async(&mut con)
                            .await?;
                        if claimed.is_some() {
                            return Ok(Some(index));
                        }
                    }
                    Ok(None)
                }
            },
        )
        .await?;
        let shared = SharedRedis {
            url: with_db(&base, index),
            base,
            index,
            token,
        };
        let client = redis::Client::open(shared.url.as_str())?;
        let mut con = client.get_multiplexed_async_connection().await?;
        redis::cmd("FLUSHDB").query_async::<()>(&mut con).await?;
        Ok(shared)
    }

    /// The URL that selects the claimed DB index.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    fn release(&self) -> redis::RedisResult<()> {
        let timeout = Duration::from_secs(2);
        let mut con =
            redis::Client::open(self.url.as_str())?.get_connection_with_timeout(timeout)?;
        redis::cmd("FLUSHDB").query::<()>(&mut con)?;
        let mut lock = redis::Client::open(with_db(&self.base, 0).as_str())?
            .get_connection_with_timeout(timeout)?;
        redis::Script::new(RELEASE_SCRIPT)
            .key(format!("harness:lock:{}", self.index))
            .arg(&self.token)
            .invoke::<i64>(&mut lock)?;
        Ok(())
    }
}

impl Drop for SharedRedis {
    fn drop(&mut self) {
        // Drop cannot be async; a short blocking exchange is acceptable in tests.
        if let Err(e) = self.release() {
            tracing::warn!(index = self.index, "could not release shared Redis DB: {e}");
        }
    }
}

/// `base` with its path set to `/index`, which selects the DB index.
fn with_db(base: &Url, index: u8) -> String {
    let mut url = base.clone();
    url.set_path(&format!("/{index}"));
    url.to_string()
}
