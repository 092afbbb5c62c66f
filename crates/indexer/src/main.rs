//! The `indexer` binary: with no subcommand, indexes the streams into PostgreSQL until SIGTERM;
//! `indexer migrate` creates or upgrades the schema named by `DB_SCHEMA`; `indexer check-schema`
//! exits non-zero, saying how to migrate, unless the schema is exactly what this build expects.

use std::process::ExitCode;

use anyhow::Context as _;
use indexer::config::{Args, Command};
use indexer::schema;
use sqlx::postgres::PgPoolOptions;

// Mapping records and building bulk statements allocate many short strings: in profiles glibc
// malloc took a fifth of the indexer's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Args = runtime::parse_args(&[]);
    runtime::install_crypto_provider();
    match args.command {
        Some(command) => match admin(&args, command).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                // The message is the remedy (e.g. "run `indexer migrate` ..."): print it plainly.
                eprintln!("indexer: {e:#}");
                ExitCode::FAILURE
            }
        },
        None => serve(args).await,
    }
}

/// The run mode, under the supervisor.
async fn serve(args: Args) -> ExitCode {
    let mut supervisor = match runtime::start_stage("indexer", &args.common).await {
        Ok(supervisor) => supervisor,
        Err(code) => return code,
    };
    let token = supervisor.token();
    supervisor.spawn(
        "indexer",
        async move { indexer::run::run(&args, token).await },
    );
    supervisor.run().await.into()
}

/// `migrate` and `check-schema`.
async fn admin(args: &Args, command: Command) -> anyhow::Result<()> {
    let options = schema::connect_options(&args.database_url, &args.db_schema)?;
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(options)
        .await
        .context("connecting to DATABASE_URL")?;
    match command {
        Command::Migrate => {
            let migrated = schema::migrate(&pool, &args.db_schema).await?;
            if migrated.applied.is_empty() {
                println!(
                    "schema {} is current (version {})",
                    args.db_schema, migrated.version
                );
            } else {
                println!(
                    "schema {}: applied migrations {:?}, now at version {}",
                    args.db_schema, migrated.applied, migrated.version
                );
            }
        }
        Command::CheckSchema => {
            schema::check_current(&pool, &args.db_schema).await?;
            println!(
                "schema {} is current (version {})",
                args.db_schema,
                schema::latest_version()
            );
        }
    }
    pool.close().await;
    Ok(())
}
