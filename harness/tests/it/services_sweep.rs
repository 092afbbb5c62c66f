//! A test process killed with SIGKILL (as nextest does on timeout) cannot run `Drop`; the next
//! launcher must stop the servers it left behind and remove their directories.
//!
//! The test re-runs its own executable as the victim: the ignored `victim` test starts a Redis
//! and a PostgreSQL, prints where they are, and waits to be killed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use harness::services::{Signal, TestPostgres, TestRedis, send_signal, wait_until};

use crate::support::DEADLINE;

#[tokio::test]
#[ignore = "run only as the victim process of `servers_of_a_killed_test_are_swept`"]
async fn victim() -> anyhow::Result<()> {
    if std::env::var_os("HARNESS_SWEEP_VICTIM").is_none() {
        return Ok(());
    }
    let redis = TestRedis::start().await?;
    let pg = TestPostgres::start().await?;
    let pg_dir = pg
        .log_path()
        .and_then(|p| p.parent().map(Path::to_path_buf));
    println!(
        "VICTIM redis_pid={} redis_dir={} pg_dir={}",
        redis.pid().unwrap_or_default(),
        redis
            .data_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_default(),
        pg_dir.map(|d| d.display().to_string()).unwrap_or_default(),
    );
    // Wait to be killed; never reached in the parent's run.
    tokio::time::sleep(Duration::from_secs(600)).await;
    Ok(())
}

#[tokio::test]
async fn servers_of_a_killed_test_are_swept() -> anyhow::Result<()> {
    if !TestRedis::is_private() || !TestPostgres::is_private() {
        eprintln!(
            "skipped: needs private servers (HARNESS_REDIS_URL or HARNESS_DATABASE_URL is set)"
        );
        return Ok(());
    }
    let mut victim = Command::new(std::env::current_exe()?)
        .args([
            "--ignored",
            "--exact",
            "services_sweep::victim",
            "--nocapture",
        ])
        .env("HARNESS_SWEEP_VICTIM", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = victim
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    // Blocking read on a helper thread: the victim prints one line once its servers run.
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .find(|line| line.starts_with("VICTIM "))
    })
    .await?
    .ok_or_else(|| anyhow::anyhow!("the victim never reported its servers"))?;
    let field = |key: &str| -> anyhow::Result<String> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_owned))
            .ok_or_else(|| anyhow::anyhow!("no {key} in {line:?}"))
    };
    let redis_pid: u32 = field("redis_pid")?.parse()?;
    let redis_dir = PathBuf::from(field("redis_dir")?);
    let pg_dir = PathBuf::from(field("pg_dir")?);

    send_signal(victim.id(), Signal::Kill)?;
    victim.wait()?;
    // Without Drop the victim's servers outlive it. Starting new servers sweeps them (other test
    // processes starting servers meanwhile may sweep them first, which is just as good).
    let _redis = TestRedis::start().await?;
    let _pg = TestPostgres::start().await?;
    // Another test process may be half-way through removing them: wait, with a deadline.
    wait_until("the victim's servers to be swept", DEADLINE, || {
        let swept = !redis_dir.exists() && !pg_dir.exists() && !alive(redis_pid);
        async move { Ok(swept.then_some(())) }
    })
    .await
}

/// Alive and not a zombie.
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'))
}
