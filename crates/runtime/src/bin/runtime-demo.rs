//! `runtime-demo`: a small supervised service that the runtime crate's process tests drive
//! (exit codes, draining, env aliases, usage errors, `/metrics` and `/healthz`), and a working
//! example of how a pipeline binary puts the `runtime` pieces together.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use runtime::{CancellationToken, CommonArgs, Supervisor, parse_args, parse_duration, usage_error};

/// What the demo's worker task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Behavior {
    /// Ticks until cancelled, then drains.
    Serve,
    /// Returns an error at once (beside a steady task that must then drain).
    Fail,
    /// Panics at once.
    Panic,
    /// Returns Ok at once, which for a long-running task is a death.
    End,
    /// A one-shot task that finishes its work.
    OneShot,
    /// Ignores cancellation, so the drain deadline has to cut it off.
    Stuck,
}

/// A demo service for the runtime crate's tests.
#[derive(Debug, Parser)]
#[command(name = "runtime-demo")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,

    /// What the worker does.
    #[arg(long, env = "DEMO_BEHAVIOR", value_enum, default_value_t = Behavior::Serve)]
    behavior: Behavior,

    /// Hosts to pretend to work on (comma-separated).
    #[arg(
        long,
        env = "DEMO_HOSTS",
        value_delimiter = ',',
        default_value = "bsky.network"
    )]
    hosts: Vec<String>,

    /// Number of workers; at least 1.
    #[arg(long, env = "DEMO_WORKERS", default_value_t = 1)]
    workers: u32,

    /// While draining, wait until this file exists (lets a test look at the process mid-drain).
    #[arg(long, env = "DEMO_DRAIN_UNTIL_FILE")]
    drain_until_file: Option<PathBuf>,

    /// How long tasks may take to drain after SIGTERM.
    #[arg(long, env = "DEMO_DRAIN_TIMEOUT", value_parser = parse_duration, default_value = "30s")]
    drain_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = parse_args(&[("DEMO_HOSTS", "HOSTS")]);
    if args.workers == 0 {
        usage_error::<Args>("DEMO_WORKERS must be at least 1");
    }
    runtime::install_crypto_provider();
    if let Err(e) = runtime::init_logging(&args.common) {
        eprintln!("runtime-demo: {e}");
        return ExitCode::from(2);
    }
    tracing::info!(hosts = ?args.hosts, workers = args.workers, behavior = ?args.behavior, "configured");

    let mut supervisor = match Supervisor::new() {
        Ok(supervisor) => supervisor.with_drain_timeout(args.drain_timeout),
        Err(e) => {
            tracing::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(port) = args.common.metrics_port
        && let Err(e) = supervisor.serve_metrics(port).await
    {
        tracing::error!("{e}");
        return ExitCode::FAILURE;
    }
    let token = supervisor.token();
    let drain_file = args.drain_until_file.clone();
    match args.behavior {
        Behavior::Serve => {
            for n in 0..args.workers {
                supervisor.spawn(
                    format!("worker-{n}"),
                    serve(token.clone(), drain_file.clone()),
                );
            }
        }
        Behavior::Fail => {
            supervisor.spawn("steady", serve(token.clone(), drain_file));
            supervisor.spawn("worker", async {
                anyhow::bail!("boom: the demo worker failed")
            });
        }
        Behavior::Panic => supervisor.spawn("worker", async { panic!("demo panic") }),
        Behavior::End => supervisor.spawn("worker", async { Ok(()) }),
        Behavior::OneShot => supervisor.spawn_one_shot("job", async {
            tracing::info!("job done");
            Ok(())
        }),
        Behavior::Stuck => supervisor.spawn("worker", async {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }),
    }
    tracing::info!("ready");
    let outcome = supervisor.run().await;
    tracing::info!(?outcome, "exiting");
    outcome.into()
}

/// Counts ticks until cancelled, then drains (waiting for `drain_file` if given).
async fn serve(token: CancellationToken, drain_file: Option<PathBuf>) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = token.cancelled() => break,
            _ = ticks.tick() => metrics::counter!("demo_ticks_total").increment(1),
        }
    }
    tracing::info!("draining");
    if let Some(file) = drain_file {
        while !file.exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    tracing::info!("drained");
    Ok(())
}
