//! [`Shared`]: a server's state behind `Arc` + lock, changed by the test while it is served.
//!
//! Access is through closures so that no lock is ever held across an `.await` in a handler.

use std::sync::{Arc, PoisonError, RwLock};

/// State shared by a mock server and whoever drives it; cheap to clone.
#[derive(Debug, Default)]
pub struct Shared<T> {
    inner: Arc<RwLock<T>>,
}

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<T> Shared<T> {
    /// Wraps `value`.
    pub fn new(value: T) -> Self {
        Self {
            inner: Arc::new(RwLock::new(value)),
        }
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // A panicking test closure must not wedge the server for every later request.
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        f(&guard)
    }

    /// Changes the state; requests after this call see the change.
    pub fn write<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// Replaces the whole state.
    pub fn replace(&self, value: T) {
        self.write(|state| *state = value);
    }
}
