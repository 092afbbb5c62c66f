//! `ChildProcess`: logs are captured, signals arrive, exits are awaited with a deadline, and the
//! environment is controlled. Uses `sh` as a stand-in for our binaries.

use std::time::Duration;

use harness::services::{ChildSpec, Signal};

use crate::support::DEADLINE;

fn sh(script: &str) -> ChildSpec {
    ChildSpec::program("sh", "/bin/sh").args(["-c", script])
}

#[tokio::test]
async fn captures_output_and_exit_code() -> anyhow::Result<()> {
    let mut child = sh("echo to-stdout; echo to-stderr >&2; exit 3").spawn()?;
    let status = child.wait_exit(DEADLINE).await?;
    assert_eq!(status.code(), Some(3));
    let logs = child.logs();
    assert!(
        logs.contains("to-stdout") && logs.contains("to-stderr"),
        "logs: {logs}"
    );
    Ok(())
}

#[tokio::test]
async fn environment_is_cleared_then_set() -> anyhow::Result<()> {
    // cargo and nextest set CARGO_PKG_NAME for the test process; the child must not see it.
    assert!(std::env::var_os("CARGO_PKG_NAME").is_some());
    let mut child = sh("echo \"pkg=[$CARGO_PKG_NAME] mine=[$MINE] path=[$PATH]\"")
        .env("MINE", "set-by-test")
        .spawn()?;
    child.wait_exit(DEADLINE).await?;
    let logs = child.logs();
    assert!(logs.contains("mine=[set-by-test]"), "logs: {logs}");
    assert!(
        logs.contains("pkg=[]"),
        "the test's environment leaked: {logs}"
    );
    assert!(
        !logs.contains("path=[]"),
        "PATH must be passed through: {logs}"
    );
    Ok(())
}

#[tokio::test]
async fn sigterm_is_delivered() -> anyhow::Result<()> {
    let mut child =
        sh("trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.05; done")
            .spawn()?;
    child.wait_for_log("ready", DEADLINE).await?;
    child.kill(Signal::Term)?;
    let status = child.wait_exit(DEADLINE).await?;
    assert_eq!(status.code(), Some(0));
    assert!(child.logs().contains("got-term"));
    Ok(())
}

#[tokio::test]
async fn sigkill_ends_a_process_that_ignores_term() -> anyhow::Result<()> {
    use std::os::unix::process::ExitStatusExt;
    let mut child = sh("trap '' TERM; echo ready; while :; do sleep 0.05; done").spawn()?;
    child.wait_for_log("ready", DEADLINE).await?;
    child.kill(Signal::Kill)?;
    let status = child.wait_exit(DEADLINE).await?;
    assert_eq!(status.signal(), Some(9));
    Ok(())
}

#[tokio::test]
async fn wait_exit_times_out_on_a_running_process() -> anyhow::Result<()> {
    let mut child = sh("echo ready; while :; do sleep 0.05; done").spawn()?;
    child.wait_for_log("ready", DEADLINE).await?;
    let err = child
        .wait_exit(Duration::from_millis(100))
        .await
        .expect_err("the process keeps running");
    assert!(err.to_string().contains("did not exit"), "{err}");
    Ok(())
}

#[tokio::test]
async fn wait_for_log_fails_when_the_process_exits_first() -> anyhow::Result<()> {
    let mut child = sh("echo something-else").spawn()?;
    let err = child
        .wait_for_log("never-printed", DEADLINE)
        .await
        .expect_err("the process exits without printing it");
    assert!(format!("{err:#}").contains("exited"), "{err:#}");
    Ok(())
}

#[tokio::test]
async fn drop_kills_the_process() -> anyhow::Result<()> {
    let mut child = sh("echo ready; while :; do sleep 0.05; done").spawn()?;
    child.wait_for_log("ready", DEADLINE).await?;
    let pid = child.pid();
    drop(child);
    harness::services::wait_until("the dropped child to die", DEADLINE, || async move {
        // A killed but not yet reaped child shows as a zombie ("Z") in /proc/<pid>/stat.
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let dead = stat.is_empty() || stat.split(") ").nth(1).is_some_and(|s| s.starts_with('Z'));
        Ok(dead.then_some(()))
    })
    .await
}

#[test]
fn missing_binary_is_a_clear_error() {
    let err = ChildSpec::binary("no-such-binary-here").expect_err("not built");
    assert!(err.to_string().contains("cargo build"), "{err}");
}
