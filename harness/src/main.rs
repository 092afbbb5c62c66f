//! The `harness` binary: the simulated network for people.
//!
//! - `harness serve`: runs a simulated network standalone and prints its endpoints (JSON) until
//!   Ctrl-C, so the pipeline can be pointed at it by hand.
//! - `harness simulate`: runs the whole pipeline (the real binaries, found next to this one) on a
//!   misbehaving simulated network and exits 0 only when the database equals the oracle.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use harness::sim::chaos::chaos_plan;
use harness::sim::pipeline::{SimulateOptions, simulate};
use harness::sim::{FaultPreset, SimNetwork, SimSpec};

/// The simulated AT Protocol network, and the whole pipeline run against it.
#[derive(Debug, Parser)]
#[command(name = "harness", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve a simulated network and print its endpoints until Ctrl-C.
    Serve {
        #[command(flatten)]
        network: NetworkArgs,
        /// On Ctrl-C, write the oracle's manifest for the events released so far here (for
        /// `verify --expect`).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
    },
    /// Run ingester, backfiller and indexer on a simulated network; exit 0 when verify passes.
    Simulate {
        #[command(flatten)]
        network: NetworkArgs,
        /// Seconds the pipeline may take to finish before the run fails.
        #[arg(long, default_value_t = 900)]
        deadline_secs: u64,
        /// Seconds between progress lines.
        #[arg(long, default_value_t = 5)]
        progress_secs: u64,
        /// Backfiller processes sharing their consumer group.
        #[arg(long, default_value_t = 1)]
        backfillers: usize,
        /// Indexer processes sharing their consumer group.
        #[arg(long, default_value_t = 1)]
        indexers: usize,
        /// Chaos with this seed: every stage SIGKILLed and restarted, Redis and PostgreSQL
        /// restarted, each at a random moment of the first `--chaos-window-secs`.
        #[arg(long, value_name = "SEED")]
        chaos: Option<u64>,
        /// The window in which chaos strikes.
        #[arg(long, default_value_t = 20)]
        chaos_window_secs: u64,
        /// A setting for every stage, `NAME=VALUE` (repeatable), e.g.
        /// `--stage-env INGESTER_HIGH_WATER_MARK=300`; a stage ignores names not its own.
        #[arg(long = "stage-env", value_name = "NAME=VALUE", value_parser = parse_env_pair)]
        stage_env: Vec<(String, String)>,
        /// Sizes of the record table (comma-separated, e.g. `1000000,5000000,10000000`) at which
        /// the indexer is timed alone on a backlog and PostgreSQL's own INSERT … SELECT of the
        /// same rows is timed beside it.
        #[arg(long, value_delimiter = ',')]
        checkpoints: Vec<i64>,
        /// Run every stage at its own defaults, without the simulation's tuning (short retries
        /// and timeouts, generous per-host limits): what a scale run measures.
        #[arg(long)]
        stage_defaults: bool,
    },
}

fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not NAME=VALUE")),
    }
}

/// The simulated network: a JSON spec file, or flags (flags win over the file).
#[derive(Debug, Args)]
struct NetworkArgs {
    /// A JSON `SimSpec` (`seed`, `repos`, `pds_hosts`, `labelers`, `max_records`, `live_events`,
    /// `events_per_sec`, `faults`).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Repositories (accounts).
    #[arg(long)]
    repos: Option<usize>,
    /// PDS hosts.
    #[arg(long)]
    pds_hosts: Option<usize>,
    /// Labelers.
    #[arg(long)]
    labelers: Option<usize>,
    /// Seed of the network and the script.
    #[arg(long)]
    seed: Option<u64>,
    /// Largest record count of a repository.
    #[arg(long)]
    max_records: Option<u32>,
    /// Live events released over the run.
    #[arg(long)]
    live_events: Option<usize>,
    /// Live events per second.
    #[arg(long)]
    events_per_sec: Option<f64>,
    /// Fault preset: `default` (a few of each kind on every layer) or `none`.
    #[arg(long)]
    faults: Option<FaultPreset>,
}

impl NetworkArgs {
    fn spec(&self) -> Result<SimSpec> {
        let mut spec = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                serde_json::from_str(&text)
                    .with_context(|| format!("parsing {}", path.display()))?
            }
            None => SimSpec::default(),
        };
        if let Some(v) = self.repos {
            spec.repos = v;
        }
        if let Some(v) = self.pds_hosts {
            spec.pds_hosts = v;
        }
        if let Some(v) = self.labelers {
            spec.labelers = v;
        }
        if let Some(v) = self.seed {
            spec.seed = v;
        }
        if let Some(v) = self.max_records {
            spec.max_records = v;
        }
        if let Some(v) = self.live_events {
            spec.live_events = v;
        }
        if let Some(v) = self.events_per_sec {
            spec.events_per_sec = v;
        }
        if let Some(v) = self.faults {
            spec.faults = v;
        }
        Ok(spec)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(error) => {
            eprintln!("harness: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(command: Command) -> Result<bool> {
    match command {
        Command::Serve {
            network,
            manifest: manifest_path,
        } => {
            let sim = SimNetwork::start(network.spec()?).await?;
            println!("{}", serde_json::to_string_pretty(sim.endpoints())?);
            eprintln!("serving; Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
            let manifest = sim.oracle_manifest()?;
            eprintln!(
                "stopping after {} of {} live events ({} records expected)",
                manifest.events_applied,
                sim.script().events().len(),
                manifest.records.len()
            );
            if let Some(path) = manifest_path {
                manifest.write(&path)?;
                eprintln!("manifest written to {}", path.display());
            }
            sim.finish().await?;
            Ok(true)
        }
        Command::Simulate {
            network,
            deadline_secs,
            progress_secs,
            backfillers,
            indexers,
            chaos,
            chaos_window_secs,
            stage_env,
            mut checkpoints,
            stage_defaults,
        } => {
            checkpoints.sort_unstable();
            let stages = 1 + backfillers.max(1) + indexers.max(1);
            let window = Duration::from_secs(chaos_window_secs);
            let options = SimulateOptions {
                spec: network.spec()?,
                deadline: Duration::from_secs(deadline_secs),
                progress_every: Duration::from_secs(progress_secs.max(1)),
                backfillers,
                indexers,
                chaos: chaos.map_or_else(Vec::new, |seed| chaos_plan(seed, stages, window)),
                stage_env,
                stage_defaults,
                checkpoints,
            };
            let outcome = simulate(options).await?;
            println!("{}", outcome.verify_report);
            for line in &outcome.disruptions {
                println!("disruption: {line}");
            }
            for line in &outcome.figures {
                println!("{line}");
            }
            println!("simulate: {}", if outcome.passed { "PASS" } else { "FAIL" });
            Ok(outcome.passed)
        }
    }
}
