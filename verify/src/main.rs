//! The `verify` binary: parses settings, takes the two snapshots, prints the report, and exits
//! with a code that says the verdict: 0 every check passed, 1 a check failed, 2 bad settings,
//! 3 Redis or PostgreSQL could not be read.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use verify::db_probe::CountMode;
use verify::expect;
use verify::manifest::Manifest;
use verify::report::Report;
use verify::snapshot::Snapshot;
use verify::verdict::{CHECK_NAMES, Caps, Status, judge};

/// Is the pipeline healthy and complete? Judges the operator's success criteria one by one.
#[derive(Debug, Parser)]
#[command(name = "verify", version, about, long_about = None)]
struct Args {
    #[command(flatten)]
    common: runtime::CommonArgs,

    /// PostgreSQL holding the AppView schema.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://127.0.0.1:5432/bsky",
        hide_env_values = true
    )]
    database_url: String,

    /// The schema the indexer writes.
    #[arg(long, env = "DB_SCHEMA", default_value = "bsky")]
    db_schema: String,

    /// Judge Redis only (no database checks or counts).
    #[arg(long)]
    no_database: bool,

    /// Seconds between the two readings that rates and "is it moving" are judged on.
    #[arg(long, env = "VERIFY_SAMPLE_SECS", default_value_t = 5.0)]
    sample_secs: f64,

    /// Print one JSON document instead of text.
    #[arg(long)]
    json: bool,

    /// Keep printing a live view every SECS seconds (default 5) until interrupted.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "5")]
    watch: Option<f64>,

    /// Compare the database and dead-letter streams with a harness manifest.
    #[arg(long, value_name = "MANIFEST")]
    expect: Option<PathBuf>,

    /// Do not judge this check (repeatable): backfill-listing, backfill-fetching, indexing,
    /// groups-active, groups-positioned, listing-cursors, live-cursors, nothing-skipped.
    #[arg(long, value_name = "CHECK")]
    skip: Vec<String>,

    /// The cap the backfiller and indexer keep on each dead-letter stream (their `DLQ_MAX_LEN`):
    /// the `capped-streams` check warns as a stream nears it.
    #[arg(long, env = "DLQ_MAX_LEN", default_value_t = streams::capped::DEFAULT_MAX_LEN)]
    dlq_max_len: u64,

    /// The cap the ingester keeps on each skip-record stream (its `INGESTER_SKIPPED_MAX_LEN`).
    #[arg(long, env = "INGESTER_SKIPPED_MAX_LEN", default_value_t = streams::capped::DEFAULT_MAX_LEN)]
    skipped_max_len: u64,

    /// Read row counts from the planner's estimates instead of COUNT(*) (large databases).
    #[arg(long)]
    estimate_counts: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = runtime::parse_args(&[]);
    for skip in &args.skip {
        if !CHECK_NAMES.contains(&skip.as_str()) {
            runtime::usage_error::<Args>(format!(
                "--skip {skip}: no such check (one of {})",
                CHECK_NAMES.join(", ")
            ));
        }
    }
    if !(args.sample_secs >= 0.0 && args.sample_secs.is_finite()) {
        runtime::usage_error::<Args>("--sample-secs must be a number of seconds ≥ 0");
    }
    match run(&args).await {
        Ok(Status::Pass | Status::Warn) => ExitCode::SUCCESS,
        Ok(Status::Fail) => ExitCode::from(1),
        Err(error) => {
            eprintln!("verify: {error:#}");
            ExitCode::from(3)
        }
    }
}

async fn run(args: &Args) -> Result<Status> {
    let client = redis::Client::open(args.common.redis_url.as_str()).context("REDIS_URL")?;
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .with_context(|| format!("connecting to Redis at {}", args.common.redis_url))?;
    let pool = if args.no_database {
        None
    } else {
        Some(connect_db(args).await?)
    };
    let manifest = match &args.expect {
        Some(path) => Some(Manifest::read(path)?),
        None => None,
    };
    let mode = if args.estimate_counts {
        CountMode::Estimate
    } else {
        CountMode::Exact
    };
    let window = Duration::from_secs_f64(args.watch.unwrap_or(args.sample_secs));

    let mut before = Snapshot::take(&mut redis, pool.as_ref(), mode).await?;
    loop {
        tokio::time::sleep(window).await;
        let after = Snapshot::take(&mut redis, pool.as_ref(), mode).await?;
        let caps = Caps {
            dlq: args.dlq_max_len,
            skipped: args.skipped_max_len,
        };
        let checks = judge(&before, &after, &caps)
            .into_iter()
            .filter(|c| !args.skip.iter().any(|s| s == c.name))
            .collect();
        let comparison = match (&manifest, &pool) {
            (Some(manifest), Some(pool)) => {
                Some(expect::compare(manifest, pool, &mut redis).await?)
            }
            _ => None,
        };
        let report = Report::new(&before, &after, checks, comparison);
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            println!("{}", report.to_text());
        }
        if args.watch.is_none() {
            return Ok(report.verdict);
        }
        before = after;
    }
}

async fn connect_db(args: &Args) -> Result<PgPool> {
    let schema = indexer::schema::SchemaName::parse(&args.db_schema).context("DB_SCHEMA")?;
    let options =
        indexer::schema::connect_options(&args.database_url, &schema).context("DATABASE_URL")?;
    PgPoolOptions::new()
        .max_connections(2)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await
        .context("connecting to PostgreSQL (DATABASE_URL)")
}
