//! The pipeline's processes during a simulation: started from reusable specs, so a stage that is
//! killed (or that exits while its services are restarted) can be started again, as a supervisor
//! would in production.

use std::time::Duration;

use anyhow::{Result, bail};

use crate::services::{ChildProcess, ChildSpec, Signal, peak_rss_kib};

/// How long stopping a stage may take.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// The running stages, indexed like the specs they were started from.
pub(crate) struct Stages {
    specs: Vec<ChildSpec>,
    children: Vec<ChildProcess>,
    /// Every process ever started, including those replaced; kept for their logs.
    replaced: Vec<ChildProcess>,
}

impl Stages {
    /// Starts one process per spec.
    pub(crate) fn start(specs: Vec<ChildSpec>) -> Result<Stages> {
        let children = specs.iter().map(ChildSpec::spawn).collect::<Result<_>>()?;
        Ok(Stages {
            specs,
            children,
            replaced: Vec::new(),
        })
    }

    /// The peak resident memory (`VmHWM`, MiB) of each running stage, by name: `indexer-0 38 MiB,
    /// …` (Linux only; a stage whose `/proc` entry cannot be read is left out).
    pub(crate) fn peak_rss(&self) -> String {
        let mut parts = Vec::new();
        for child in &self.children {
            if let Some(kib) = peak_rss_kib(&child.pid().to_string()) {
                parts.push(format!("{} {} MiB", child.name(), kib >> 10));
            }
        }
        parts.join(", ")
    }

    /// Sends `signal` to every running stage whose name starts with `role` (`ingester`,
    /// `backfiller`, `indexer`): SIGSTOP and SIGCONT pause and resume a role.
    pub(crate) fn signal_role(&mut self, role: &str, signal: Signal) -> Result<()> {
        for child in self
            .children
            .iter_mut()
            .filter(|c| c.name().starts_with(role))
        {
            child.kill(signal)?;
        }
        Ok(())
    }

    /// How many stages there are.
    pub(crate) fn len(&self) -> usize {
        self.children.len()
    }

    /// Checks that every stage runs. An exited stage is started again when `restart` is set
    /// (returning its name), else it fails the run with its log tail.
    pub(crate) fn check(&mut self, restart: bool) -> Result<Vec<String>> {
        let mut restarted = Vec::new();
        for index in 0..self.children.len() {
            let Some(child) = self.children.get_mut(index) else {
                continue;
            };
            if let Some(status) = child.try_status()? {
                if !restart {
                    bail!(
                        "{} exited ({status}) during the run; its log ends with:\n{}",
                        child.name(),
                        child.log_tail(40)
                    );
                }
                restarted.push(format!("{} (exited: {status})", child.name()));
                self.respawn(index)?;
            }
        }
        Ok(restarted)
    }

    /// Kills stage `index` with SIGKILL and starts it again; returns its name.
    pub(crate) async fn kill_and_restart(&mut self, index: usize) -> Result<String> {
        let Some(child) = self.children.get_mut(index) else {
            bail!("no stage {index}");
        };
        let name = child.name().to_owned();
        if child.try_status()?.is_none() {
            child.kill(Signal::Kill)?;
            child.wait_exit(STOP_TIMEOUT).await?;
        }
        self.respawn(index)?;
        Ok(name)
    }

    fn respawn(&mut self, index: usize) -> Result<()> {
        let Some(spec) = self.specs.get(index) else {
            bail!("no stage {index}");
        };
        let fresh = spec.spawn()?;
        if let Some(slot) = self.children.get_mut(index) {
            let old = std::mem::replace(slot, fresh);
            self.replaced.push(old);
        }
        Ok(())
    }

    /// Stops every stage politely (SIGTERM, then SIGKILL after a deadline).
    pub(crate) async fn stop(&mut self) {
        for child in &mut self.children {
            // A stage that fails to stop is killed on drop; nothing to add here.
            let _ = child.stop(STOP_TIMEOUT).await;
        }
    }

    /// The last lines of every current stage's log.
    pub(crate) fn log_tails(&self) -> String {
        self.children
            .iter()
            .map(|c| {
                format!(
                    "--- {} ({})\n{}",
                    c.name(),
                    c.log_path().display(),
                    c.log_tail(15)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}
