//! The indexer's settings: every one an environment variable and a `--flag` (the contract's
//! "Environment" table), plus the settings every binary shares.

use clap::{Parser, Subcommand, ValueEnum};
use streams::names;
use url::Url;

use crate::schema::SchemaName;

/// Command-line and environment configuration of the `indexer` binary.
#[derive(Debug, Parser)]
#[command(
    name = "indexer",
    version,
    about = "Indexes the pipeline's streams into the Bluesky AppView schema"
)]
pub struct Args {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://127.0.0.1:5432/bsky",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Schema holding the AppView tables and the migration history (lower-case letters, digits, '_').
    #[arg(long, env = "DB_SCHEMA", default_value = "bsky")]
    pub db_schema: SchemaName,

    /// Settings of the run mode (no subcommand).
    #[command(flatten)]
    pub run: RunArgs,

    /// Settings every binary shares.
    #[command(flatten)]
    pub common: runtime::CommonArgs,

    /// What to do; without one, index the streams until SIGTERM.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Schema administration.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum Command {
    /// Create the schema, or upgrade it to this build's version; does nothing when it is current.
    Migrate,
    /// Exit 0 if the schema is at this build's version, else explain how to migrate and exit 1.
    CheckSchema,
}

/// Which of the configured streams this process reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// `firehose_live` and `firehose_backfill`.
    Stream,
    /// `label_live`.
    Label,
    /// All of them.
    All,
}

/// Settings of the run mode.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    /// Streams to index (comma-separated).
    #[arg(
        long,
        env = "INDEXER_STREAMS",
        value_delimiter = ',',
        default_value = "firehose_live,firehose_backfill,label_live"
    )]
    pub streams: Vec<String>,

    /// Which of those streams to read: stream (repo events), label, or all.
    #[arg(long, env = "INDEXER_MODE", value_enum, default_value_t = Mode::All)]
    pub mode: Mode,

    /// Consumer group shared by every indexer process.
    #[arg(long, env = "INDEXER_GROUP", default_value = "firehose_group")]
    pub group: String,

    /// This process's consumer name (default: host name and pid, unique per process).
    #[arg(long, env = "INDEXER_CONSUMER")]
    pub consumer: Option<String>,

    /// Fewest handler calls in flight. The indexer raises it by itself until the entries in
    /// flight can fill every writer's transaction twice over (INDEXER_WRITERS ×
    /// INDEXER_MAX_TRANSACTION × 2), so the defaults are the fast settings.
    #[arg(long, env = "INDEXER_CONCURRENCY", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,

    /// Most entries of different DIDs handed to one handler call. Calls are merged into
    /// transactions by the writers, so this is not the transaction size (see
    /// INDEXER_MAX_TRANSACTION): transactions grow with what is waiting, one event when idle.
    #[arg(long, env = "INDEXER_BATCH_SIZE", default_value_t = 50,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: u32,

    /// Transactions written at once; concurrent batches are merged into them.
    #[arg(long, env = "INDEXER_WRITERS", default_value_t = 4,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub writers: u32,

    /// Most changes merged into one transaction (a single larger batch is still written whole);
    /// also the most entries of one DID handed over together when they are back to back.
    #[arg(long, env = "INDEXER_MAX_TRANSACTION", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_transaction: u32,

    /// Most entries kept in each dead-letter stream (`<stream>_dlq`); the oldest beyond it are
    /// dropped and counted (`streams_capped_dropped_total`).
    #[arg(long, env = "DLQ_MAX_LEN", default_value_t = streams::capped::DEFAULT_MAX_LEN,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub dlq_max_len: u64,

    /// Most PostgreSQL connections.
    #[arg(long, env = "DB_POOL_MAX_SIZE", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub db_pool_max_size: u32,

    /// A com.atproto.identity.resolveHandle service to check handles with, instead of DNS and HTTPS.
    #[arg(long, env = "HANDLE_RESOLVER_URL")]
    pub handle_resolver_url: Option<Url>,

    /// The PLC directory.
    #[arg(long, env = "PLC_URL", default_value = "https://plc.directory")]
    pub plc_url: Url,

    /// Allow identity lookups on private networks (local test networks only).
    #[arg(long, env = "ALLOW_PRIVATE_HOSTS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_private_hosts: bool,
}

impl RunArgs {
    /// The streams this process reads: the configured ones the mode selects.
    pub fn selected_streams(&self) -> Vec<String> {
        self.streams
            .iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .filter(|s| match self.mode {
                Mode::All => true,
                Mode::Label => s == names::LABEL_LIVE,
                Mode::Stream => s != names::LABEL_LIVE,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_contract_and_modes_select_streams() {
        let args = Args::try_parse_from(["indexer"]).unwrap();
        assert!(args.command.is_none());
        assert_eq!(args.run.group, "firehose_group");
        assert_eq!((args.run.concurrency, args.run.batch_size), (20, 50));
        assert_eq!((args.run.writers, args.run.max_transaction), (4, 1000));
        assert_eq!(args.run.selected_streams().len(), 3);
        let args = Args::try_parse_from(["indexer", "--mode", "label"]).unwrap();
        assert_eq!(args.run.selected_streams(), vec!["label_live".to_owned()]);
        let args = Args::try_parse_from(["indexer", "--mode", "stream", "migrate"]).unwrap();
        assert_eq!(
            args.run.selected_streams(),
            vec!["firehose_live".to_owned(), "firehose_backfill".to_owned()]
        );
        assert!(matches!(args.command, Some(Command::Migrate)));
    }
}
