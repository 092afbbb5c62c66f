//! The `indexer` binary's command line: schema administration for now.
//!
//! `indexer migrate` creates or upgrades the schema named by `DB_SCHEMA`; `indexer check-schema`
//! exits non-zero, saying how to migrate, unless the schema is exactly what this build expects.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use indexer::schema::{self, SchemaName};
use sqlx::postgres::PgPoolOptions;

/// Command-line and environment configuration.
#[derive(Debug, Parser)]
#[command(
    name = "indexer",
    version,
    about = "Indexes the pipeline's streams into the Bluesky AppView schema"
)]
struct Cli {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://127.0.0.1:5432/bsky",
        hide_env_values = true
    )]
    database_url: String,

    /// Schema holding the AppView tables and the migration history (lower-case letters, digits, '_').
    #[arg(long, env = "DB_SCHEMA", default_value = "bsky")]
    db_schema: SchemaName,

    #[command(subcommand)]
    command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
enum Command {
    /// Create the schema, or upgrade it to this build's version; does nothing when it is current.
    Migrate,
    /// Exit 0 if the schema is at this build's version, else explain how to migrate and exit 1.
    CheckSchema,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message is the remedy (e.g. "run `indexer migrate` ..."): print it plainly.
            eprintln!("indexer: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let options = schema::connect_options(&cli.database_url, &cli.db_schema)?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .context("connecting to DATABASE_URL")?;

    match cli.command {
        Command::Migrate => {
            let migrated = schema::migrate(&pool, &cli.db_schema).await?;
            if migrated.applied.is_empty() {
                println!(
                    "schema {} is current (version {})",
                    cli.db_schema, migrated.version
                );
            } else {
                println!(
                    "schema {}: applied migrations {:?}, now at version {}",
                    cli.db_schema, migrated.applied, migrated.version
                );
            }
        }
        Command::CheckSchema => {
            schema::check_current(&pool, &cli.db_schema).await?;
            println!(
                "schema {} is current (version {})",
                cli.db_schema,
                schema::latest_version()
            );
        }
    }
    pool.close().await;
    Ok(())
}
