//! The backfiller's settings: the contract's `BACKFILLER_*` variables (with rsky's aliases), each
//! also a `--flag`, and the plain [`Settings`] the library runs on.
//!
//! The clap layer ([`Args`]) only parses; [`Settings`] is what the rest of the crate reads, so tests
//! build it directly instead of going through the process environment.

use std::path::PathBuf;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use url::Url;

/// rsky's names for the contract's variables: `(primary, alias)`.
pub const ALIASES: &[runtime::EnvAlias<'static>] = &[
    ("BACKFILLER_INPUT_STREAM", "BACKFILLER_BACKFILL_STREAM"),
    ("BACKFILLER_OUTPUT_STREAM", "BACKFILLER_FIREHOSE_STREAM"),
    ("BACKFILLER_CONSUMER_GROUP", "BACKFILLER_GROUP"),
    ("BACKFILLER_CONSUMER_NAME", "BACKFILLER_CONSUMER"),
];

/// The command line and environment of the `backfiller` binary.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "backfiller",
    version,
    about = "Fetches the repos listed in repo_backfill from their PDSes, verifies them, and writes \
             one event per record to firehose_backfill"
)]
pub struct Args {
    /// Settings every binary shares.
    #[command(flatten)]
    pub common: runtime::CommonArgs,
    /// The backfiller's own settings.
    #[command(flatten)]
    pub backfill: BackfillArgs,
}

/// The `BACKFILLER_*` settings, plus the identity settings (`PLC_URL`, `ALLOW_PRIVATE_HOSTS`).
#[derive(Debug, Clone, clap::Args)]
pub struct BackfillArgs {
    /// Stream of repos to backfill.
    #[arg(long, env = "BACKFILLER_INPUT_STREAM", default_value = streams::names::REPO_BACKFILL)]
    pub input_stream: String,

    /// Stream the record events are written to.
    #[arg(long, env = "BACKFILLER_OUTPUT_STREAM", default_value = streams::names::FIREHOSE_BACKFILL)]
    pub output_stream: String,

    /// Consumer group on the input stream, shared by every backfiller process.
    #[arg(long, env = "BACKFILLER_CONSUMER_GROUP", default_value = streams::names::BACKFILLER_GROUP)]
    pub consumer_group: String,

    /// This process's consumer name (default: host name and pid, unique per process).
    #[arg(long, env = "BACKFILLER_CONSUMER_NAME")]
    pub consumer_name: Option<String>,

    /// Repos fetched, verified and emitted at once.
    #[arg(long, env = "BACKFILLER_CONCURRENCY", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub concurrency: u32,

    /// Entries read per XREADGROUP.
    #[arg(long, env = "BACKFILLER_BATCH_SIZE", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub batch_size: u32,

    /// Requests in flight at once to one PDS host.
    #[arg(long, env = "BACKFILLER_PER_HOST_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub per_host_concurrency: u32,

    /// Requests per second to one PDS host (requests are spaced evenly).
    #[arg(long, env = "BACKFILLER_PER_HOST_RPS", default_value_t = 10.0, value_parser = parse_rps)]
    pub per_host_rps: f64,

    /// Longest wait for the next bytes of a response, in seconds (not a deadline for the body).
    #[arg(long, env = "BACKFILLER_HTTP_TIMEOUT_SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub http_timeout_secs: u64,

    /// Largest repo fetched (e.g. `2GiB`); larger ones are dead-lettered.
    #[arg(long, env = "BACKFILLER_MAX_REPO_BYTES", default_value = "2GiB", value_parser = runtime::parse_byte_size)]
    pub max_repo_bytes: u64,

    /// Do not check commit signatures (hashes, DID and tree are still checked).
    #[arg(long, env = "BACKFILLER_SKIP_SIGNATURE_VERIFICATION", default_value = "false", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub skip_signature_verification: bool,

    /// Unhandled backlog of the output stream (the largest lag plus pending among its groups) at
    /// or above which emission waits.
    #[arg(long, env = "BACKFILLER_HIGH_WATER_MARK", default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub high_water_mark: u64,

    /// Most entries kept in `repo_backfill_dlq`; the oldest beyond it are dropped and counted
    /// (`streams_capped_dropped_total`).
    #[arg(long, env = "DLQ_MAX_LEN", default_value_t = streams::capped::DEFAULT_MAX_LEN, value_parser = clap::value_parser!(u64).range(1..))]
    pub dlq_max_len: u64,

    /// Deliveries after which a failing repo is dead-lettered.
    #[arg(long, env = "BACKFILLER_MAX_DELIVERIES", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub max_deliveries: u64,

    /// Entries pending this long on a consumer are claimed by another, in milliseconds.
    #[arg(long, env = "BACKFILLER_CLAIM_IDLE_MS", default_value_t = 60_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub claim_idle_ms: u64,

    /// Wait before the first retry of a failed repo, in milliseconds; doubles per delivery.
    #[arg(long, env = "BACKFILLER_RETRY_DELAY_MS", default_value_t = 1_000)]
    pub retry_delay_ms: u64,

    /// Repos held per PDS host (waiting or in work); the rest of that host's repos go back to
    /// the end of the input stream so a slow or rate-limited host never stalls the others.
    #[arg(long, env = "BACKFILLER_PER_HOST_QUEUE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub per_host_queue: u32,

    /// Record bytes of one repo kept in memory before spilling to a temporary file.
    #[arg(long, env = "BACKFILLER_REPO_MEMORY_BUDGET", default_value = "32MiB", value_parser = runtime::parse_byte_size)]
    pub repo_memory_budget: u64,

    /// Directory for spill files (default: the system's temporary directory).
    #[arg(long, env = "BACKFILLER_SPILL_DIR")]
    pub spill_dir: Option<PathBuf>,

    /// Events written per MULTI/EXEC.
    #[arg(long, env = "BACKFILLER_EMIT_CHUNK", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub emit_chunk: u32,

    /// The PLC directory.
    #[arg(long, env = "PLC_URL", default_value = "https://plc.directory")]
    pub plc_url: Url,

    /// Allow PDS endpoints on private, loopback and link-local addresses (test networks only).
    #[arg(long, env = "ALLOW_PRIVATE_HOSTS", default_value = "false", value_parser = BoolishValueParser::new(), num_args = 0..=1, default_missing_value = "true")]
    pub allow_private_hosts: bool,
}

fn parse_rps(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!(
            "{text:?} is not a positive number of requests per second"
        )),
    }
}

/// Everything the backfiller runs on, already validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Stream of `repo_backfill` entries.
    pub input_stream: String,
    /// Stream the events go to.
    pub output_stream: String,
    /// Consumer group.
    pub group: String,
    /// Consumer name, unique per process.
    pub consumer: String,
    /// Repos in flight (fetch, verify, emit).
    pub concurrency: usize,
    /// Entries per XREADGROUP.
    pub batch_size: usize,
    /// Requests in flight per PDS host.
    pub per_host_concurrency: usize,
    /// Requests per second per PDS host.
    pub per_host_rps: f64,
    /// Repos held per PDS host before the rest are sent to the back of the stream.
    pub per_host_queue: usize,
    /// How long a repo over its host's queue waits for room before going to the back.
    pub overflow_wait: Duration,
    /// How long a repo waits on a host that keeps answering 429 before going to the back.
    pub park_hold: Duration,
    /// Per-read HTTP timeout.
    pub http_timeout: Duration,
    /// Largest repo accepted.
    pub max_repo_bytes: u64,
    /// Skip commit signature checks.
    pub skip_signature_verification: bool,
    /// Unhandled output backlog at which emission waits.
    pub high_water_mark: u64,
    /// Most entries kept in the dead-letter stream.
    pub dlq_max_len: u64,
    /// Deliveries before dead-lettering.
    pub max_deliveries: u64,
    /// Idle time after which pending entries are claimed.
    pub claim_idle: Duration,
    /// First retry delay.
    pub retry_delay: Duration,
    /// Record bytes per repo kept in memory.
    pub repo_memory_budget: usize,
    /// Where spill files go.
    pub spill_dir: Option<PathBuf>,
    /// Events per MULTI/EXEC.
    pub emit_chunk: usize,
    /// The PLC directory.
    pub plc_url: Url,
    /// Allow private destinations (test networks).
    pub allow_private_hosts: bool,
}

impl Settings {
    /// The contract's defaults, with `consumer` as this process's consumer name.
    pub fn new(consumer: impl Into<String>) -> Self {
        Self {
            input_stream: streams::names::REPO_BACKFILL.to_owned(),
            output_stream: streams::names::FIREHOSE_BACKFILL.to_owned(),
            group: streams::names::BACKFILLER_GROUP.to_owned(),
            consumer: consumer.into(),
            concurrency: 10,
            batch_size: 50,
            per_host_concurrency: 4,
            per_host_rps: 10.0,
            per_host_queue: 16,
            overflow_wait: Duration::from_secs(1),
            park_hold: Duration::from_secs(60),
            http_timeout: Duration::from_secs(60),
            max_repo_bytes: 2 * 1024 * 1024 * 1024,
            skip_signature_verification: false,
            high_water_mark: 1_000_000,
            dlq_max_len: streams::capped::DEFAULT_MAX_LEN,
            max_deliveries: 5,
            claim_idle: Duration::from_millis(60_000),
            retry_delay: Duration::from_secs(1),
            repo_memory_budget: 32 * 1024 * 1024,
            spill_dir: None,
            emit_chunk: 500,
            plc_url: Url::parse("https://plc.directory").expect("a literal URL parses"),
            allow_private_hosts: false,
        }
    }
}

impl From<BackfillArgs> for Settings {
    fn from(a: BackfillArgs) -> Self {
        let mut s = Settings::new(
            a.consumer_name
                .filter(|n| !n.is_empty())
                .unwrap_or_else(runtime::default_consumer_name),
        );
        s.input_stream = a.input_stream;
        s.output_stream = a.output_stream;
        s.group = a.consumer_group;
        s.concurrency = a.concurrency as usize;
        s.batch_size = a.batch_size as usize;
        s.per_host_concurrency = a.per_host_concurrency as usize;
        s.per_host_rps = a.per_host_rps;
        s.per_host_queue = a.per_host_queue as usize;
        s.http_timeout = Duration::from_secs(a.http_timeout_secs);
        s.max_repo_bytes = a.max_repo_bytes;
        s.skip_signature_verification = a.skip_signature_verification;
        s.high_water_mark = a.high_water_mark;
        s.dlq_max_len = a.dlq_max_len;
        s.max_deliveries = a.max_deliveries;
        s.claim_idle = Duration::from_millis(a.claim_idle_ms);
        s.retry_delay = Duration::from_millis(a.retry_delay_ms);
        s.repo_memory_budget = usize::try_from(a.repo_memory_budget).unwrap_or(usize::MAX);
        s.spill_dir = a.spill_dir;
        s.emit_chunk = a.emit_chunk as usize;
        s.plc_url = a.plc_url;
        s.allow_private_hosts = a.allow_private_hosts;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn defaults_follow_the_contract() {
        let args = Args::try_parse_from(["backfiller", "--consumer-name", "c1"]).unwrap();
        let s = Settings::from(args.backfill);
        let d = Settings::new("c1");
        assert_eq!(s.input_stream, "repo_backfill");
        assert_eq!(s.output_stream, "firehose_backfill");
        assert_eq!(s.group, "repo_backfill_group");
        assert_eq!(s.consumer, "c1");
        assert_eq!((s.concurrency, s.batch_size), (10, 50));
        assert_eq!((s.per_host_concurrency, s.per_host_rps), (4, 10.0));
        assert_eq!(s.http_timeout, Duration::from_secs(60));
        assert_eq!(s.max_repo_bytes, 2 << 30);
        assert_eq!(s.high_water_mark, 1_000_000);
        assert_eq!(s.dlq_max_len, d.dlq_max_len);
        assert!(!s.skip_signature_verification);
        assert_eq!(s.plc_url.as_str(), "https://plc.directory/");
        assert_eq!(d.plc_url, s.plc_url);
    }

    #[test]
    fn flags_and_bad_values() {
        let args = Args::try_parse_from([
            "backfiller",
            "--skip-signature-verification",
            "--per-host-rps",
            "2.5",
            "--max-repo-bytes",
            "10MiB",
        ])
        .unwrap();
        assert!(args.backfill.skip_signature_verification);
        assert_eq!(args.backfill.per_host_rps, 2.5);
        assert_eq!(args.backfill.max_repo_bytes, 10 << 20);
        for bad in [
            ["backfiller", "--per-host-rps", "0"],
            ["backfiller", "--concurrency", "0"],
            ["backfiller", "--max-repo-bytes", "lots"],
        ] {
            assert!(Args::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
