//! The process's health as `/healthz` reports it: healthy until a task dies or shutdown begins.

use std::sync::{Arc, Mutex};

/// A shared health flag; clones see the same state. Once unhealthy it stays so, keeping the first
/// reason (the cause, not its consequences).
#[derive(Debug, Clone, Default)]
pub struct Health {
    reason: Arc<Mutex<Option<String>>>,
}

impl Health {
    /// A healthy state.
    pub fn new() -> Health {
        Health::default()
    }

    /// Marks the process unhealthy; the first reason given is the one reported.
    pub fn set_unhealthy(&self, reason: impl Into<String>) {
        let mut guard = self
            .reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if guard.is_none() {
            *guard = Some(reason.into());
        }
    }

    /// `Ok(())` while healthy, else the reason.
    pub fn status(&self) -> Result<(), String> {
        let guard = self
            .reason
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match &*guard {
            None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reason_sticks() {
        let health = Health::new();
        assert_eq!(health.status(), Ok(()));
        let clone = health.clone();
        clone.set_unhealthy("task firehose failed: boom");
        health.set_unhealthy("shutting down");
        assert_eq!(
            health.status(),
            Err("task firehose failed: boom".to_owned())
        );
    }
}
