//! Per-PDS-host politeness and fairness: how many repos of a host are held, how many of its
//! requests run at once, how fast they start, and when the host is parked after a 429.
//!
//! A repo first takes a [`HostTicket`] (a place in its host's bounded queue; when the queue is full
//! the caller sends the repo to the back of the input stream instead of holding it), then, for each
//! request, a [`RequestPermit`]: the host is not parked, one of its concurrency slots is free, and
//! its evenly spaced request slot has come. Requests start a little over `1/rps` apart rather than
//! in bursts, so no one-second window at the host ever sees more than `rps` of them.
//! Host state is kept while any repo of the host is held and forgotten after, so the map is
//! bounded by the repos held.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Limits applied to every host.
#[derive(Debug, Clone, Copy)]
pub struct HostLimits {
    /// Requests in flight per host.
    pub concurrency: usize,
    /// Requests started per second per host.
    pub rps: f64,
    /// Repos held per host (waiting or in work).
    pub queue: usize,
}

/// The gates of every host seen; cheap to clone.
#[derive(Clone)]
pub struct Hosts {
    limits: HostLimits,
    interval: Duration,
    map: Arc<Mutex<HashMap<String, Arc<HostState>>>>,
}

struct HostState {
    name: String,
    permits: Arc<Semaphore>,
    /// When the next request may start.
    next_start: tokio::sync::Mutex<Instant>,
    /// Until when the host asked us to stay away (429, or `RateLimit-Remaining: 0`).
    parked_until: Mutex<Option<Instant>>,
    held: AtomicUsize,
    /// Signalled when a held repo leaves the queue.
    freed: Notify,
}

/// The caller was asked to stop while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cancelled while waiting for a PDS host")]
pub struct Cancelled;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section is a single read or write: a panicking holder leaves no half state.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hosts {
    /// Gates with `limits` for every host.
    pub fn new(limits: HostLimits) -> Self {
        let rps = if limits.rps.is_finite() && limits.rps > 0.0 {
            limits.rps
        } else {
            f64::MAX
        };
        Self {
            limits: HostLimits {
                concurrency: limits.concurrency.max(1),
                queue: limits.queue.max(1),
                rps,
            },
            // 2% over 1/rps: a request that reaches the host a little sooner than the previous
            // one (a pooled connection after a fresh one) must not put rps+1 in its window.
            interval: Duration::from_secs_f64(1.02 / rps),
            map: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn state(&self, host: &str) -> Arc<HostState> {
        lock(&self.map)
            .entry(host.to_owned())
            .or_insert_with(|| {
                Arc::new(HostState {
                    name: host.to_owned(),
                    permits: Arc::new(Semaphore::new(self.limits.concurrency)),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                    parked_until: Mutex::new(None),
                    held: AtomicUsize::new(0),
                    freed: Notify::new(),
                })
            })
            .clone()
    }

    /// A place in `host`'s queue, waiting up to `wait` for one; `None` when it stayed full.
    pub async fn admit(
        &self,
        host: &str,
        wait: Duration,
        cancel: &CancellationToken,
    ) -> Result<Option<HostTicket>, Cancelled> {
        let deadline = Instant::now() + wait;
        let state = self.state(host);
        loop {
            let freed = state.freed.notified();
            tokio::pin!(freed);
            // Registered before the check, so a place freed in between is not missed.
            freed.as_mut().enable();
            let taken = state
                .held
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < self.limits.queue).then_some(n + 1)
                })
                .is_ok();
            if taken {
                metrics::gauge!("backfiller_host_held", "host" => host.to_owned()).increment(1.0);
                return Ok(Some(HostTicket {
                    hosts: self.clone(),
                    state: state.clone(),
                }));
            }
            tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                () = tokio::time::sleep_until(deadline) => {
                    self.forget_if_idle(&state);
                    return Ok(None);
                }
                () = &mut freed => {}
            }
        }
    }

    /// Drops the state of a host nobody holds, keeping the map bounded.
    fn forget_if_idle(&self, state: &Arc<HostState>) {
        let mut map = lock(&self.map);
        if state.held.load(Ordering::Acquire) == 0
            && parked_for(state).is_none()
            && map
                .get(&state.name)
                .is_some_and(|s| Arc::ptr_eq(s, state) && Arc::strong_count(s) <= 2)
        {
            map.remove(&state.name);
        }
    }

    /// Hosts currently tracked (for tests and a gauge).
    pub fn tracked(&self) -> usize {
        lock(&self.map).len()
    }
}

fn parked_for(state: &HostState) -> Option<Duration> {
    let until = (*lock(&state.parked_until))?;
    let left = until.saturating_duration_since(Instant::now());
    (!left.is_zero()).then_some(left)
}

/// A repo's place in its host's queue; released on drop.
pub struct HostTicket {
    hosts: Hosts,
    state: Arc<HostState>,
}

/// Leave to send one request to the host; hold it until the response body is read.
pub struct RequestPermit {
    host: OwnedSemaphorePermit,
    global: OwnedSemaphorePermit,
}

impl RequestPermit {
    /// `(host slot, process-wide slot)`: the first is given back once the body is read, the
    /// second kept for the rest of the repo's work.
    pub fn split(self) -> (OwnedSemaphorePermit, OwnedSemaphorePermit) {
        (self.host, self.global)
    }
}

impl HostTicket {
    /// The host's name.
    pub fn host(&self) -> &str {
        &self.state.name
    }

    /// Waits until the host is not parked and one of its request slots is free, then for a slot
    /// of `global` (repos in flight in the process), then for the host's next start time. The
    /// global slot is taken last so a parked or slow host never holds one while it waits, and
    /// before the start time is reserved so a wait for it cannot bunch requests together.
    pub async fn request(
        &self,
        global: &Arc<Semaphore>,
        cancel: &CancellationToken,
    ) -> Result<RequestPermit, Cancelled> {
        let state = &self.state;
        loop {
            self.wait_unparked(cancel).await?;
            let host = tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                p = state.permits.clone().acquire_owned() => p.map_err(|_| Cancelled)?,
            };
            let global = tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                p = global.clone().acquire_owned() => p.map_err(|_| Cancelled)?,
            };
            // The pace lock is held across the wait, so each start is measured from the previous
            // request's real start, never from a schedule a late wake-up has already missed.
            let mut next = tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                next = state.next_start.lock() => next,
            };
            tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                () = tokio::time::sleep_until(*next) => {}
            }
            // Parked while we waited for our turn: wait again.
            if parked_for(state).is_none() {
                *next = Instant::now() + self.hosts.interval;
                return Ok(RequestPermit { host, global });
            }
        }
    }

    async fn wait_unparked(&self, cancel: &CancellationToken) -> Result<(), Cancelled> {
        while let Some(left) = parked_for(&self.state) {
            tokio::select! {
                () = cancel.cancelled() => return Err(Cancelled),
                () = tokio::time::sleep(left) => {}
            }
        }
        Ok(())
    }

    /// Keeps every request to this host waiting for `wait` (a 429, or an exhausted window).
    pub fn park(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut parked = lock(&self.state.parked_until);
        if parked.is_none_or(|p| p < until) {
            *parked = Some(until);
        }
        tracing::info!(host = %self.state.name, wait_ms = wait.as_millis() as u64, "PDS host parked");
    }

    /// How long the host stays parked, if it is.
    pub fn parked_for(&self) -> Option<Duration> {
        parked_for(&self.state)
    }
}

impl Drop for HostTicket {
    fn drop(&mut self) {
        self.state.held.fetch_sub(1, Ordering::AcqRel);
        self.state.freed.notify_one();
        metrics::gauge!("backfiller_host_held", "host" => self.state.name.clone()).decrement(1.0);
        self.hosts.forget_if_idle(&self.state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(concurrency: usize, rps: f64, queue: usize) -> Hosts {
        Hosts::new(HostLimits {
            concurrency,
            rps,
            queue,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn queue_is_bounded_per_host_and_freed_on_drop() {
        let h = hosts(1, 1000.0, 2);
        let c = CancellationToken::new();
        let a = h.admit("a", Duration::ZERO, &c).await.unwrap().unwrap();
        let _b = h.admit("a", Duration::ZERO, &c).await.unwrap().unwrap();
        assert!(h.admit("a", Duration::ZERO, &c).await.unwrap().is_none());
        // Another host is not affected.
        let other = h.admit("b", Duration::ZERO, &c).await.unwrap();
        assert!(other.is_some());
        drop(other);
        let waiter = {
            let h = h.clone();
            let c = c.clone();
            tokio::spawn(async move { h.admit("a", Duration::from_secs(10), &c).await })
        };
        tokio::task::yield_now().await;
        drop(a);
        assert!(waiter.await.unwrap().unwrap().is_some());
        assert_eq!(h.tracked(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn requests_are_spaced_and_parking_delays_them() {
        let h = hosts(4, 10.0, 8);
        let c = CancellationToken::new();
        let g = Arc::new(Semaphore::new(1));
        let t = h.admit("a", Duration::ZERO, &c).await.unwrap().unwrap();
        let begin = Instant::now();
        let mut starts = Vec::new();
        for _ in 0..5 {
            let p = t.request(&g, &c).await.unwrap();
            starts.push(Instant::now() - begin);
            drop(p);
        }
        // Paused time: the spacing is exact.
        assert_eq!(
            starts[4] - starts[0],
            Duration::from_secs_f64(4.0 * 1.02 / 10.0)
        );
        t.park(Duration::from_secs(3));
        assert!(t.parked_for().is_some());
        let before = Instant::now();
        drop(t.request(&g, &c).await.unwrap());
        assert!(Instant::now() - before >= Duration::from_secs(3));
        c.cancel();
        t.park(Duration::from_secs(3));
        assert_eq!(t.request(&g, &c).await.err(), Some(Cancelled));
    }
}
