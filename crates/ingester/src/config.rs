//! The ingester's settings: every one an environment variable (the contract's names, with rsky's
//! aliases) and a `--flag`, checked at start so a bad value is a usage error naming the setting.

use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Parser, ValueEnum};
use runtime::{CommonArgs, EnvAlias};
use streams::{ProducerOptions, ServiceHost};

use crate::backfill::{BackfillOptions, IsolateOptions};
use crate::live::{CollectionFilter, LiveOptions};

/// Environment aliases: rsky's names for the contract's variables.
pub const ENV_ALIASES: &[EnvAlias<'static>] = &[
    ("INGESTER_RELAY_HOSTS", "RELAY_HOSTS"),
    ("INGESTER_LABELER_HOSTS", "LABELER_HOSTS"),
];

/// Which parts of the ingester run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Firehose, labeler and backfill together.
    All,
    /// Relay firehoses into `firehose_live`.
    Firehose,
    /// Labeler streams into `label_live`.
    Labeler,
    /// `listRepos` enumeration into `repo_backfill`.
    Backfill,
}

impl Mode {
    /// Whether the relay firehoses are read.
    pub fn firehose(self) -> bool {
        matches!(self, Mode::All | Mode::Firehose)
    }

    /// Whether the labelers are read.
    pub fn labeler(self) -> bool {
        matches!(self, Mode::All | Mode::Labeler)
    }

    /// Whether repos are enumerated.
    pub fn backfill(self) -> bool {
        matches!(self, Mode::All | Mode::Backfill)
    }
}

/// Reads relays' firehoses, labelers' label streams and relays' repo lists into Redis Streams.
#[derive(Debug, Clone, Parser)]
#[command(name = "ingester", version)]
pub struct Args {
    #[command(flatten)]
    /// Settings every binary shares.
    pub common: CommonArgs,

    /// What to run.
    #[arg(long, env = "INGESTER_MODE", value_enum, default_value_t = Mode::All)]
    pub mode: Mode,

    /// Relays (comma-separated host names; `http://host:port` for plain-HTTP test networks).
    #[arg(
        long,
        env = "INGESTER_RELAY_HOSTS",
        value_delimiter = ',',
        default_value = "bsky.network"
    )]
    pub relay_hosts: Vec<String>,

    /// Labelers (comma-separated host names).
    #[arg(long, env = "INGESTER_LABELER_HOSTS", value_delimiter = ',')]
    pub labeler_hosts: Vec<String>,

    /// Unhandled backlog of a stream (the largest lag plus pending among its consumer groups) at
    /// which writing waits for consumers. Entries every group has acknowledged never count.
    #[arg(long, env = "INGESTER_HIGH_WATER_MARK", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub high_water_mark: u64,

    /// Most entries per MULTI/EXEC. A batch is written as soon as the reader has nothing more to
    /// hand over, so light traffic reaches Redis at once and heavy traffic makes large batches.
    #[arg(long, env = "INGESTER_BATCH_SIZE", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,

    /// No longer used (kept so existing deployments still start): batches no longer wait to
    /// fill, see INGESTER_BATCH_SIZE. A value set here is logged and ignored.
    #[arg(long, env = "INGESTER_BATCH_TIMEOUT_MS")]
    pub batch_timeout_ms: Option<u64>,

    /// Most records kept in each skip-record stream (`{stream}:skipped:{host}`); the oldest
    /// beyond it are dropped and counted (`streams_capped_dropped_total`).
    #[arg(long, env = "INGESTER_SKIPPED_MAX_LEN", default_value_t = streams::capped::DEFAULT_MAX_LEN,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub skipped_max_len: u64,

    /// Repos per listRepos page (1..=1000).
    #[arg(long, env = "INGESTER_LIST_REPOS_LIMIT", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub list_repos_limit: u32,

    /// Seconds between re-reads of a finished host's backfill cursor key.
    #[arg(long, env = "INGESTER_BACKFILL_RECHECK_SECS", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub backfill_recheck_secs: u64,

    /// Enumerate the relays' PDS hosts with listHosts and list each PDS's repos directly, instead
    /// of the relays' own listRepos.
    #[arg(long, env = "INGESTER_LIST_HOSTS", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub list_hosts: bool,

    /// Keep only record events whose collection starts with one of these prefixes
    /// (comma-separated, e.g. `app.bsky.,chat.bsky.`); empty keeps everything.
    #[arg(long, env = "INGESTER_COLLECTIONS", value_delimiter = ',')]
    pub collections: Vec<String>,

    /// Reconnect when a subscription delivers nothing for this many seconds.
    #[arg(long, env = "INGESTER_STALL_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub stall_timeout_secs: u64,

    /// First delay (ms) before a reconnect or a retried listRepos page.
    #[arg(long, env = "INGESTER_RETRY_BASE_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_base_ms: u64,

    /// Longest delay (ms) before a reconnect or a retried listRepos page.
    #[arg(long, env = "INGESTER_RETRY_MAX_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub retry_max_ms: u64,

    /// Consecutive failures of a listRepos page before it is halved (and, at one entry, skipped
    /// and recorded when its cursor is numeric).
    #[arg(long, env = "INGESTER_LIST_REPOS_MAX_FAILURES", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub list_repos_max_failures: u32,

    /// Per-read timeout (seconds) of listRepos and listHosts calls.
    #[arg(long, env = "INGESTER_HTTP_TIMEOUT_SECS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub http_timeout_secs: u64,

    /// Allow PDS hosts learnt from listHosts on private, loopback or link-local addresses (test
    /// networks only). Configured relays are trusted either way.
    #[arg(long, env = "ALLOW_PRIVATE_HOSTS", action = ArgAction::Set, num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_parser = BoolishValueParser::new())]
    pub allow_private_hosts: bool,

    /// Seconds the tasks get to drain after SIGTERM.
    #[arg(long, env = "INGESTER_DRAIN_TIMEOUT_SECS", default_value_t = 30)]
    pub drain_timeout_secs: u64,
}

/// A setting that parsed but cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A host that is not a host name.
    #[error("{setting}: {source}")]
    Host {
        /// The setting.
        setting: &'static str,
        /// Why.
        #[source]
        source: streams::HostError,
    },
    /// Nothing to do for the chosen mode.
    #[error("INGESTER_MODE={mode:?} needs {needs}")]
    Nothing {
        /// The mode.
        mode: Mode,
        /// The missing setting.
        needs: &'static str,
    },
}

/// The validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// What runs.
    pub mode: Mode,
    /// Redis URL.
    pub redis_url: String,
    /// Relays, normalised.
    pub relays: Vec<ServiceHost>,
    /// Labelers, normalised.
    pub labelers: Vec<ServiceHost>,
    /// Which collections the firehose keeps.
    pub filter: CollectionFilter,
    /// Subscription settings.
    pub live: LiveOptions,
    /// Listing settings.
    pub backfill: BackfillOptions,
    /// `repo_backfill`'s high-water mark.
    pub producer: ProducerOptions,
    /// List PDSes from listHosts instead of the relays' listRepos.
    pub list_hosts: bool,
    /// Per-read HTTP timeout.
    pub http_timeout: Duration,
    /// Private PDS hosts allowed.
    pub allow_private_hosts: bool,
    /// Drain deadline.
    pub drain_timeout: Duration,
}

impl Args {
    /// Checks and normalises the settings.
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let relays = hosts("INGESTER_RELAY_HOSTS", &self.relay_hosts)?;
        let labelers = hosts("INGESTER_LABELER_HOSTS", &self.labeler_hosts)?;
        if self.mode == Mode::Labeler && labelers.is_empty() {
            return Err(ConfigError::Nothing {
                mode: self.mode,
                needs: "INGESTER_LABELER_HOSTS",
            });
        }
        if matches!(self.mode, Mode::Firehose | Mode::Backfill) && relays.is_empty() {
            return Err(ConfigError::Nothing {
                mode: self.mode,
                needs: "INGESTER_RELAY_HOSTS",
            });
        }
        if let Some(ms) = self.batch_timeout_ms {
            tracing::warn!(
                batch_timeout_ms = ms,
                "INGESTER_BATCH_TIMEOUT_MS is no longer used and is ignored: batches are written \
                 as soon as the reader has nothing more to hand over"
            );
        }
        let retry_base = Duration::from_millis(self.retry_base_ms);
        let retry_max = Duration::from_millis(self.retry_max_ms.max(self.retry_base_ms));
        let producer = ProducerOptions {
            high_water_mark: self.high_water_mark,
            ..ProducerOptions::default()
        };
        let live = LiveOptions {
            batch_size: self.batch_size as usize,
            skipped_max_len: self.skipped_max_len,
            stall_timeout: Duration::from_secs(self.stall_timeout_secs),
            reconnect_base: retry_base,
            reconnect_max: retry_max,
            producer: producer.clone(),
            ..LiveOptions::default()
        };
        let backfill = BackfillOptions {
            isolate: IsolateOptions {
                limit: self.list_repos_limit,
                max_failures: self.list_repos_max_failures,
                retry_base,
                retry_max,
            },
            recheck: Duration::from_secs(self.backfill_recheck_secs),
            skipped_max_len: self.skipped_max_len,
        };
        Ok(Settings {
            mode: self.mode,
            redis_url: self.common.redis_url.clone(),
            relays,
            labelers,
            filter: CollectionFilter::new(self.collections.iter().cloned()),
            live,
            backfill,
            producer,
            list_hosts: self.list_hosts,
            http_timeout: Duration::from_secs(self.http_timeout_secs),
            allow_private_hosts: self.allow_private_hosts,
            drain_timeout: Duration::from_secs(self.drain_timeout_secs),
        })
    }
}

/// Parses a host list, ignoring empty items (an empty variable means none).
fn hosts(setting: &'static str, items: &[String]) -> Result<Vec<ServiceHost>, ConfigError> {
    let mut hosts: Vec<ServiceHost> = Vec::new();
    for item in items.iter().filter(|i| !i.trim().is_empty()) {
        let host =
            ServiceHost::parse(item).map_err(|source| ConfigError::Host { setting, source })?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    Ok(hosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("ingester").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn defaults_follow_the_contract() {
        let s = parse(&[]).settings().unwrap();
        assert_eq!(s.mode, Mode::All);
        assert_eq!(s.relays.len(), 1);
        assert_eq!(s.relays[0].key(), "bsky.network");
        assert!(s.labelers.is_empty());
        assert_eq!(s.producer.high_water_mark, 1_000_000);
        assert_eq!(s.live.batch_size, 500);
        assert_eq!(s.live.skipped_max_len, 100_000);
        assert_eq!(s.backfill.skipped_max_len, 100_000);
        assert_eq!(s.backfill.isolate.limit, 1000);
        assert_eq!(s.backfill.recheck, Duration::from_secs(300));
        assert!(!s.list_hosts);
    }

    #[test]
    fn hosts_are_normalised_and_deduplicated() {
        let s = parse(&[
            "--relay-hosts",
            "https://Relay1.us-east.bsky.network/,relay1.us-east.bsky.network,,http://localhost:2583",
            "--labeler-hosts",
            "",
            "--list-hosts",
        ])
        .settings()
        .unwrap();
        let keys: Vec<String> = s.relays.iter().map(ServiceHost::key).collect();
        assert_eq!(keys, ["relay1.us-east.bsky.network", "localhost:2583"]);
        assert!(s.labelers.is_empty());
        assert!(s.list_hosts);
    }

    #[test]
    fn unusable_settings_are_refused() {
        assert!(parse(&["--relay-hosts", "ftp://x"]).settings().is_err());
        assert!(parse(&["--mode", "labeler"]).settings().is_err());
        assert!(Args::try_parse_from(["ingester", "--list-repos-limit", "1001"]).is_err());
        assert!(Args::try_parse_from(["ingester", "--batch-size", "0"]).is_err());
    }
}
