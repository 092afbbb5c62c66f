//! One of our binaries as a child process of a test: started with a controlled environment, its
//! output captured to a log file, and signalled, awaited or killed by the test.
//!
//! The child's environment is cleared except for a few variables that only affect diagnostics
//! (`PATH`, `HOME`, `RUST_LOG`, `RUST_BACKTRACE`, …), so that a developer's shell (say a stray
//! `REDIS_URL`) cannot leak into a test. Logs are removed with the process unless
//! `HARNESS_KEEP_LOGS` is set; if a test panics, the tail of each child's log goes to stderr.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use tokio::process::{Child, Command};

use super::binary::locate_binary;
use super::signal::{Signal, send_signal};
use super::wait::wait_until;

/// Variables passed through from the test's environment.
const INHERITED: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "LANG",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "LLVM_PROFILE_FILE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];
/// Log lines shown when a test panics while the child is alive.
const TAIL_LINES: usize = 60;

/// How to start a child process; reusable, so a test can start the same stage again after a kill.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    name: String,
    program: PathBuf,
    args: Vec<OsString>,
    envs: Vec<(OsString, OsString)>,
}

impl ChildSpec {
    /// A spec for our binary `name` (e.g. `"indexer"`), found in the cargo target directory.
    pub fn binary(name: &str) -> anyhow::Result<ChildSpec> {
        Ok(Self::program(name, locate_binary(name)?))
    }

    /// A spec for any executable; `name` labels its logs and errors.
    pub fn program(name: &str, program: impl Into<PathBuf>) -> ChildSpec {
        ChildSpec {
            name: name.to_owned(),
            program: program.into(),
            args: Vec::new(),
            envs: Vec::new(),
        }
    }

    /// Adds one command-line argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds command-line arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable (later calls for the same key win).
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.envs
            .push((key.as_ref().to_owned(), value.as_ref().to_owned()));
        self
    }

    /// The label given at construction.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts the process, its stdout and stderr going to a fresh log file.
    pub fn spawn(&self) -> anyhow::Result<ChildProcess> {
        let log_dir = tempfile::Builder::new()
            .prefix(&format!("harness-{}-", self.name))
            .tempdir()?;
        let log_path = log_dir.path().join(format!("{}.log", self.name));
        let stdout = fs::File::options()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let stderr = stdout.try_clone()?;
        let mut command = Command::new(&self.program);
        command.env_clear();
        for key in INHERITED {
            if let Some(value) = std::env::var_os(key) {
                command.env(key, value);
            }
        }
        command
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .kill_on_drop(true);
        let child = command.spawn().map_err(|e| {
            anyhow::anyhow!("spawning {} ({}): {e}", self.name, self.program.display())
        })?;
        let pid = child
            .id()
            .ok_or_else(|| anyhow::anyhow!("{} exited before its pid could be read", self.name))?;
        Ok(ChildProcess {
            name: self.name.clone(),
            child,
            pid,
            log_path,
            log_dir: Some(log_dir),
            status: None,
        })
    }
}

/// A running (or exited) child process; SIGKILLed on drop if still running.
pub struct ChildProcess {
    name: String,
    child: Child,
    pid: u32,
    log_path: PathBuf,
    log_dir: Option<TempDir>,
    status: Option<ExitStatus>,
}

impl ChildProcess {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The label from its spec.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sends `signal` to the process.
    pub fn kill(&mut self, signal: Signal) -> anyhow::Result<()> {
        if self.try_status()?.is_some() {
            anyhow::bail!(
                "{} (pid {}) has already exited; cannot send SIG{}",
                self.name,
                self.pid,
                signal.name()
            );
        }
        send_signal(self.pid, signal)
    }

    /// The exit status, if the process has exited.
    pub fn try_status(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Waits for the process to exit, at most `timeout`.
    pub async fn wait_exit(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(status) => {
                let status = status?;
                self.status = Some(status);
                Ok(status)
            }
            Err(_) => anyhow::bail!(
                "{} (pid {}) did not exit within {timeout:?}; log tail:\n{}",
                self.name,
                self.pid,
                self.log_tail(TAIL_LINES)
            ),
        }
    }

    /// Asks the process to stop (SIGTERM) and waits; SIGKILLs it if it has not exited by `timeout`.
    pub async fn stop(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(status) = self.try_status()? {
            return Ok(status);
        }
        send_signal(self.pid, Signal::Term)?;
        match self.wait_exit(timeout).await {
            Ok(status) => Ok(status),
            Err(e) => {
                self.child.start_kill()?;
                self.wait_exit(timeout).await?;
                Err(e.context("it was SIGKILLed after ignoring SIGTERM"))
            }
        }
    }

    /// Waits until the log contains `needle`; fails if the process exits first or at `timeout`.
    pub async fn wait_for_log(&mut self, needle: &str, timeout: Duration) -> anyhow::Result<()> {
        let what = format!("{} to log {needle:?}", self.name);
        let result = wait_until(&what, timeout, || {
            let logged = self.logs().contains(needle);
            let exited = self.try_status();
            async move {
                if logged {
                    return Ok(Some(()));
                }
                if let Some(status) = exited? {
                    anyhow::bail!("the process exited ({status}) first");
                }
                Ok(None)
            }
        })
        .await;
        result.map_err(|e| e.context(format!("log tail:\n{}", self.log_tail(TAIL_LINES))))
    }

    /// Everything the process has written to stdout and stderr so far.
    pub fn logs(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The port the process serves `/metrics` on, read from the runtime's log line `serving
    /// /metrics and /healthz addr=…` (with `METRICS_PORT=0` the kernel picks it).
    pub fn metrics_port(&self) -> Option<u16> {
        let logs = self.logs();
        let line = logs.lines().find(|l| l.contains("serving /metrics"))?;
        let addr = line.split("addr=").nth(1)?.split_whitespace().next()?;
        addr.rsplit(':').next()?.parse().ok()
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let logs = self.logs();
        let all: Vec<&str> = logs.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// The log file (valid while this value lives, or forever with `HARNESS_KEEP_LOGS`).
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if matches!(self.try_status(), Ok(None)) {
            // Errors mean it exited meanwhile; kill_on_drop and tokio's reaper do the rest.
            let _ = self.child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- last {TAIL_LINES} log lines of {} (pid {}) ---\n{}\n--- end of {} log ---",
                self.name,
                self.pid,
                self.log_tail(TAIL_LINES),
                self.name
            );
        }
        if std::env::var_os("HARNESS_KEEP_LOGS").is_some()
            && let Some(dir) = self.log_dir.take()
        {
            let kept = dir.keep();
            eprintln!("{} log kept in {}", self.name, kept.display());
        }
    }
}
