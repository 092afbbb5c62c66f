//! The `indexer` binary's schema commands, as an operator runs them: `check-schema` refuses an
//! empty database and says how to migrate, `migrate` creates the schema and is idempotent, the
//! run mode refuses an unmigrated database the same way, and the settings come from the
//! documented environment variables.
//!
//! Needs the binary built (`cargo build -p indexer`; `cargo nextest run --workspace` builds it).

use std::process::{Command, Output};

use harness::services::{TestPostgres, locate_binary};

fn indexer(url: &str, schema: &str, command: &str) -> anyhow::Result<Output> {
    Ok(Command::new(locate_binary("indexer")?)
        .arg(command)
        .env("DATABASE_URL", url)
        .env("DB_SCHEMA", schema)
        .env_remove("RUST_BACKTRACE")
        .output()?)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test]
async fn check_schema_then_migrate_then_check_again() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let url = pg.create_database().await?;

    let refused = indexer(&url, "appview", "check-schema")?;
    assert_eq!(refused.status.code(), Some(1));
    let stderr = text(&refused.stderr);
    assert!(stderr.contains("run `indexer migrate`"), "{stderr}");
    assert!(stderr.contains("DB_SCHEMA=appview"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let first = indexer(&url, "appview", "migrate")?;
    assert!(first.status.success(), "{}", text(&first.stderr));
    assert!(
        text(&first.stdout).contains("applied migrations [1, 2, 3, 4, 5]"),
        "{}",
        text(&first.stdout)
    );

    let second = indexer(&url, "appview", "migrate")?;
    assert!(second.status.success(), "{}", text(&second.stderr));
    assert!(
        text(&second.stdout).contains("is current"),
        "{}",
        text(&second.stdout)
    );

    let accepted = indexer(&url, "appview", "check-schema")?;
    assert!(accepted.status.success(), "{}", text(&accepted.stderr));

    // The default schema (`bsky`) was never created: still refused.
    let other = indexer(&url, "bsky", "check-schema")?;
    assert_eq!(other.status.code(), Some(1));
    Ok(())
}

#[tokio::test]
async fn a_schema_name_that_needs_quoting_is_rejected_before_connecting() -> anyhow::Result<()> {
    // Nothing listens on port 1: the name must be refused before any connection attempt.
    let out = indexer("postgres://127.0.0.1:1/x", "Bsky; drop", "migrate")?;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("invalid DB_SCHEMA"),
        "{}",
        text(&out.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn the_run_mode_refuses_an_unmigrated_database_and_says_how_to_migrate() -> anyhow::Result<()>
{
    let pg = TestPostgres::start().await?;
    let url = pg.create_database().await?;
    let run = tokio::process::Command::new(locate_binary("indexer")?)
        .env("DATABASE_URL", &url)
        .env("DB_SCHEMA", "appview")
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .env_remove("RUST_BACKTRACE")
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(std::time::Duration::from_secs(120), run).await??;
    assert!(!out.status.success());
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(said.contains("indexer migrate"), "{said}");
    assert!(!said.contains("panicked"), "{said}");
    Ok(())
}
