//! [`Faults`]: a fault plan in force, with its counters, shared by the mock servers and the test.
//!
//! The servers ask it, at every request and before every stream frame, which faults fire; a rule
//! limited to `n` times is used up as it fires. Every firing is recorded, so a test can check that
//! the fault it planned really happened (a test whose fault never fired proves nothing).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::FaultError;
use super::plan::{Checkpoint, Fault, FaultPlan, FaultRule, Target};

/// A record of one fault firing.
#[derive(Debug, Clone, PartialEq)]
pub struct FiredFault {
    /// Index of the rule in the plan.
    pub rule: usize,
    /// The fault.
    pub fault: Fault,
    /// What it hit.
    pub target: Target,
}

#[derive(Debug, Default)]
struct Inner {
    rules: Vec<FaultRule>,
    /// Firings left per rule (`None` for persistent rules).
    left: Vec<Option<u32>>,
    fired: Vec<FiredFault>,
}

/// The plan in force; cheap to clone (clones share the plan and its counters).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    inner: Arc<Mutex<Inner>>,
}

impl Faults {
    /// No faults.
    pub fn none() -> Self {
        Self::default()
    }

    /// Puts `plan` in force.
    pub fn new(plan: FaultPlan) -> Result<Self, FaultError> {
        let faults = Self::default();
        faults.set_plan(plan)?;
        Ok(faults)
    }

    /// Replaces the plan (and resets its counters); the firing record is kept.
    pub fn set_plan(&self, plan: FaultPlan) -> Result<(), FaultError> {
        plan.validate()?;
        let mut inner = self.lock();
        inner.left = plan.rules.iter().map(|rule| rule.times).collect();
        inner.rules = plan.rules;
        Ok(())
    }

    /// Adds one rule to the plan in force.
    pub fn push(&self, rule: FaultRule) -> Result<(), FaultError> {
        FaultPlan::none().with(rule.clone()).validate()?;
        let mut inner = self.lock();
        inner.left.push(rule.times);
        inner.rules.push(rule);
        Ok(())
    }

    /// Removes every rule.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.rules.clear();
        inner.left.clear();
    }

    /// Every firing so far, in order.
    pub fn fired(&self) -> Vec<FiredFault> {
        self.lock().fired.clone()
    }

    /// How many times rule `rule` has fired.
    pub fn fired_count(&self, rule: usize) -> usize {
        self.lock().fired.iter().filter(|f| f.rule == rule).count()
    }

    /// The faults that fire on `target` at `checkpoint`, in plan order, using up limited rules.
    /// Of the terminal faults (see [`Fault::is_terminal`]) only the first matching one fires.
    pub fn take(&self, checkpoint: Checkpoint, target: &Target) -> Vec<Fault> {
        let mut inner = self.lock();
        let Inner { rules, left, fired } = &mut *inner;
        let mut out = Vec::new();
        let mut terminal = false;
        for (index, (rule, left)) in rules.iter().zip(left.iter_mut()).enumerate() {
            let aimed = rule.fault.checkpoint() == checkpoint
                && rule.fault.applies_to(&target.endpoint)
                && rule.when.matches(target);
            if !aimed || *left == Some(0) || (terminal && rule.fault.is_terminal()) {
                continue;
            }
            terminal |= rule.fault.is_terminal();
            if let Some(n) = left.as_mut() {
                *n -= 1;
            }
            fired.push(FiredFault {
                rule: index,
                fault: rule.fault.clone(),
                target: target.clone(),
            });
            out.push(rule.fault.clone());
        }
        out
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves consistent data (every update is a
        // single assignment), so poisoning is not a reason to fail the whole test network.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::Matcher;

    fn target(did: &str) -> Target {
        Target {
            host: "h".into(),
            endpoint: "com.atproto.sync.getRepo".into(),
            did: Some(did.into()),
            ..Target::default()
        }
    }

    #[test]
    fn limited_rules_are_used_up_and_persistent_ones_are_not() {
        let when = Matcher {
            did: Some("did:plc:a".into()),
            ..Matcher::default()
        };
        let plan = FaultPlan::none()
            .with(FaultRule::first(2, when.clone(), Fault::Reset))
            .with(FaultRule::always(when, Fault::Delay { ms: 1 }));
        let faults = Faults::new(plan).unwrap();
        assert_eq!(
            faults.take(Checkpoint::Request, &target("did:plc:a")).len(),
            2
        );
        assert_eq!(
            faults.take(Checkpoint::Request, &target("did:plc:b")).len(),
            0
        );
        assert_eq!(
            faults.take(Checkpoint::Request, &target("did:plc:a")).len(),
            2
        );
        assert_eq!(
            faults.take(Checkpoint::Request, &target("did:plc:a")),
            vec![Fault::Delay { ms: 1 }]
        );
        assert_eq!(faults.fired_count(0), 2);
        assert_eq!(faults.fired_count(1), 3);
        assert!(
            faults
                .take(Checkpoint::Frame, &target("did:plc:a"))
                .is_empty()
        );
    }

    #[test]
    fn only_the_first_terminal_fault_fires_and_later_ones_wait() {
        let plan = FaultPlan::none()
            .with(FaultRule::first(
                1,
                Matcher::default(),
                Fault::Status { status: 500 },
            ))
            .with(FaultRule::first(1, Matcher::default(), Fault::Reset))
            .with(FaultRule::always(
                Matcher::default(),
                Fault::Delay { ms: 1 },
            ));
        let faults = Faults::new(plan).unwrap();
        let t = target("did:plc:a");
        assert_eq!(
            faults.take(Checkpoint::Request, &t),
            vec![Fault::Status { status: 500 }, Fault::Delay { ms: 1 }]
        );
        assert_eq!(
            faults.take(Checkpoint::Request, &t),
            vec![Fault::Reset, Fault::Delay { ms: 1 }]
        );
        assert_eq!(
            faults.take(Checkpoint::Request, &t),
            vec![Fault::Delay { ms: 1 }]
        );
    }
}
