//! The PostgreSQL launcher: a private cluster answers, hands out separate databases, keeps data
//! across restarts, instances do not collide, and dropping one stops the server.

use std::time::Duration;

use harness::services::{TestPostgres, wait_until};
use sqlx::{Connection, PgConnection};

async fn scalar(url: &str, sql: &'static str) -> anyhow::Result<i32> {
    let mut con = PgConnection::connect(url).await?;
    let value: i32 = sqlx::query_scalar(sql).fetch_one(&mut con).await?;
    con.close().await?;
    Ok(value)
}

#[tokio::test]
async fn answers_select_1() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let url = pg.create_database().await?;
    assert_eq!(scalar(&url, "SELECT 1").await?, 1);
    Ok(())
}

#[tokio::test]
async fn databases_are_separate() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let a = pg.create_database().await?;
    let b = pg.create_database().await?;
    assert_ne!(a, b);
    let mut con = PgConnection::connect(&a).await?;
    sqlx::query("CREATE TABLE only_in_a (x int)")
        .execute(&mut con)
        .await?;
    let mut con_b = PgConnection::connect(&b).await?;
    let found: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_in_a')::text")
        .fetch_one(&mut con_b)
        .await?;
    assert_eq!(found, None);
    Ok(())
}

#[tokio::test]
async fn two_clusters_at_once() -> anyhow::Result<()> {
    if !TestPostgres::is_private() {
        eprintln!("skipped: needs private clusters (HARNESS_DATABASE_URL is set)");
        return Ok(());
    }
    let (a, b) = tokio::try_join!(TestPostgres::start(), TestPostgres::start())?;
    let (url_a, url_b) = tokio::try_join!(a.create_database(), b.create_database())?;
    assert_ne!(url_a, url_b);
    assert_eq!(scalar(&url_a, "SELECT 1").await?, 1);
    assert_eq!(scalar(&url_b, "SELECT 2").await?, 2);
    Ok(())
}

#[tokio::test]
async fn restart_keeps_data() -> anyhow::Result<()> {
    if !TestPostgres::is_private() {
        eprintln!("skipped: restart needs a private cluster (HARNESS_DATABASE_URL is set)");
        return Ok(());
    }
    let mut pg = TestPostgres::start().await?;
    let url = pg.create_database().await?;
    let mut con = PgConnection::connect(&url).await?;
    sqlx::query("CREATE TABLE t (x int)")
        .execute(&mut con)
        .await?;
    sqlx::query("INSERT INTO t VALUES (42)")
        .execute(&mut con)
        .await?;
    con.close().await?;

    pg.restart().await?;
    assert_eq!(scalar(&url, "SELECT x FROM t").await?, 42);

    // A crash-like stop, then the server comes back with committed data.
    pg.stop().await?;
    assert!(
        PgConnection::connect(&url).await.is_err(),
        "a stopped server must not answer"
    );
    pg.restart().await?;
    assert_eq!(scalar(&url, "SELECT x FROM t").await?, 42);
    Ok(())
}

#[tokio::test]
async fn drop_stops_the_server() -> anyhow::Result<()> {
    if !TestPostgres::is_private() {
        eprintln!("skipped: needs a private cluster (HARNESS_DATABASE_URL is set)");
        return Ok(());
    }
    let pg = TestPostgres::start().await?;
    let url = pg.create_database().await?;
    let log = pg.log_path().expect("a private cluster has a log");
    let dir = log
        .parent()
        .expect("log is in the cluster dir")
        .to_path_buf();
    assert!(dir.is_dir());
    drop(pg);
    assert!(!dir.exists(), "{} must be removed", dir.display());
    // pg_ctl stop waited for the postmaster; nothing answers on the port any more.
    wait_until(
        "the port to refuse connections",
        Duration::from_secs(10),
        || {
            let url = url.clone();
            async move { Ok(PgConnection::connect(&url).await.is_err().then_some(())) }
        },
    )
    .await
}
