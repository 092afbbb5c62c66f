//! Waiting for a condition with a deadline, instead of sleeping a fixed time.

use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, sleep};

/// Polls `probe` until it returns `Ok(Some(value))`, or fails once `timeout` has passed.
///
/// `Ok(None)` means "not yet"; `Err` means the condition can never hold (for example the process
/// being waited on has exited) and ends the wait at once. The poll interval starts small and grows,
/// so fast conditions are seen quickly and slow ones do not burn CPU.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    let mut interval = Duration::from_millis(10);
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(200));
    }
}
