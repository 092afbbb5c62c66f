//! The Redis launcher: a private server answers, keeps AOF data across restarts, instances do not
//! collide, and dropping one removes its process and directory.

use std::time::Duration;

use harness::services::{RedisOptions, TestRedis, wait_until};

async fn get(redis: &TestRedis, key: &str) -> anyhow::Result<Option<String>> {
    let mut con = redis.connection().await?;
    Ok(redis::cmd("GET").arg(key).query_async(&mut con).await?)
}

async fn set(redis: &TestRedis, key: &str, value: &str) -> anyhow::Result<()> {
    let mut con = redis.connection().await?;
    redis::cmd("SET")
        .arg(key)
        .arg(value)
        .query_async::<()>(&mut con)
        .await?;
    Ok(())
}

#[tokio::test]
async fn answers_ping() -> anyhow::Result<()> {
    let redis = TestRedis::start().await?;
    let mut con = redis.connection().await?;
    let pong: String = redis::cmd("PING").query_async(&mut con).await?;
    assert_eq!(pong, "PONG");
    Ok(())
}

#[tokio::test]
async fn two_instances_are_isolated() -> anyhow::Result<()> {
    let (a, b) = tokio::try_join!(TestRedis::start(), TestRedis::start())?;
    assert_ne!(a.url(), b.url());
    set(&a, "k", "from-a").await?;
    set(&b, "k", "from-b").await?;
    assert_eq!(get(&a, "k").await?.as_deref(), Some("from-a"));
    assert_eq!(get(&b, "k").await?.as_deref(), Some("from-b"));
    Ok(())
}

#[tokio::test]
async fn restart_keeps_aof_data() -> anyhow::Result<()> {
    if !TestRedis::is_private() {
        eprintln!("skipped: restart needs a private redis-server (HARNESS_REDIS_URL is set)");
        return Ok(());
    }
    let mut redis = TestRedis::start_with(RedisOptions {
        appendonly: true,
        maxmemory: None,
    })
    .await?;
    let url = redis.url();
    set(&redis, "survives", "yes").await?;
    redis.restart().await?;
    assert_eq!(redis.url(), url, "restart keeps the port");
    assert_eq!(get(&redis, "survives").await?.as_deref(), Some("yes"));

    // appendfsync always: even a SIGKILL loses nothing that was acknowledged.
    set(&redis, "after-kill", "yes").await?;
    redis.kill()?;
    assert!(
        redis.connection().await.is_err(),
        "a killed server must not answer"
    );
    redis.restart().await?;
    assert_eq!(get(&redis, "after-kill").await?.as_deref(), Some("yes"));
    Ok(())
}

#[tokio::test]
async fn restart_without_aof_loses_data() -> anyhow::Result<()> {
    if !TestRedis::is_private() {
        eprintln!("skipped: restart needs a private redis-server (HARNESS_REDIS_URL is set)");
        return Ok(());
    }
    let mut redis = TestRedis::start().await?;
    set(&redis, "gone", "soon").await?;
    redis.restart().await?;
    assert_eq!(
        get(&redis, "gone").await?,
        None,
        "default options persist nothing"
    );
    Ok(())
}

#[tokio::test]
async fn maxmemory_rejects_writes_when_full() -> anyhow::Result<()> {
    if !TestRedis::is_private() {
        eprintln!("skipped: maxmemory needs a private redis-server (HARNESS_REDIS_URL is set)");
        return Ok(());
    }
    let redis = TestRedis::start_with(RedisOptions {
        appendonly: false,
        maxmemory: Some(4 * 1024 * 1024),
    })
    .await?;
    let mut con = redis.connection().await?;
    let value = "x".repeat(64 * 1024);
    let mut failure = None;
    for i in 0..1000 {
        let result = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(&value)
            .query_async::<()>(&mut con)
            .await;
        if let Err(e) = result {
            failure = Some(e);
            break;
        }
    }
    let failure = failure.expect("64 MB of writes must not fit in 4 MB");
    assert!(
        failure.to_string().contains("OOM"),
        "unexpected error: {failure}"
    );
    Ok(())
}

#[tokio::test]
async fn drop_stops_the_server_and_removes_its_dir() -> anyhow::Result<()> {
    if !TestRedis::is_private() {
        eprintln!("skipped: needs a private redis-server (HARNESS_REDIS_URL is set)");
        return Ok(());
    }
    let redis = TestRedis::start().await?;
    let url = redis.url();
    let pid = redis.pid().expect("a private server has a pid");
    let dir = redis
        .data_dir()
        .expect("a private server has a dir")
        .to_path_buf();
    assert!(dir.is_dir());
    drop(redis);
    assert!(!dir.exists(), "{} must be removed", dir.display());
    // The process was reaped by drop, so its /proc entry is gone.
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    let client = redis::Client::open(url.as_str())?;
    assert!(client.get_multiplexed_async_connection().await.is_err());
    Ok(())
}

#[tokio::test]
async fn drop_during_a_panic_still_cleans_up() -> anyhow::Result<()> {
    if !TestRedis::is_private() {
        eprintln!("skipped: needs a private redis-server (HARNESS_REDIS_URL is set)");
        return Ok(());
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let panicked = tokio::spawn(async move {
        let redis = TestRedis::start().await.expect("redis starts");
        let dir = redis.data_dir().map(|d| d.to_path_buf());
        tx.send((redis.pid(), dir)).expect("receiver alive");
        panic!("a failing test");
    })
    .await;
    assert!(panicked.is_err(), "the task panicked");
    let (pid, dir) = rx.recv()?;
    let pid = pid.expect("pid");
    let dir = dir.expect("dir");
    wait_until(
        "the panicked test's redis to go away",
        Duration::from_secs(10),
        || {
            let gone = !dir.exists() && !std::path::Path::new(&format!("/proc/{pid}")).exists();
            async move { Ok(gone.then_some(())) }
        },
    )
    .await
}
