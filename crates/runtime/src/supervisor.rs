//! The task supervisor: every long-running part of a binary runs as a named task, and the death of
//! any one of them (an error, a panic, or simply returning while nobody asked it to stop) stops the
//! whole process with a logged cause and a non-zero exit. A predecessor's Redis writer died while
//! its reader kept consuming and discarding; this is the structural answer to that.
//!
//! SIGTERM or SIGINT cancels the shared token and waits, up to a deadline, for the tasks to drain;
//! a clean drain exits 0. A second signal, or the deadline, aborts what is left and exits non-zero.
//! Auxiliary tasks (the metrics endpoint) keep running until the main tasks are done, so `/healthz`
//! reports 503 with the reason during the drain.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::task::{Id, JoinError, JoinSet};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::health::Health;
use crate::metrics_server::{MetricsError, MetricsServer};

/// Default time tasks get to finish after shutdown begins.
const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the supervisor could not be created.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// Signal handlers could not be installed (no Tokio runtime with signals enabled?).
    #[error("cannot install the {signal} handler: {source}")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// How the supervised tasks ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// Shutdown was requested and every task drained, or all work was one-shot and finished.
    Clean,
    /// A task failed, panicked, or ended while it should have kept running; the first such task.
    TaskFailed {
        /// The task's name.
        task: String,
        /// What happened to it.
        cause: String,
    },
    /// Tasks were still running at the drain deadline or at a second signal, and were aborted.
    Aborted {
        /// Why the drain was cut short.
        reason: String,
        /// The tasks that had not finished.
        tasks: Vec<String>,
    },
}

impl Ended {
    /// The process exit code: 0 for `Clean`, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Ended::Clean => 0,
            Ended::TaskFailed { .. } | Ended::Aborted { .. } => 1,
        }
    }
}

impl From<Ended> for ExitCode {
    fn from(outcome: Ended) -> ExitCode {
        ExitCode::from(outcome.exit_code())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Runs until cancelled; ending on its own is a death.
    Service,
    /// Finishes its work and returns Ok.
    OneShot,
    /// Serves the others (metrics); stopped after the main tasks are done.
    Auxiliary,
}

struct TaskInfo {
    name: String,
    kind: Kind,
}

/// Runs named tasks and turns their fate into the process's exit.
pub struct Supervisor {
    token: CancellationToken,
    aux_token: CancellationToken,
    tasks: JoinSet<anyhow::Result<()>>,
    info: HashMap<Id, TaskInfo>,
    health: Health,
    drain_timeout: Duration,
    sigterm: Signal,
    sigint: Signal,
}

impl Supervisor {
    /// Creates a supervisor and installs the SIGTERM and SIGINT handlers at once, so a signal that
    /// arrives while tasks start up is not fatal. Must be called inside a Tokio runtime.
    pub fn new() -> Result<Supervisor, SupervisorError> {
        let sigterm =
            signal(SignalKind::terminate()).map_err(|source| SupervisorError::Signal {
                signal: "SIGTERM",
                source,
            })?;
        let sigint = signal(SignalKind::interrupt()).map_err(|source| SupervisorError::Signal {
            signal: "SIGINT",
            source,
        })?;
        Ok(Supervisor {
            token: CancellationToken::new(),
            aux_token: CancellationToken::new(),
            tasks: JoinSet::new(),
            info: HashMap::new(),
            health: Health::new(),
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            sigterm,
            sigint,
        })
    }

    /// Sets how long tasks may take to finish once shutdown begins (default 30 s).
    pub fn with_drain_timeout(mut self, drain_timeout: Duration) -> Supervisor {
        self.drain_timeout = drain_timeout;
        self
    }

    /// The token cancelled when shutdown begins; tasks watch it and return when it fires.
    /// Cancelling it from a task asks for a clean shutdown.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// The health state that `/healthz` reports.
    pub fn health(&self) -> Health {
        self.health.clone()
    }

    /// Spawns a long-running task: returning `Ok` before shutdown is treated as a death.
    pub fn spawn<F>(&mut self, name: impl Into<String>, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.spawn_kind(name.into(), Kind::Service, task);
    }

    /// Spawns a task that finishes its work and returns `Ok` (a migration, a bounded job).
    pub fn spawn_one_shot<F>(&mut self, name: impl Into<String>, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        self.spawn_kind(name.into(), Kind::OneShot, task);
    }

    /// Binds `/metrics` and `/healthz` on `port` (0: any free port), serves them until the main
    /// tasks are done, and returns the bound address (also logged).
    pub async fn serve_metrics(&mut self, port: u16) -> Result<SocketAddr, MetricsError> {
        let server = MetricsServer::bind(port, self.health.clone()).await?;
        let addr = server.local_addr().map_err(|source| MetricsError::Bind {
            addr: SocketAddr::from(([0, 0, 0, 0], port)),
            source,
        })?;
        tracing::info!(%addr, "serving /metrics and /healthz");
        let stop = self.aux_token.clone();
        self.spawn_kind("metrics".into(), Kind::Auxiliary, async move {
            server.serve(stop).await?;
            Ok(())
        });
        Ok(addr)
    }

    fn spawn_kind<F>(&mut self, name: String, kind: Kind, task: F)
    where
        F: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let span = tracing::info_span!("task", name = %name);
        let handle = self.tasks.spawn(task.instrument(span));
        self.info.insert(handle.id(), TaskInfo { name, kind });
    }

    /// Waits for the tasks' fate: see the module documentation.
    pub async fn run(mut self) -> Ended {
        let mut failure: Option<(String, String)> = None;
        let mut drain_deadline: Option<Instant> = None;
        let mut main_left = self.main_tasks_left();
        if main_left == 0 {
            self.aux_token.cancel();
        }
        loop {
            let shutting_down = drain_deadline.is_some();
            let deadline = async {
                match drain_deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = self.sigterm.recv() => {
                    if shutting_down {
                        return self.abort("a second signal (SIGTERM) arrived during shutdown", failure).await;
                    }
                    drain_deadline = Some(self.begin_shutdown("SIGTERM received"));
                }
                _ = self.sigint.recv() => {
                    if shutting_down {
                        return self.abort("a second signal (SIGINT) arrived during shutdown", failure).await;
                    }
                    drain_deadline = Some(self.begin_shutdown("SIGINT received"));
                }
                _ = self.token.cancelled(), if !shutting_down => {
                    drain_deadline = Some(self.begin_shutdown("shutdown requested by a task"));
                }
                _ = deadline => {
                    let reason = format!("tasks did not drain within {:?}", self.drain_timeout);
                    return self.abort(&reason, failure).await;
                }
                joined = self.tasks.join_next_with_id() => {
                    let Some(joined) = joined else { break };
                    let (id, verdict) = self.judge(joined, shutting_down);
                    let kind = self.info.get(&id).map(|info| info.kind);
                    if let Some((task, cause)) = verdict {
                        tracing::error!(task = %task, "task died: {cause}");
                        if failure.is_none() {
                            self.health.set_unhealthy(format!("task {task} died: {cause}"));
                            failure = Some((task, cause));
                        }
                        if drain_deadline.is_none() {
                            drain_deadline = Some(self.begin_shutdown("a task died"));
                        }
                    }
                    self.info.remove(&id);
                    if kind != Some(Kind::Auxiliary) {
                        main_left = main_left.saturating_sub(1);
                        if main_left == 0 {
                            self.aux_token.cancel();
                        }
                    }
                }
            }
        }
        match failure {
            Some((task, cause)) => Ended::TaskFailed { task, cause },
            None => {
                tracing::info!("all tasks finished");
                Ended::Clean
            }
        }
    }

    fn main_tasks_left(&self) -> usize {
        self.info
            .values()
            .filter(|info| info.kind != Kind::Auxiliary)
            .count()
    }

    /// Cancels the tasks and returns the drain deadline.
    fn begin_shutdown(&self, why: &str) -> Instant {
        tracing::info!(
            drain_timeout = ?self.drain_timeout,
            "{why}: shutting down, waiting for tasks to drain"
        );
        self.health.set_unhealthy(format!("shutting down: {why}"));
        self.token.cancel();
        Instant::now() + self.drain_timeout
    }

    /// Decides whether a finished task died; returns its id and, for a death, (name, cause).
    fn judge(
        &self,
        joined: Result<(Id, anyhow::Result<()>), JoinError>,
        shutting_down: bool,
    ) -> (Id, Option<(String, String)>) {
        let name_of = |id: &Id| {
            self.info
                .get(id)
                .map_or_else(|| format!("#{id}"), |info| info.name.clone())
        };
        match joined {
            Ok((id, Ok(()))) => {
                let name = name_of(&id);
                let kind = self.info.get(&id).map(|info| info.kind);
                let expected = match kind {
                    Some(Kind::OneShot) | None => true,
                    Some(Kind::Service) => shutting_down,
                    Some(Kind::Auxiliary) => self.aux_token.is_cancelled(),
                };
                if expected {
                    tracing::info!(task = %name, "task finished");
                    (id, None)
                } else {
                    (
                        id,
                        Some((name, "it returned without being asked to stop".to_owned())),
                    )
                }
            }
            Ok((id, Err(error))) => (id, Some((name_of(&id), format!("{error:#}")))),
            Err(join_error) => {
                let id = join_error.id();
                let name = name_of(&id);
                if join_error.is_cancelled() {
                    (id, Some((name, "it was cancelled".to_owned())))
                } else {
                    (
                        id,
                        Some((name, format!("it panicked: {}", panic_message(join_error)))),
                    )
                }
            }
        }
    }

    /// Aborts the remaining tasks after a failed drain.
    async fn abort(mut self, reason: &str, failure: Option<(String, String)>) -> Ended {
        let mut tasks: Vec<String> = self
            .info
            .values()
            .filter(|info| info.kind != Kind::Auxiliary)
            .map(|info| info.name.clone())
            .collect();
        tasks.sort();
        tracing::error!(?tasks, "{reason}; aborting");
        self.tasks.shutdown().await;
        match failure {
            // The task that died first is the cause; the stuck drain is its consequence.
            Some((task, cause)) => Ended::TaskFailed { task, cause },
            None => Ended::Aborted {
                reason: reason.to_owned(),
                tasks,
            },
        }
    }
}

fn panic_message(error: JoinError) -> String {
    match error.try_into_panic() {
        Ok(payload) => {
            if let Some(text) = payload.downcast_ref::<&str>() {
                (*text).to_owned()
            } else if let Some(text) = payload.downcast_ref::<String>() {
                text.clone()
            } else {
                "a non-string panic payload".to_owned()
            }
        }
        Err(_) => "unknown".to_owned(),
    }
}
