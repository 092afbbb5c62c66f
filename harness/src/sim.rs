//! The simulated network as one unit: a generated network served by mock servers (PLC, did:web,
//! N PDSes, a relay, labelers) under a fault plan, with a driver releasing the live script over
//! time, and the oracle's manifest for whatever has been released so far.
//!
//! [`SimNetwork::start`] is what `harness serve` runs standalone and what `harness simulate` (and
//! the end-to-end tests, through [`pipeline`]) point the real binaries at.
//!
//! - [`spec`]: [`SimSpec`], [`FaultPreset`].
//! - [`preset`]: [`SimFaults`], the fault plans of a preset.
//! - [`pipeline`]: Redis, PostgreSQL and the real binaries run against a [`SimNetwork`] until
//!   the database equals the oracle.
//! - [`chaos`]: stages killed, Redis and PostgreSQL restarted during a run.
//! - `driver`: the task that releases the script; `progress`: readings of the pipeline;
//!   `stages`: the pipeline's processes.

pub mod chaos;
pub mod checkpoint;
pub mod pipeline;
pub mod preset;
pub mod spec;

mod driver;
mod error;
mod progress;
mod stages;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::faults::Faults;
use crate::mock::{
    MockLabeler, MockOptions, MockPds, MockPlc, MockRelay, MockWeb, PdsOptions, PdsState,
};
use crate::network::mock_state::Endpoints;
use crate::network::spec::RecordRange;
use crate::network::{Network, NetworkSpec};
use crate::oracle::{Manifest, Oracle};
use crate::script::{Script, ScriptSpec};

pub use error::SimError;
pub use preset::SimFaults;
pub use spec::{FaultPreset, SimSpec};

use driver::{Driver, Targets};

/// Where the simulated network's servers listen (all `http://127.0.0.1:PORT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimEndpoints {
    /// The relay: `listRepos`, `subscribeRepos` (`INGESTER_RELAY_HOSTS`).
    pub relay: String,
    /// Each PDS.
    pub pds: Vec<String>,
    /// The PLC directory (`PLC_URL`).
    pub plc: String,
    /// did:web documents and handle checks (`HANDLE_RESOLVER_URL`).
    pub web: String,
    /// Each labeler's `subscribeLabels` (`INGESTER_LABELER_HOSTS`).
    pub labelers: Vec<String>,
    /// The relay's first live seq: a consumer that connects without a cursor misses what was
    /// released before it connected, so start the firehose cursor one below this (label
    /// streams: at 0).
    pub first_relay_seq: Option<i64>,
}

/// A running simulated network.
pub struct SimNetwork {
    spec: SimSpec,
    network: Arc<Network>,
    script: Arc<Script>,
    faults: SimFaults,
    endpoints: SimEndpoints,
    released: Arc<AtomicUsize>,
    stop: CancellationToken,
    driver: Option<JoinHandle<Result<(), SimError>>>,
    relay: MockRelay,
    pds: Vec<MockPds>,
    plc: MockPlc,
    web: MockWeb,
    labelers: Vec<MockLabeler>,
}

impl std::fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNetwork")
            .field("spec", &self.spec)
            .field("endpoints", &self.endpoints)
            .field("released", &self.released())
            .finish_non_exhaustive()
    }
}

/// The network generator's spec for a simulation spec: did:plc only, since did:web DIDs name
/// hosts that do not resolve to the mock servers.
fn network_spec(spec: &SimSpec) -> NetworkSpec {
    NetworkSpec {
        seed: spec.seed,
        accounts: spec.repos,
        pds_hosts: spec.pds_hosts,
        labelers: spec.labelers,
        did_web_fraction: 0.0,
        typical_records: RecordRange {
            min: 1,
            max: spec.max_records.max(1),
        },
        heavy_fraction: 0.0,
        ..NetworkSpec::default()
    }
}

impl SimNetwork {
    /// Generates the network and script of `spec`, starts every mock server under the preset's
    /// faults, and starts releasing the script.
    pub async fn start(spec: SimSpec) -> Result<SimNetwork, SimError> {
        if !(spec.events_per_sec > 0.0 && spec.events_per_sec.is_finite()) {
            return Err(SimError::Spec(
                "events_per_sec must be a positive number".into(),
            ));
        }
        if spec.labelers == 0 && spec.repos == 0 {
            return Err(SimError::Spec(
                "the network needs at least one account".into(),
            ));
        }
        let network = Arc::new(Network::generate(network_spec(&spec))?);
        let script = Arc::new(Script::generate(
            &network,
            ScriptSpec {
                seed: spec.seed,
                events: spec.live_events,
                ..ScriptSpec::default()
            },
        )?);
        let faults = SimFaults::build(spec.faults, &network, &script);
        let options = |plan: &crate::faults::FaultPlan| -> Result<MockOptions, SimError> {
            Ok(MockOptions {
                faults: Faults::new(plan.clone())?,
                ..MockOptions::default()
            })
        };

        let mut pds = Vec::with_capacity(faults.pds.len());
        for plan in &faults.pds {
            pds.push(
                MockPds::start(PdsState::default(), options(plan)?, PdsOptions::default()).await?,
            );
        }
        let mut labelers = Vec::new();
        let mut labeler_urls = HashMap::new();
        let mut labeler_logs = HashMap::new();
        for account in network.labelers() {
            let Some(info) = &account.labeler else {
                continue;
            };
            let labeler = MockLabeler::start(options(&faults.labeler)?).await?;
            labeler_urls.insert(info.host.clone(), trim_url(labeler.url().as_str()));
            labeler_logs.insert(account.did.clone(), labeler.events().clone());
            labelers.push(labeler);
        }
        let endpoints = Endpoints {
            pds: pds.iter().map(|p| trim_url(p.url().as_str())).collect(),
            labelers: labeler_urls,
        };
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let states = network.mock_states(&endpoints, threads)?;
        for (server, state) in pds.iter().zip(&states.pds) {
            server.state().replace(state.clone());
        }
        let relay = MockRelay::start(states.relay.clone(), options(&faults.relay)?).await?;
        let plc = MockPlc::start(states.plc.clone(), options(&faults.plc)?).await?;
        let web = MockWeb::start(states.web.clone(), MockOptions::default()).await?;

        let sim_endpoints = SimEndpoints {
            relay: trim_url(relay.url().as_str()),
            pds: endpoints.pds.clone(),
            plc: trim_url(plc.url().as_str()),
            web: trim_url(web.url().as_str()),
            labelers: labelers
                .iter()
                .map(|l| trim_url(l.url().as_str()))
                .collect(),
            first_relay_seq: script.relay_events().next().map(|e| e.seq),
        };
        let released = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let driver = Driver {
            network: Arc::clone(&network),
            script: Arc::clone(&script),
            endpoints,
            targets: Targets {
                pds: pds.iter().map(|p| p.state().clone()).collect(),
                relay: relay.state().clone(),
                plc: plc.state().clone(),
                web: web.state().clone(),
                relay_log: relay.events().clone(),
                labeler_logs,
            },
            states,
            released: Arc::clone(&released),
            interval: Duration::from_secs_f64(1.0 / spec.events_per_sec),
            stop: stop.clone(),
        };
        let driver = tokio::spawn(driver.run());
        Ok(SimNetwork {
            spec,
            network,
            script,
            faults,
            endpoints: sim_endpoints,
            released,
            stop,
            driver: Some(driver),
            relay,
            pds,
            plc,
            web,
            labelers,
        })
    }

    /// The spec it was started with.
    pub fn spec(&self) -> &SimSpec {
        &self.spec
    }

    /// The generated network.
    pub fn network(&self) -> &Network {
        &self.network
    }

    /// The live script.
    pub fn script(&self) -> &Script {
        &self.script
    }

    /// The fault plans in force and the repositories they break for good.
    pub fn faults(&self) -> &SimFaults {
        &self.faults
    }

    /// Where the servers listen.
    pub fn endpoints(&self) -> &SimEndpoints {
        &self.endpoints
    }

    /// How many script events have been released so far.
    pub fn released(&self) -> usize {
        self.released.load(Ordering::SeqCst)
    }

    /// The newest seq on the relay's firehose (0 before any).
    pub fn relay_head(&self) -> i64 {
        self.relay.events().head_seq()
    }

    /// Whether the whole script has been released.
    pub fn fully_released(&self) -> bool {
        self.released() >= self.script.events().len()
    }

    /// How many faults fired so far, on every server.
    pub fn faults_fired(&self) -> usize {
        let servers = [self.relay.faults(), self.plc.faults(), self.web.faults()];
        servers
            .into_iter()
            .chain(self.pds.iter().map(MockPds::faults))
            .chain(self.labelers.iter().map(MockLabeler::faults))
            .map(|f| f.fired().len())
            .sum()
    }

    /// The oracle's manifest for the script released so far, with the preset's broken repos.
    ///
    /// Builds every repository again, so it takes a moment on a large network.
    pub fn oracle_manifest(&self) -> Result<Manifest, SimError> {
        let released = self.released();
        let oracle = Oracle::new(&self.network)?;
        Ok(oracle.manifest(Some(&self.script), released, &self.faults.breaks)?)
    }

    /// Stops releasing events and stops every server; reports a driver failure if there was one.
    pub async fn finish(mut self) -> Result<(), SimError> {
        self.stop.cancel();
        let outcome = match self.driver.take() {
            Some(driver) => driver.await.unwrap_or(Ok(())),
            None => Ok(()),
        };
        self.relay.stop().await;
        for pds in self.pds {
            pds.stop().await;
        }
        self.plc.stop().await;
        self.web.stop().await;
        for labeler in self.labelers {
            labeler.stop().await;
        }
        outcome
    }
}

/// A base URL without its trailing slash.
fn trim_url(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}
