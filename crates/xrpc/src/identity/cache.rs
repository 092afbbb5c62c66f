//! A bounded TTL cache in which concurrent lookups of one key share one fetch.
//!
//! Each key maps to a slot holding a `OnceCell`: the first caller runs the fetch, later callers
//! wait on the same cell. Successes live for the positive TTL and permanent failures (not found,
//! bad document) for the negative TTL; transient failures are handed to everyone waiting and then
//! dropped, so the next caller tries again. When full, the oldest slots are evicted first; an
//! insertion-order queue makes that O(1) amortised instead of a scan.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use super::IdentityError;

type Outcome<V> = Result<V, IdentityError>;

struct Slot<V> {
    cell: Arc<OnceCell<Outcome<V>>>,
    created: Instant,
    generation: u64,
}

struct Inner<V> {
    slots: HashMap<String, Slot<V>>,
    /// Keys in insertion order, with the generation they were inserted under; entries whose
    /// slot was since replaced or removed are skipped when popped.
    order: VecDeque<(String, u64)>,
    next_generation: u64,
}

/// See the module documentation.
pub(crate) struct Cache<V> {
    inner: Mutex<Inner<V>>,
    ttl: Duration,
    negative_ttl: Duration,
    max_entries: usize,
}

impl<V: Clone> Cache<V> {
    /// A cache of at most `max_entries` keys (at least one).
    pub(crate) fn new(ttl: Duration, negative_ttl: Duration, max_entries: usize) -> Self {
        Cache {
            inner: Mutex::new(Inner {
                slots: HashMap::new(),
                order: VecDeque::new(),
                next_generation: 0,
            }),
            ttl,
            negative_ttl,
            max_entries: max_entries.max(1),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<V>> {
        // The map stays consistent even if a holder panicked: every mutation is a single step.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn is_fresh(&self, slot: &Slot<V>, now: Instant) -> bool {
        let ttl = match slot.cell.get() {
            None => return true, // in flight
            Some(Ok(_)) => self.ttl,
            Some(Err(_)) => self.negative_ttl,
        };
        now.saturating_duration_since(slot.created) < ttl
    }

    /// The cached outcome for `key`, or the outcome of `fetch` (run by one caller at a time).
    pub(crate) async fn get_or_fetch<F, Fut>(&self, key: &str, fetch: F) -> Outcome<V>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Outcome<V>>,
    {
        let (cell, generation) = self.slot_for(key);
        let outcome = cell.get_or_init(fetch).await.clone();
        if let Err(error) = &outcome
            && !error.is_permanent()
        {
            self.remove_generation(key, generation);
        }
        outcome
    }

    fn slot_for(&self, key: &str) -> (Arc<OnceCell<Outcome<V>>>, u64) {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(slot) = inner.slots.get(key)
            && self.is_fresh(slot, now)
        {
            return (slot.cell.clone(), slot.generation);
        }
        let generation = inner.next_generation;
        inner.next_generation += 1;
        let cell = Arc::new(OnceCell::new());
        inner.slots.insert(
            key.to_owned(),
            Slot {
                cell: cell.clone(),
                created: now,
                generation,
            },
        );
        inner.order.push_back((key.to_owned(), generation));
        while inner.slots.len() > self.max_entries {
            let Some((old_key, old_generation)) = inner.order.pop_front() else {
                break;
            };
            if inner
                .slots
                .get(&old_key)
                .is_some_and(|slot| slot.generation == old_generation)
            {
                inner.slots.remove(&old_key);
            }
        }
        // Replaced and removed slots leave stale queue entries; compact when they dominate so
        // the queue stays proportional to the map.
        if inner.order.len() > 2 * self.max_entries + 16 {
            let Inner { slots, order, .. } = &mut *inner;
            order.retain(|(k, g)| slots.get(k).is_some_and(|slot| slot.generation == *g));
        }
        (cell, generation)
    }

    fn remove_generation(&self, key: &str, generation: u64) {
        let mut inner = self.lock();
        if inner
            .slots
            .get(key)
            .is_some_and(|slot| slot.generation == generation)
        {
            inner.slots.remove(key);
        }
    }

    /// Forgets `key`, so the next lookup fetches again.
    pub(crate) fn invalidate(&self, key: &str) {
        self.lock().slots.remove(key);
    }

    /// Number of keys held (including in-flight and expired ones not yet replaced).
    pub(crate) fn len(&self) -> usize {
        self.lock().slots.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn transient() -> IdentityError {
        IdentityError::HandleUnavailable {
            handle: "x.test".into(),
            reason: "timeout".into(),
        }
    }

    #[tokio::test]
    async fn concurrent_lookups_share_one_fetch() {
        // Current-thread runtime: a task runs until it parks, so once a task has counted itself
        // as arrived it is already waiting on the cell (or running the one fetch).
        let cache = Arc::new(Cache::<u32>::new(
            Duration::from_secs(60),
            Duration::ZERO,
            10,
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let arrived = Arc::new(AtomicUsize::new(0));
        let (release, wait) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let cache = cache.clone();
            let fetches = fetches.clone();
            let arrived = arrived.clone();
            let mut wait = wait.clone();
            tasks.push(tokio::spawn(async move {
                arrived.fetch_add(1, Ordering::SeqCst);
                cache
                    .get_or_fetch("k", || async move {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        let _ = wait.wait_for(|go| *go).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        tokio::time::timeout(Duration::from_secs(30), async {
            while arrived.load(Ordering::SeqCst) < 8 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("every lookup started");
        let _ = release.send(true);
        for task in tasks {
            assert_eq!(task.await.expect("join").expect("value"), 7);
        }
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn transient_errors_are_not_cached_but_permanent_ones_are() {
        let cache = Cache::<u32>::new(Duration::from_secs(60), Duration::from_secs(60), 10);
        assert!(
            cache
                .get_or_fetch("k", || async { Err(transient()) })
                .await
                .is_err()
        );
        assert_eq!(
            cache.get_or_fetch("k", || async { Ok(1) }).await.ok(),
            Some(1)
        );

        let gone = || IdentityError::NotFound {
            did: "did:plc:x".into(),
            message: "gone".into(),
        };
        assert!(
            cache
                .get_or_fetch("g", || async { Err(gone()) })
                .await
                .is_err()
        );
        // Still the cached NotFound, not the new fetch.
        assert!(cache.get_or_fetch("g", || async { Ok(2) }).await.is_err());
        cache.invalidate("g");
        assert_eq!(
            cache.get_or_fetch("g", || async { Ok(2) }).await.ok(),
            Some(2)
        );
    }

    #[tokio::test]
    async fn expired_entries_are_refetched() {
        let cache = Cache::<u32>::new(Duration::ZERO, Duration::ZERO, 10);
        assert_eq!(
            cache.get_or_fetch("k", || async { Ok(1) }).await.ok(),
            Some(1)
        );
        assert_eq!(
            cache.get_or_fetch("k", || async { Ok(2) }).await.ok(),
            Some(2)
        );
    }

    #[tokio::test]
    async fn size_is_bounded_oldest_first() {
        let cache = Cache::<u32>::new(Duration::from_secs(60), Duration::ZERO, 3);
        for (i, key) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
            let value = u32::try_from(i).expect("small");
            cache
                .get_or_fetch(key, || async move { Ok(value) })
                .await
                .ok();
        }
        assert_eq!(cache.len(), 3);
        // "a" was evicted: fetched again; "e" is still cached.
        assert_eq!(
            cache.get_or_fetch("a", || async { Ok(99) }).await.ok(),
            Some(99)
        );
        assert_eq!(
            cache.get_or_fetch("e", || async { Ok(99) }).await.ok(),
            Some(4)
        );
        for i in 0..100 {
            cache.invalidate("a");
            cache.get_or_fetch("a", || async move { Ok(i) }).await.ok();
        }
        assert!(cache.lock().order.len() <= 2 * 3 + 16);
    }
}
