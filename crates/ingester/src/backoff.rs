//! Exponential backoff with jitter, for reconnects and retried requests.
//!
//! Every ingester that loses a relay at the same moment would otherwise come back at the same
//! moment, so each delay is drawn uniformly from the upper half of the current step ("equal
//! jitter"): never zero (no spinning), never more than the cap.

use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

/// A growing delay between attempts; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    step: Duration,
}

impl Backoff {
    /// Delays start at `base` and double up to `max` (`max` below `base` is raised to `base`).
    pub fn new(base: Duration, max: Duration) -> Backoff {
        let base = base.max(Duration::from_millis(1));
        Backoff {
            base,
            max: max.max(base),
            step: base,
        }
    }

    /// The next delay: between half the current step and the step, then the step doubles.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let extra = rand::thread_rng().gen_range(0..=step.saturating_sub(half).as_micros() as u64);
        half + Duration::from_micros(extra)
    }

    /// Starts over from the base delay.
    pub fn reset(&mut self) {
        self.step = self.base;
    }

    /// Whether the steps have reached the cap.
    pub fn is_capped(&self) -> bool {
        self.step >= self.max
    }

    /// Sleeps the next delay; returns false (at once) if `cancel` fires first.
    pub async fn wait(&mut self, cancel: &CancellationToken) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            () = cancel.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_stay_jittered_and_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        let mut backoff = Backoff::new(base, max);
        let mut step = base;
        for _ in 0..10 {
            let delay = backoff.next_delay();
            assert!(
                delay >= step / 2 && delay <= step,
                "{delay:?} for step {step:?}"
            );
            step = (step * 2).min(max);
        }
        assert!(backoff.is_capped());
        backoff.reset();
        assert!(backoff.next_delay() <= base);
    }

    #[test]
    fn zero_base_never_spins() {
        let mut backoff = Backoff::new(Duration::ZERO, Duration::ZERO);
        assert!(backoff.next_delay() >= Duration::from_micros(500));
    }
}
