//! Sending POSIX signals to processes by pid.
//!
//! This goes through the `kill` utility rather than `libc::kill`, which keeps the harness free of
//! `unsafe`; the cost (one short-lived process) does not matter in tests.

use std::process::Command;

/// A signal that a test may send to a service or one of our binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Polite shutdown request: the process should drain and exit 0.
    Term,
    /// Ctrl-C: handled like `Term` by our binaries.
    Int,
    /// Immediate death without any cleanup (a crash, an OOM kill).
    Kill,
    /// Freezes the process (it stops answering but keeps its sockets open).
    Stop,
    /// Resumes a process frozen with `Stop`.
    Cont,
}

impl Signal {
    /// The signal's name as `kill -s` expects it.
    pub fn name(self) -> &'static str {
        match self {
            Signal::Term => "TERM",
            Signal::Int => "INT",
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// Sends `signal` to the process `pid`.
pub fn send_signal(pid: u32, signal: Signal) -> anyhow::Result<()> {
    let output = Command::new("kill")
        .args(["-s", signal.name(), &pid.to_string()])
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run `kill` to send SIG{} to {pid}: {e}",
                signal.name()
            )
        })?;
    if output.status.success() {
        Ok(())
    } else {
        anyhow::bail!(
            "sending SIG{} to pid {pid} failed: {}",
            signal.name(),
            String::from_utf8_lossy(&output.stderr).trim()
        )
    }
}
