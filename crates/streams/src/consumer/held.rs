//! The entries a consumer holds: read from Redis and not yet acknowledged.
//!
//! Their number is bounded by a semaphore (a slot is taken before an entry is read and given back
//! after it is acknowledged) so memory stays flat however slow the handler. The set also lets the
//! keep-alive touch every held entry, and keeps an entry claimed twice from being handled twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

/// `(stream, id)`.
type EntryKey = (Arc<str>, Arc<str>);

/// Shared between the reader, the scheduler, the acker and the keep-alive.
pub(crate) struct Held {
    slots: Semaphore,
    touched: Mutex<HashMap<EntryKey, Instant>>,
}

impl Held {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: Semaphore::new(capacity),
            touched: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> MutexGuard<'_, HashMap<EntryKey, Instant>> {
        // The map stays consistent even if a holder panicked: every operation is one insert/remove.
        self.touched.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for at least `min` free slots and takes up to `max` of them.
    pub(crate) async fn reserve(&self, min: usize, max: usize) -> usize {
        let min = min.max(1);
        let Ok(first) = self.slots.acquire_many(min as u32).await else {
            return 0;
        };
        first.forget();
        let extra = self.slots.available_permits().min(max.saturating_sub(min));
        if extra > 0
            && let Ok(more) = self.slots.try_acquire_many(extra as u32)
        {
            more.forget();
            return min + extra;
        }
        min
    }

    /// Takes up to `max` free slots without waiting.
    pub(crate) fn try_reserve(&self, max: usize) -> usize {
        let n = self.slots.available_permits().min(max);
        match self.slots.try_acquire_many(n as u32) {
            Ok(p) if n > 0 => {
                p.forget();
                n
            }
            _ => 0,
        }
    }

    /// Gives back slots that were reserved but not used.
    pub(crate) fn unreserve(&self, n: usize) {
        if n > 0 {
            self.slots.add_permits(n);
        }
    }

    /// Records that an entry is held (its slot already reserved). False if it was held already.
    pub(crate) fn hold(&self, stream: &Arc<str>, id: &str) -> bool {
        let key = (stream.clone(), Arc::from(id));
        let mut map = self.map();
        if map.contains_key(&key) {
            return false;
        }
        map.insert(key, Instant::now());
        true
    }

    /// Whether an entry is held.
    pub(crate) fn is_held(&self, stream: &Arc<str>, id: &str) -> bool {
        self.map().contains_key(&(stream.clone(), Arc::from(id)))
    }

    /// Forgets an entry (acknowledged, or taken by someone else) and frees its slot.
    pub(crate) fn release(&self, stream: &Arc<str>, id: &Arc<str>) {
        if self.map().remove(&(stream.clone(), id.clone())).is_some() {
            self.slots.add_permits(1);
        }
    }

    /// Entries not touched for `older_than`, grouped by stream; they are marked touched now.
    pub(crate) fn due_for_touch(&self, older_than: Duration) -> HashMap<Arc<str>, Vec<Arc<str>>> {
        let now = Instant::now();
        let mut due: HashMap<Arc<str>, Vec<Arc<str>>> = HashMap::new();
        for ((stream, id), touched) in self.map().iter_mut() {
            if now.duration_since(*touched) >= older_than {
                *touched = now;
                due.entry(stream.clone()).or_default().push(id.clone());
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_bound_what_is_held() {
        let held = Held::new(3);
        assert_eq!(held.reserve(1, 10).await, 3);
        assert_eq!(held.try_reserve(5), 0);
        let s: Arc<str> = Arc::from("s");
        assert!(held.hold(&s, "1-0"));
        assert!(!held.hold(&s, "1-0"));
        assert!(held.is_held(&s, "1-0"));
        held.unreserve(2);
        held.release(&s, &Arc::from("1-0"));
        held.release(&s, &Arc::from("1-0"));
        assert_eq!(held.try_reserve(5), 3);
    }

    #[test]
    fn touch_marks_entries() {
        let held = Held::new(2);
        let s: Arc<str> = Arc::from("s");
        held.hold(&s, "1-0");
        let due = held.due_for_touch(Duration::ZERO);
        assert_eq!(due.get(&s).map(Vec::len), Some(1));
        assert!(held.due_for_touch(Duration::from_secs(3600)).is_empty());
    }
}
