//! The runtime as a real process: `runtime-demo` is started, signalled and awaited, and its exit
//! codes, logs and HTTP endpoints are checked.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// A running `runtime-demo` whose stdout and stderr go to a log file.
struct Demo {
    child: Child,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Demo {
    fn start(envs: &[(&str, &str)], args: &[&str]) -> Demo {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("demo.log");
        let out = fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file clone");
        let child = Command::new(env!("CARGO_BIN_EXE_runtime-demo"))
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(envs.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn runtime-demo");
        Demo {
            child,
            log,
            _dir: dir,
        }
    }

    fn logs(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_log(&mut self, needle: &str) {
        let deadline = Instant::now() + DEADLINE;
        while !self.logs().contains(needle) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "exited ({status}) before logging {needle:?}:\n{}",
                    self.logs()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} in time:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -s {name} failed");
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                panic!("did not exit in time:\n{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The metrics address the demo logged ("addr=0.0.0.0:PORT"), as a loopback address.
    fn metrics_addr(&mut self) -> String {
        self.wait_for_log("serving /metrics");
        let logs = self.logs();
        let port = logs
            .split("addr=0.0.0.0:")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .expect("a logged metrics address")
            .to_owned();
        format!("127.0.0.1:{port}")
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 GET; returns (status code, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the metrics port");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn run_to_exit(envs: &[(&str, &str)]) -> (ExitStatus, String) {
    let mut demo = Demo::start(envs, &[]);
    let status = demo.wait_exit();
    (status, demo.logs())
}

#[test]
fn sigterm_drains_and_exits_zero() {
    let mut demo = Demo::start(&[("DEMO_WORKERS", "3")], &[]);
    demo.wait_for_log("ready");
    demo.signal("TERM");
    let status = demo.wait_exit();
    let logs = demo.logs();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert_eq!(
        logs.matches("drained").count(),
        3,
        "every worker drains: {logs}"
    );
    assert!(logs.contains("SIGTERM received"), "{logs}");
}

#[test]
fn sigint_is_a_clean_shutdown_too() {
    let mut demo = Demo::start(&[], &[]);
    demo.wait_for_log("ready");
    demo.signal("INT");
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.logs());
}

#[test]
fn a_failing_task_stops_the_process_with_its_cause() {
    let (status, logs) = run_to_exit(&[("DEMO_BEHAVIOR", "fail")]);
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains("task died: boom: the demo worker failed"),
        "{logs}"
    );
    assert!(
        logs.contains("task=worker"),
        "the dead task is named: {logs}"
    );
    assert!(
        logs.contains("drained"),
        "the other task was cancelled and drained: {logs}"
    );
}

#[test]
fn a_panicking_task_stops_the_process() {
    let (status, logs) = run_to_exit(&[("DEMO_BEHAVIOR", "panic")]);
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(logs.contains("it panicked: demo panic"), "{logs}");
}

#[test]
fn a_service_that_ends_on_its_own_is_a_death() {
    let (status, logs) = run_to_exit(&[("DEMO_BEHAVIOR", "end")]);
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(
        logs.contains("returned without being asked to stop"),
        "{logs}"
    );
}

#[test]
fn one_shot_work_exits_zero() {
    let (status, logs) = run_to_exit(&[("DEMO_BEHAVIOR", "one-shot"), ("METRICS_PORT", "0")]);
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(logs.contains("job done"), "{logs}");
}

#[test]
fn a_task_that_ignores_cancellation_hits_the_drain_deadline() {
    let mut demo = Demo::start(
        &[("DEMO_BEHAVIOR", "stuck"), ("DEMO_DRAIN_TIMEOUT", "200ms")],
        &[],
    );
    demo.wait_for_log("ready");
    demo.signal("TERM");
    let status = demo.wait_exit();
    let logs = demo.logs();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(logs.contains("did not drain within"), "{logs}");
}

#[test]
fn a_second_signal_aborts_the_drain() {
    let mut demo = Demo::start(
        &[("DEMO_BEHAVIOR", "stuck"), ("DEMO_DRAIN_TIMEOUT", "1h")],
        &[],
    );
    demo.wait_for_log("ready");
    demo.signal("TERM");
    demo.wait_for_log("shutting down");
    demo.signal("TERM");
    let status = demo.wait_exit();
    let logs = demo.logs();
    assert_eq!(status.code(), Some(1), "{logs}");
    assert!(logs.contains("a second signal (SIGTERM)"), "{logs}");
}

#[test]
fn env_alias_is_used_when_the_primary_is_unset() {
    let (status, logs) = run_to_exit(&[
        ("DEMO_BEHAVIOR", "one-shot"),
        ("HOSTS", "a.example,b.example"),
    ]);
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(
        logs.contains(r#"hosts=["a.example", "b.example"]"#),
        "{logs}"
    );
}

#[test]
fn primary_env_wins_over_alias_with_a_warning() {
    let (status, logs) = run_to_exit(&[
        ("DEMO_BEHAVIOR", "one-shot"),
        ("DEMO_HOSTS", "primary.example"),
        ("HOSTS", "alias.example"),
    ]);
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(logs.contains(r#"hosts=["primary.example"]"#), "{logs}");
    assert!(
        logs.contains("both DEMO_HOSTS and its alias HOSTS are set and differ"),
        "{logs}"
    );
}

#[test]
fn command_line_beats_environment() {
    let mut demo = Demo::start(
        &[
            ("DEMO_BEHAVIOR", "one-shot"),
            ("DEMO_HOSTS", "env.example"),
            ("HOSTS", "alias.example"),
        ],
        &["--hosts", "flag.example"],
    );
    let status = demo.wait_exit();
    let logs = demo.logs();
    assert_eq!(status.code(), Some(0), "{logs}");
    assert!(logs.contains(r#"hosts=["flag.example"]"#), "{logs}");
}

#[test]
fn help_documents_settings_and_aliases() {
    let (status, logs) = {
        let mut demo = Demo::start(&[], &["--help"]);
        let status = demo.wait_exit();
        (status, demo.logs())
    };
    assert_eq!(status.code(), Some(0), "{logs}");
    for needle in [
        "REDIS_URL",
        "RUST_LOG",
        "LOG_FORMAT",
        "METRICS_PORT",
        "DEMO_HOSTS",
        "env alias: HOSTS",
    ] {
        assert!(logs.contains(needle), "--help lacks {needle}: {logs}");
    }
}

#[test]
fn bad_values_exit_2_naming_the_setting() {
    for (key, value, named) in [
        ("DEMO_WORKERS", "0", "DEMO_WORKERS"),
        ("DEMO_WORKERS", "many", "DEMO_WORKERS"),
        ("REDIS_URL", "http://localhost:6379", "REDIS_URL"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT"),
        ("METRICS_PORT", "99999", "METRICS_PORT"),
        ("RUST_LOG", "info,[[[", "RUST_LOG"),
        ("DEMO_DRAIN_TIMEOUT", "30", "DEMO_DRAIN_TIMEOUT"),
    ] {
        let (status, logs) = run_to_exit(&[(key, value)]);
        assert_eq!(status.code(), Some(2), "{key}={value}: {logs}");
        assert!(
            logs.contains(named),
            "{key}={value}: the error must name the setting: {logs}"
        );
    }
}

#[test]
fn json_logs_are_json_lines() {
    let (status, logs) = run_to_exit(&[("DEMO_BEHAVIOR", "one-shot"), ("LOG_FORMAT", "json")]);
    assert_eq!(status.code(), Some(0), "{logs}");
    let lines: Vec<&str> = logs.lines().collect();
    assert!(!lines.is_empty());
    for line in lines {
        assert!(
            line.starts_with('{') && line.ends_with('}'),
            "not a JSON line: {line}"
        );
    }
    assert!(logs.contains(r#""message":"job done""#), "{logs}");
}

#[test]
fn metrics_and_healthz_answer_and_healthz_turns_503_while_draining() {
    let dir = tempfile::tempdir().expect("temp dir");
    let release = dir.path().join("release");
    let release_str = release.to_string_lossy().into_owned();
    let mut demo = Demo::start(
        &[
            ("METRICS_PORT", "0"),
            ("DEMO_DRAIN_UNTIL_FILE", &release_str),
        ],
        &[],
    );
    let addr = demo.metrics_addr();

    assert_eq!(http_get(&addr, "/healthz"), (200, "ok\n".to_owned()));
    wait_for(|| http_get(&addr, "/metrics").1.contains("demo_ticks_total"));
    assert_eq!(http_get(&addr, "/nope").0, 404);

    demo.signal("TERM");
    demo.wait_for_log("draining");
    let (code, body) = http_get(&addr, "/healthz");
    assert_eq!(code, 503);
    assert!(body.contains("shutting down"), "{body}");

    release_drain(&release);
    assert_eq!(demo.wait_exit().code(), Some(0), "{}", demo.logs());
}

#[test]
fn healthz_names_the_dead_task() {
    let dir = tempfile::tempdir().expect("temp dir");
    let release = dir.path().join("release");
    let release_str = release.to_string_lossy().into_owned();
    // The steady task waits for `release` while draining, which keeps /healthz up to be read.
    let mut demo = Demo::start(
        &[
            ("DEMO_BEHAVIOR", "fail"),
            ("METRICS_PORT", "0"),
            ("DEMO_DRAIN_UNTIL_FILE", &release_str),
        ],
        &[],
    );
    let addr = demo.metrics_addr();
    demo.wait_for_log("task died");
    let (code, body) = http_get(&addr, "/healthz");
    assert_eq!(code, 503);
    assert!(body.contains("task worker died: boom"), "{body}");
    release_drain(&release);
    assert_eq!(demo.wait_exit().code(), Some(1), "{}", demo.logs());
}

fn release_drain(path: &Path) {
    fs::write(path, b"go").expect("write release file");
}

fn wait_for(mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !condition() {
        assert!(Instant::now() < deadline, "condition not met in time");
        std::thread::sleep(Duration::from_millis(50));
    }
}
