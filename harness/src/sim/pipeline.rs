//! The whole pipeline on a simulated network: private Redis (AOF on) and PostgreSQL, the schema
//! migrated, a [`SimNetwork`], and the REAL `ingester`, `backfiller` and `indexer` binaries,
//! watched until the work is done by condition (script released, listing done, every group caught
//! up, the broken repos dead-lettered, the database stable), then judged by `verify --expect`.
//!
//! [`simulate`] is `harness simulate`, and what the end-to-end tests run, optionally with
//! [`chaos`](super::chaos) (stages killed, Redis and PostgreSQL restarted mid-run).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use redis::AsyncCommands;
use sqlx::postgres::PgPoolOptions;

use super::chaos::{Chaos, ChaosEvent};
use super::checkpoint::{self, CheckpointFigure, Probe};
use super::progress::Reading;
use super::stages::Stages;
use super::{SimNetwork, SimSpec, preset};
use crate::oracle::Manifest;
use crate::services::{
    ChildSpec, RedisOptions, TestPostgres, TestRedis, locate_binary, wait_until,
};

/// How often the run checks whether the work is done.
const POLL: Duration = Duration::from_millis(500);

/// How to run the simulation.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// The network.
    pub spec: SimSpec,
    /// How long the pipeline may take to finish the work before the run fails.
    pub deadline: Duration,
    /// How often a progress line is printed.
    pub progress_every: Duration,
    /// Backfiller processes sharing their consumer group.
    pub backfillers: usize,
    /// Indexer processes sharing their consumer group.
    pub indexers: usize,
    /// Disruptions during the run (see [`chaos_plan`](super::chaos::chaos_plan)); with any, a
    /// stage that exits is started again instead of failing the run.
    pub chaos: Vec<ChaosEvent>,
    /// Settings given to every stage on top of the simulation's own (e.g. high-water marks);
    /// each stage ignores the variables that are not its own.
    pub stage_env: Vec<(String, String)>,
    /// Runs every stage at its own defaults (only endpoints and names are set), instead of the
    /// simulation's tuning for test deadlines: what a scale run measures.
    pub stage_defaults: bool,
    /// Sizes of the `record` table at which the indexer is measured against PostgreSQL's own
    /// ceiling (see [`checkpoint`](super::checkpoint)); ascending.
    pub checkpoints: Vec<i64>,
}

impl SimulateOptions {
    /// `spec` with one process per stage, a 10-minute deadline and a line every 5 seconds.
    pub fn new(spec: SimSpec) -> Self {
        Self {
            spec,
            deadline: Duration::from_secs(600),
            progress_every: Duration::from_secs(5),
            backfillers: 1,
            indexers: 1,
            chaos: Vec::new(),
            stage_env: Vec::new(),
            stage_defaults: false,
            checkpoints: Vec::new(),
        }
    }
}

/// What a run ended with.
#[derive(Debug, Clone)]
pub struct SimulateOutcome {
    /// Whether `verify --expect` passed.
    pub passed: bool,
    /// `verify`'s report, as printed.
    pub verify_report: String,
    /// Figures for a person: time to complete, records/s per stage.
    pub figures: Vec<String>,
    /// Time from starting the stages to the work being done.
    pub elapsed: Duration,
    /// Faults the simulated network inflicted.
    pub faults_fired: usize,
    /// Dead letters the oracle required (repos broken for good).
    pub required_dead_letters: usize,
    /// Records the oracle expects in the database.
    pub oracle_records: usize,
    /// What each checkpoint measured.
    pub checkpoints: Vec<CheckpointFigure>,
    /// Disruptions carried out, and stages restarted after exiting.
    pub disruptions: Vec<String>,
    /// The most each stream held at once, and Redis's peak memory, over the run's readings.
    pub peaks: Peaks,
}

/// The largest values seen across a run's readings (one every half second).
#[derive(Debug, Clone, Default)]
pub struct Peaks {
    /// The longest each pipeline stream was (`XLEN`).
    pub stream_lengths: std::collections::BTreeMap<String, u64>,
    /// Redis's largest `used_memory`, in bytes.
    pub redis_used_memory: u64,
    /// Readings taken.
    pub readings: usize,
}

impl Peaks {
    fn observe(&mut self, reading: &Reading) {
        for (name, stream) in &reading.streams {
            let longest = self.stream_lengths.entry((*name).to_owned()).or_default();
            *longest = (*longest).max(stream.length);
        }
        self.redis_used_memory = self.redis_used_memory.max(reading.used_memory);
        self.readings += 1;
    }

    /// One line for a person.
    pub fn line(&self) -> String {
        let lengths: Vec<String> = self
            .stream_lengths
            .iter()
            .map(|(name, len)| format!("{name} {len}"))
            .collect();
        format!(
            "peaks over {} readings: longest streams {}; Redis used_memory {:.1} MiB",
            self.readings,
            lengths.join(", "),
            self.redis_used_memory as f64 / (1024.0 * 1024.0)
        )
    }
}

/// The bare `host:port` of a base URL, as cursor keys name it.
fn host_key(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.trim_end_matches('/').to_ascii_lowercase()
}

/// Runs the pipeline on the network of `options` and judges the result.
pub async fn simulate(options: SimulateOptions) -> Result<SimulateOutcome> {
    let mut redis = TestRedis::start_with(RedisOptions {
        appendonly: true,
        maxmemory: None,
    })
    .await
    .context("starting Redis")?;
    let mut postgres = TestPostgres::start().await.context("starting PostgreSQL")?;
    let database_url = postgres.create_database().await?;
    migrate(&database_url).await?;
    println!("redis {} | postgres ready, schema migrated", redis.url());

    let generated = Instant::now();
    let sim = SimNetwork::start(options.spec.clone()).await?;
    println!(
        "network: {} repos on {} PDS hosts, {} labelers, {} live events at {}/s, faults {:?} ({} repos broken for good); generated in {:.1}s",
        options.spec.repos,
        options.spec.pds_hosts,
        options.spec.labelers,
        options.spec.live_events,
        options.spec.events_per_sec,
        options.spec.faults,
        sim.faults().breaks.len(),
        generated.elapsed().as_secs_f64()
    );
    println!("endpoints: {}", serde_json::to_string(sim.endpoints())?);

    let mut services = Services {
        redis: &mut redis,
        postgres: &mut postgres,
        database_url: &database_url,
    };
    let result = run_stages(&options, &sim, &mut services).await;
    let finished = sim.finish().await;
    let outcome = result?;
    finished?;
    Ok(outcome)
}

async fn migrate(database_url: &str) -> Result<()> {
    let mut child = ChildSpec::binary("indexer")?
        .arg("migrate")
        .env("DATABASE_URL", database_url)
        .spawn()?;
    let status = child.wait_exit(Duration::from_secs(120)).await?;
    if !status.success() {
        bail!("indexer migrate failed ({status}):\n{}", child.log_tail(30));
    }
    Ok(())
}

fn stage_specs(
    options: &SimulateOptions,
    sim: &SimNetwork,
    redis_url: &str,
    database_url: &str,
) -> Result<Vec<ChildSpec>> {
    let endpoints = sim.endpoints();
    let common = |spec: ChildSpec| {
        spec.env("REDIS_URL", redis_url)
            .env("RUST_LOG", "info")
            .env("ALLOW_PRIVATE_HOSTS", "true")
            .env("PLC_URL", &endpoints.plc)
    };
    // The simulation's tuning: listRepos pages the fault preset aims at, short retries and
    // timeouts so faults are ridden out within a test's deadline, and per-host limits a loopback
    // PDS can take. `stage_defaults` leaves every stage at its own defaults instead.
    let tuned = |spec: ChildSpec, settings: &[(&str, String)]| {
        if options.stage_defaults {
            spec
        } else {
            settings
                .iter()
                .fold(spec, |spec, (key, value)| spec.env(key, value))
        }
    };
    let mut specs = vec![tuned(
        common(ChildSpec::binary("ingester")?)
            .env("INGESTER_MODE", "all")
            .env("INGESTER_RELAY_HOSTS", &endpoints.relay)
            .env("INGESTER_LABELER_HOSTS", endpoints.labelers.join(",")),
        &[
            (
                "INGESTER_LIST_REPOS_LIMIT",
                preset::LIST_REPOS_LIMIT.to_string(),
            ),
            ("INGESTER_RETRY_BASE_MS", "100".into()),
            ("INGESTER_RETRY_MAX_MS", "1000".into()),
        ],
    )];
    for n in 0..options.backfillers.max(1) {
        specs.push(tuned(
            common(ChildSpec::program(
                &format!("backfiller-{n}"),
                locate_binary("backfiller")?,
            ))
            .env("BACKFILLER_CONSUMER_NAME", format!("sim-backfiller-{n}")),
            &[
                ("BACKFILLER_CONCURRENCY", "16".into()),
                ("BACKFILLER_PER_HOST_CONCURRENCY", "8".into()),
                ("BACKFILLER_PER_HOST_RPS", "500".into()),
                (
                    "BACKFILLER_HTTP_TIMEOUT_SECS",
                    preset::HTTP_TIMEOUT_SECS.to_string(),
                ),
                ("BACKFILLER_RETRY_DELAY_MS", "200".into()),
                ("BACKFILLER_CLAIM_IDLE_MS", "5000".into()),
            ],
        ));
    }
    for n in 0..options.indexers.max(1) {
        specs.push(
            common(ChildSpec::program(
                &format!("indexer-{n}"),
                locate_binary("indexer")?,
            ))
            .env("DATABASE_URL", database_url)
            .env("INDEXER_CONSUMER", format!("sim-indexer-{n}"))
            .env("HANDLE_RESOLVER_URL", &endpoints.web),
        );
    }
    Ok(specs
        .into_iter()
        .map(|spec| {
            options
                .stage_env
                .iter()
                .fold(spec, |spec, (key, value)| spec.env(key, value))
        })
        .collect())
}

/// Redis and PostgreSQL, which chaos may restart.
struct Services<'a> {
    redis: &'a mut TestRedis,
    postgres: &'a mut TestPostgres,
    database_url: &'a str,
}

async fn run_stages(
    options: &SimulateOptions,
    sim: &SimNetwork,
    services: &mut Services<'_>,
) -> Result<SimulateOutcome> {
    seed_cursors(sim, services.redis).await?;
    let specs = stage_specs(options, sim, &services.redis.url(), services.database_url)?;
    let mut stages = Stages::start(specs)?;
    let mut outcome = watch_and_verify(options, sim, services, &mut stages).await;
    if let Ok(done) = outcome.as_mut() {
        done.figures
            .push(format!("peak RSS: {}", stages.peak_rss()));
    }
    if outcome.as_ref().map_or(true, |o| !o.passed) {
        println!("stage logs (last lines):\n{}", stages.log_tails());
    }
    stages.stop().await;
    outcome
}

/// Starts the live cursors where the simulated network's history begins, as an operator would
/// for a new network: without them the ingester would subscribe live-only and miss whatever the
/// script released before it connected. The relay's cursor may only be set once its first event
/// is out (a cursor above the head is refused as `FutureCursor`).
async fn seed_cursors(sim: &SimNetwork, redis: &TestRedis) -> Result<()> {
    let mut conn = redis.connection().await?;
    if let Some(first) = sim.endpoints().first_relay_seq {
        wait_until(
            "the relay's first live event",
            Duration::from_secs(30),
            || async { Ok((sim.relay_head() >= first).then_some(())) },
        )
        .await?;
        let key = format!("firehose_live:cursor:{}", host_key(&sim.endpoints().relay));
        let _: () = conn.set(key, first - 1).await?;
    }
    for labeler in &sim.endpoints().labelers {
        let key = format!("label_live:cursor:{}", host_key(labeler));
        let _: () = conn.set(key, 0).await?;
    }
    Ok(())
}

/// Carries out one disruption; returns what was done.
async fn disrupt(what: Chaos, services: &mut Services<'_>, stages: &mut Stages) -> Result<String> {
    Ok(match what {
        Chaos::KillStage(index) => {
            let name = stages.kill_and_restart(index % stages.len().max(1)).await?;
            format!("killed {name} (SIGKILL) and started it again")
        }
        Chaos::RestartRedis => {
            services.redis.restart().await?;
            "restarted Redis".into()
        }
        Chaos::RestartPostgres => {
            services.postgres.restart().await?;
            "restarted PostgreSQL".into()
        }
    })
}

/// Watches the run to its end, then judges it with `verify --expect` against the oracle.
async fn watch_and_verify(
    options: &SimulateOptions,
    sim: &SimNetwork,
    services: &mut Services<'_>,
    stages: &mut Stages,
) -> Result<SimulateOutcome> {
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(indexer::schema::connect_options(
            services.database_url,
            &indexer::schema::SchemaName::parse("bsky")?,
        )?)
        .await
        .context("connecting to PostgreSQL")?;
    let watched = watch(options, sim, services, stages, &pool).await?;
    judge(sim, services, &pool, watched).await
}

/// What watching a run to its end gathered.
struct Watched {
    /// The last reading: every group caught up and the database stable.
    last: Reading,
    /// The oracle's manifest of the whole released script.
    manifest: Manifest,
    /// When the work was found done, from the start of the watch.
    elapsed: Duration,
    /// Chaos carried out and stages started again, in order.
    disruptions: Vec<String>,
    /// Highest stream lengths and Redis memory seen.
    peaks: Peaks,
    /// The checkpoints measured.
    checkpoints: Vec<CheckpointFigure>,
}

/// Polls the pipeline until its work is done (see [`is_done`] and [`live_cursors_done`]),
/// carrying out the chaos plan, measuring checkpoints and printing progress on the way.
async fn watch(
    options: &SimulateOptions,
    sim: &SimNetwork,
    services: &mut Services<'_>,
    stages: &mut Stages,
    pool: &sqlx::PgPool,
) -> Result<Watched> {
    let mut conn = services.redis.connection().await?;
    let relay = host_key(&sim.endpoints().relay);
    let labelers: Vec<String> = sim
        .endpoints()
        .labelers
        .iter()
        .map(|l| host_key(l))
        .collect();
    let total = sim.script().events().len();
    let start = Instant::now();
    let mut first = Reading::take(&mut conn, pool, &relay, &labelers).await?;
    first.at = start;
    let mut shown = first.clone();
    let mut previous = first.clone();
    let mut stable_polls = 0;
    let mut oracle = None;
    let mut chaos = options.chaos.iter().peekable();
    let mut disruptions = Vec::new();
    let mut peaks = Peaks::default();
    let mut checkpoints_due = options.checkpoints.iter().copied().peekable();
    let mut checkpoints = Vec::new();
    let at = || format!("[{:>4}s]", start.elapsed().as_secs());
    loop {
        tokio::time::sleep(POLL).await;
        for restarted in stages.check(!options.chaos.is_empty())? {
            println!("{} {restarted} started again", at());
            disruptions.push(format!("{restarted} started again"));
        }
        while let Some(event) = chaos.next_if(|e| start.elapsed() >= e.at) {
            let done = disrupt(event.what, services, stages).await?;
            println!("{} chaos: {done}", at());
            disruptions.push(done);
            stable_polls = 0;
        }
        if start.elapsed() > options.deadline {
            bail!(
                "the pipeline did not finish within {:?}: {}\n{}\n{}",
                options.deadline,
                previous.line(&first, start, (sim.released(), total)),
                unfinished(&previous, sim),
                stages.log_tails()
            );
        }
        let mut reading = match Reading::take(&mut conn, pool, &relay, &labelers).await {
            Ok(reading) => reading,
            Err(error) => {
                // Redis or PostgreSQL may be restarting; the deadline bounds the wait.
                println!("{} reading failed: {error:#}", at());
                if let Ok(fresh) = services.redis.connection().await {
                    conn = fresh;
                }
                continue;
            }
        };
        if checkpoints_due
            .next_if(|rows| reading.records >= *rows)
            .is_some()
        {
            let mut probe = Probe {
                redis: &mut conn,
                pool,
                relay: &relay,
                labelers: &labelers,
            };
            let figure = checkpoint::measure(stages, &mut probe).await?;
            println!("{} {}", at(), figure.line());
            checkpoints.push(figure);
            continue;
        }
        if reading.at.duration_since(shown.at) >= options.progress_every {
            println!("{}", reading.line(&shown, start, (sim.released(), total)));
            shown = reading.clone();
        }
        peaks.observe(&reading);
        let done = is_done(&reading, sim);
        if done && let Err(error) = reading.count_records(pool).await {
            println!("{} counting failed: {error:#}", at());
            continue;
        }
        stable_polls = if done && reading.records == previous.records {
            stable_polls + 1
        } else {
            0
        };
        previous = reading;
        if stable_polls >= 3 {
            // The script is fully released by now, so the manifest is computed once.
            let manifest = match &oracle {
                Some(manifest) => manifest,
                None => oracle.insert(sim.oracle_manifest()?),
            };
            if live_cursors_done(manifest, &previous) {
                break;
            }
        }
    }
    Ok(Watched {
        elapsed: start.elapsed(),
        manifest: oracle.context("the run ended without an oracle manifest")?,
        last: previous,
        disruptions,
        peaks,
        checkpoints,
    })
}

/// Whether the backfill side's work is done: the script released, the listing over, every
/// group caught up and each deliberately broken repo dead-lettered.
fn is_done(reading: &Reading, sim: &SimNetwork) -> bool {
    sim.fully_released()
        && reading.listing_done
        && reading.all_caught_up()
        && reading.dead_letters >= sim.faults().breaks.len() as u64
}

/// Whether the live cursors have reached the script's last relay and labeler seqs.
fn live_cursors_done(manifest: &Manifest, reading: &Reading) -> bool {
    let relay_done = manifest
        .relay_seq
        .is_none_or(|seq| reading.relay_cursor.is_some_and(|c| c >= seq));
    let labels_done = manifest.labeler_seqs.len() <= reading.label_cursors.len()
        && manifest
            .labeler_seqs
            .values()
            .all(|seq| reading.label_cursors.values().any(|c| c >= seq));
    relay_done && labels_done
}

/// What a run that missed its deadline had not finished.
fn unfinished(last: &Reading, sim: &SimNetwork) -> String {
    format!(
        "last reading: listing done {}, caught up {}, dead letters {}/{}, relay cursor {:?}, label cursors {:?}",
        last.listing_done,
        last.all_caught_up(),
        last.dead_letters,
        sim.faults().breaks.len(),
        last.relay_cursor,
        last.label_cursors,
    )
}

/// Runs `verify --expect` on the watched run and gathers its figures.
async fn judge(
    sim: &SimNetwork,
    services: &Services<'_>,
    pool: &sqlx::PgPool,
    watched: Watched,
) -> Result<SimulateOutcome> {
    let Watched {
        last,
        manifest,
        elapsed,
        disruptions,
        peaks,
        checkpoints,
    } = watched;
    let dir = tempfile::tempdir()?;
    let manifest_path = dir.path().join("manifest.json");
    manifest.write(&manifest_path)?;
    let oracle_records = manifest.records.len();
    let required_dead_letters = manifest.dead_letters.iter().filter(|d| d.required).count();
    let oracle_line = format!(
        "oracle: {oracle_records} records expected ({} required), {} absent, {} labels, {} dead letters ({required_dead_letters} required)",
        manifest.records.iter().filter(|r| r.required).count(),
        manifest.absent.len(),
        manifest.labels.len(),
        manifest.dead_letters.len(),
    );
    // At scale the manifest is gigabytes, and verify reads its own copy from the file.
    drop(manifest);
    let redis_url = services.redis.url();
    let (passed, verify_report) =
        run_verify(&manifest_path, &redis_url, services.database_url).await?;
    let mut figures = stage_figures(&last, elapsed, sim.faults_fired());
    figures.extend([peaks.line(), oracle_line, disk_line(pool).await?]);
    figures.extend(checkpoints.iter().map(CheckpointFigure::line));
    Ok(SimulateOutcome {
        passed,
        verify_report,
        figures,
        elapsed,
        faults_fired: sim.faults_fired(),
        required_dead_letters,
        disruptions,
        peaks,
        oracle_records,
        checkpoints,
    })
}

/// Each stage's totals and rates over the run, from its last reading.
fn stage_figures(last: &Reading, elapsed: Duration, faults_fired: usize) -> Vec<String> {
    let secs = elapsed.as_secs_f64().max(0.001);
    let stream = |name: &str| last.streams.get(name).cloned().unwrap_or_default();
    let (listed, live, labels) = (
        stream("repo_backfill").added,
        stream("firehose_live").added,
        stream("label_live").added,
    );
    let backfill = stream("firehose_backfill");
    let indexed = stream("firehose_live").read + backfill.read + stream("label_live").read;
    vec![
        format!("time to complete: {secs:.1}s (faults fired: {faults_fired})"),
        format!(
            "ingester: {listed} repos listed, {live} live events, {labels} label frames ({:.0} entries/s)",
            (listed + live + labels) as f64 / secs
        ),
        format!(
            "backfiller: {} record events ({:.0}/s), {} repos dead-lettered",
            backfill.added,
            backfill.added as f64 / secs,
            last.dead_letters
        ),
        format!(
            "indexer: {indexed} events indexed ({:.0}/s), {} rows in record ({:.0}/s)",
            (stream("firehose_live").read + backfill.read) as f64 / secs,
            last.records,
            last.records as f64 / secs
        ),
    ]
}

/// PostgreSQL's size on disk: the database, and its largest tables with their indexes.
async fn disk_line(pool: &sqlx::PgPool) -> Result<String> {
    let database: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
        .fetch_one(pool)
        .await?;
    let tables: Vec<(String, i64)> = sqlx::query_as(
        "SELECT relname::text, pg_total_relation_size(oid) FROM pg_class
         WHERE relkind = 'r' AND relnamespace = current_schema()::regnamespace
         ORDER BY 2 DESC LIMIT 5",
    )
    .fetch_all(pool)
    .await?;
    let mib = |bytes: i64| bytes as f64 / (1024.0 * 1024.0);
    let tables: Vec<String> = tables
        .iter()
        .map(|(name, bytes)| format!("{name} {:.0} MiB", mib(*bytes)))
        .collect();
    Ok(format!(
        "PostgreSQL on disk: {:.0} MiB (largest: {})",
        mib(database),
        tables.join(", ")
    ))
}

/// Runs `verify --expect`; returns whether it passed and what it printed. `live-cursors` is not
/// judged: it asks whether live cursors move, and the script is over by now, so nothing does.
async fn run_verify(
    manifest: &Path,
    redis_url: &str,
    database_url: &str,
) -> Result<(bool, String)> {
    let output = tokio::process::Command::new(locate_binary("verify")?)
        .arg("--expect")
        .arg(manifest)
        .args(["--sample-secs", "1", "--skip", "live-cursors"])
        .env_clear()
        .env("REDIS_URL", redis_url)
        .env("DATABASE_URL", database_url)
        .output()
        .await
        .context("running verify")?;
    let mut report = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !stderr.trim().is_empty() {
        report.push_str(&stderr);
    }
    Ok((output.status.success(), report))
}
