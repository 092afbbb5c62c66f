//! The driver: releases the live script over time. For each event, in order, the mock servers'
//! states change first (so a `getRepo` after the event returns the new repository), then the frame
//! is appended to the relay's or the labeler's event log.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use crate::mock::{EventLog, PdsState, PlcState, RelayState, Shared, WebState};
use crate::network::Network;
use crate::network::mock_state::{Endpoints, MockStates};
use crate::script::{Change, EventSource, Script, apply_to_states};

use super::SimError;

/// The served states the driver writes to.
pub(crate) struct Targets {
    pub(crate) pds: Vec<Shared<PdsState>>,
    pub(crate) relay: Shared<RelayState>,
    pub(crate) plc: Shared<PlcState>,
    pub(crate) web: Shared<WebState>,
    pub(crate) relay_log: EventLog,
    /// Each labeler's event log, by labeler DID.
    pub(crate) labeler_logs: HashMap<String, EventLog>,
}

/// Everything the release task owns.
pub(crate) struct Driver {
    pub(crate) network: Arc<Network>,
    pub(crate) script: Arc<Script>,
    pub(crate) endpoints: Endpoints,
    /// A private copy of the served states, changed event by event and copied out.
    pub(crate) states: MockStates,
    pub(crate) targets: Targets,
    pub(crate) released: Arc<AtomicUsize>,
    pub(crate) interval: Duration,
    pub(crate) stop: CancellationToken,
}

impl Driver {
    /// Releases every event at its time, until the script ends or `stop` is cancelled.
    pub(crate) async fn run(mut self) -> Result<(), SimError> {
        let start = Instant::now();
        let script = Arc::clone(&self.script);
        for (index, event) in script.events().iter().enumerate() {
            let due = start + self.interval.saturating_mul(index as u32);
            tokio::select! {
                () = self.stop.cancelled() => return Ok(()),
                () = sleep_until(due) => {}
            }
            apply_to_states(&self.network, &self.endpoints, &mut self.states, event)?;
            self.publish(&event.did, &event.change);
            match &event.source {
                EventSource::Relay => self
                    .targets
                    .relay_log
                    .append(event.seq, event.frame.clone())?,
                EventSource::Labeler { did, .. } => {
                    if let Some(log) = self.targets.labeler_logs.get(did) {
                        log.append(event.seq, event.frame.clone())?;
                    }
                }
            }
            self.released.store(index + 1, Ordering::SeqCst);
        }
        Ok(())
    }

    /// Copies what `change` altered from the private states to the served ones.
    fn publish(&self, did: &str, change: &Change) {
        let pds = self.network.account_by_did(did).map(|a| a.pds);
        match change {
            Change::Labels { .. } => {}
            Change::Identity { .. } => {
                self.copy_pds(pds);
                self.targets.plc.replace(self.states.plc.clone());
                self.targets.web.replace(self.states.web.clone());
            }
            Change::Commit { .. } | Change::Sync { .. } | Change::Account { .. } => {
                self.copy_pds(pds);
                self.targets.relay.replace(self.states.relay.clone());
            }
        }
    }

    fn copy_pds(&self, pds: Option<usize>) {
        if let Some(index) = pds
            && let (Some(target), Some(state)) =
                (self.targets.pds.get(index), self.states.pds.get(index))
        {
            target.replace(state.clone());
        }
    }
}
