//! `TestRedis`: a private `redis-server` for one test, or a private DB index on a shared server.
//!
//! The private server runs on a free 127.0.0.1 port with its data in a temporary directory, which is
//! kept across `restart()` so that append-only-file data survives, as it does in production. When
//! `HARNESS_REDIS_URL` is set the test gets a claimed DB index on that server instead (see
//! `redis_shared`), where restarts and memory limits are not possible.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use super::port::{PORT_ATTEMPTS, free_port};
use super::redis_shared::SharedRedis;
use super::signal::{Signal, send_signal};
use super::sweep;
use super::wait::wait_until;

/// Instance directories are `<tmp>/harness-redis-*`.
const DIR_PREFIX: &str = "harness-redis-";
/// The server's pid file in its directory, for cleaning up after a killed test process.
const PID_FILE: &str = "redis.pid";
/// How long a starting server may take to answer PING.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a polite shutdown (SIGTERM) may take before the server is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How a private Redis server is configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisOptions {
    /// Keep an append-only file, fsynced on every write (`appendfsync always`), so that data
    /// survives `restart()` and even `kill()`.
    pub appendonly: bool,
    /// A memory limit in bytes, with the `noeviction` policy: writes fail once it is reached.
    pub maxmemory: Option<u64>,
}

/// A Redis server for one test; stopped and removed on drop.
pub struct TestRedis {
    backend: Backend,
}

enum Backend {
    Local(LocalRedis),
    Shared(SharedRedis),
    #[cfg(feature = "testcontainers")]
    Container(Box<super::containers::ContainerRedis>),
}

impl TestRedis {
    /// Starts a server with default options: no persistence at all.
    pub async fn start() -> anyhow::Result<TestRedis> {
        Self::start_with(RedisOptions::default()).await
    }

    /// Starts a server with `options`, or claims a DB on `HARNESS_REDIS_URL` when that is set.
    ///
    /// A shared server cannot honour `maxmemory`, so that option is an error there (use
    /// [`TestRedis::is_private`] to skip such tests).
    pub async fn start_with(options: RedisOptions) -> anyhow::Result<TestRedis> {
        if let Some(url) = shared_url() {
            if options.maxmemory.is_some() {
                anyhow::bail!(
                    "maxmemory is not supported with HARNESS_REDIS_URL (a shared server); \
                     skip this test or unset HARNESS_REDIS_URL"
                );
            }
            let shared = SharedRedis::claim(&url).await?;
            return Ok(TestRedis {
                backend: Backend::Shared(shared),
            });
        }
        #[cfg(feature = "testcontainers")]
        if super::containers::enabled() {
            let container = super::containers::ContainerRedis::start(&options).await?;
            return Ok(TestRedis {
                backend: Backend::Container(Box::new(container)),
            });
        }
        let local = LocalRedis::start(options).await?;
        Ok(TestRedis {
            backend: Backend::Local(local),
        })
    }

    /// True when tests get a private server, so that `restart()`, `kill()` and `maxmemory` work.
    pub fn is_private() -> bool {
        shared_url().is_none()
    }

    /// The URL of this test's server (and DB index), e.g. `redis://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        match &self.backend {
            Backend::Local(local) => local.url(),
            Backend::Shared(shared) => shared.url().to_owned(),
            #[cfg(feature = "testcontainers")]
            Backend::Container(container) => container.url(),
        }
    }

    /// A new multiplexed connection to this test's server, with generous timeouts: the client's
    /// default 500 ms response timeout makes tests flaky on a loaded two-core machine.
    pub async fn connection(&self) -> anyhow::Result<redis::aio::MultiplexedConnection> {
        let url = self.url();
        let client = redis::Client::open(url.as_str())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(10)))
            .set_response_timeout(Some(Duration::from_secs(30)));
        Ok(client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// Stops the server (SIGTERM, then SIGKILL after a deadline) if it runs, and starts it again on
    /// the same port with the same data directory. Not supported on a shared server.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        match &mut self.backend {
            Backend::Local(local) => local.restart().await,
            Backend::Shared(_) => anyhow::bail!(unsupported("restart")),
            #[cfg(feature = "testcontainers")]
            Backend::Container(container) => container.restart().await,
        }
    }

    /// Kills the server with SIGKILL, as a crash would; `restart()` brings it back. Not supported
    /// on a shared server.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        match &mut self.backend {
            Backend::Local(local) => local.kill(),
            Backend::Shared(_) => anyhow::bail!(unsupported("kill")),
            #[cfg(feature = "testcontainers")]
            Backend::Container(_) => anyhow::bail!(
                "kill is not supported with HARNESS_BACKEND=containers; use restart()"
            ),
        }
    }

    /// The server's process id, when it is a running local process.
    pub fn pid(&self) -> Option<u32> {
        match &self.backend {
            Backend::Local(local) => local.child.as_ref().map(Child::id),
            _ => None,
        }
    }

    /// The server's data directory (AOF, log), when it is a local process.
    pub fn data_dir(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Local(local) => Some(local.dir.path()),
            _ => None,
        }
    }
}

fn shared_url() -> Option<String> {
    std::env::var("HARNESS_REDIS_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

fn unsupported(what: &str) -> String {
    format!(
        "{what} is not supported with HARNESS_REDIS_URL (a shared server); skip this test or unset it"
    )
}

/// A `redis-server` child process of this test.
struct LocalRedis {
    dir: TempDir,
    port: u16,
    options: RedisOptions,
    child: Option<Child>,
}

impl LocalRedis {
    async fn start(options: RedisOptions) -> anyhow::Result<LocalRedis> {
        sweep::sweep(DIR_PREFIX, stop_stale);
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir()?;
            sweep::claim(dir.path())?;
            let mut local = LocalRedis {
                dir,
                port: free_port()?,
                options: options.clone(),
                child: None,
            };
            match local.launch().await {
                Ok(()) => return Ok(local),
                // Another process bound the port between our probe and the server's bind.
                Err(LaunchError::PortTaken) => continue,
                Err(LaunchError::Other(e)) => return Err(e),
            }
        }
        anyhow::bail!("redis-server found no free port in {PORT_ATTEMPTS} attempts")
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("redis.log")
    }

    async fn launch(&mut self) -> Result<(), LaunchError> {
        let program =
            std::env::var("HARNESS_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let stderr_path = self.dir.path().join("redis.stderr");
        let stderr =
            fs::File::create(&stderr_path).map_err(|e| other(e, "creating redis.stderr"))?;
        let mut command = Command::new(&program);
        command
            .arg("--port")
            .arg(self.port.to_string())
            .args([
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--logfile")
            .arg(self.log_path())
            .arg("--pidfile")
            .arg(self.dir.path().join(PID_FILE))
            .args(["--save", ""]);
        if self.options.appendonly {
            command.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            command.args(["--appendonly", "no"]);
        }
        if let Some(bytes) = self.options.maxmemory {
            command
                .arg("--maxmemory")
                .arg(bytes.to_string())
                .args(["--maxmemory-policy", "noeviction"]);
        }
        command
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = command.spawn().map_err(|e| {
            other(
                e,
                &format!("spawning `{program}` (is redis-server installed?)"),
            )
        })?;
        self.child = Some(child);

        let url = self.url();
        let ready = wait_until("redis-server to answer PING", READY_TIMEOUT, || {
            let exited = self.child_exited();
            let url = url.clone();
            async move {
                if let Some(status) = exited {
                    anyhow::bail!("redis-server exited during start-up ({status})");
                }
                Ok(ping(&url).await.then_some(()))
            }
        })
        .await;
        match ready {
            Ok(()) => Ok(()),
            Err(e) => {
                self.stop_now();
                let log = self.logs();
                if log.contains("Address already in use") {
                    Err(LaunchError::PortTaken)
                } else {
                    Err(LaunchError::Other(e.context(format!(
                        "redis-server on port {} did not start; its log:\n{log}",
                        self.port
                    ))))
                }
            }
        }
    }

    fn child_exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn logs(&self) -> String {
        let mut text = fs::read_to_string(self.log_path()).unwrap_or_default();
        text.push_str(
            &fs::read_to_string(self.dir.path().join("redis.stderr")).unwrap_or_default(),
        );
        text
    }

    async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop_gracefully().await?;
        match self.launch().await {
            Ok(()) => Ok(()),
            Err(LaunchError::PortTaken) => anyhow::bail!(
                "cannot restart redis-server: another process took port {} meanwhile",
                self.port
            ),
            Err(LaunchError::Other(e)) => Err(e),
        }
    }

    async fn stop_gracefully(&mut self) -> anyhow::Result<()> {
        let Some(child) = self.child.as_mut() else {
            return Ok(());
        };
        if child.try_wait()?.is_none() {
            send_signal(child.id(), Signal::Term)?;
            let waited = wait_until("redis-server to exit after SIGTERM", STOP_TIMEOUT, || {
                let status = child.try_wait();
                async move { Ok(status?.map(|_| ())) }
            })
            .await;
            if waited.is_err() {
                tracing::warn!(port = self.port, "redis-server ignored SIGTERM; killing it");
            }
        }
        self.stop_now();
        Ok(())
    }

    fn kill(&mut self) -> anyhow::Result<()> {
        self.stop_now();
        Ok(())
    }

    /// SIGKILLs the process (if still running) and reaps it.
    fn stop_now(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Errors mean it already exited; reaping below is what matters.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for LocalRedis {
    fn drop(&mut self) {
        self.stop_now();
    }
}

/// Kills the server of an instance directory whose test process died.
fn stop_stale(dir: &Path) {
    if let Some(pid) = sweep::read_pid(&dir.join(PID_FILE))
        && sweep::runs(pid, "redis-server")
    {
        let _ = send_signal(pid, Signal::Kill);
    }
}

enum LaunchError {
    PortTaken,
    Other(anyhow::Error),
}

fn other(e: std::io::Error, doing: &str) -> LaunchError {
    LaunchError::Other(anyhow::anyhow!("{doing}: {e}"))
}

/// One PING with short timeouts; false while the server is not (yet) answering.
async fn ping(url: &str) -> bool {
    let Ok(client) = redis::Client::open(url) else {
        return false;
    };
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(1)));
    let Ok(mut con) = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
    else {
        return false;
    };
    matches!(
        redis::cmd("PING").query_async::<String>(&mut con).await,
        Ok(reply) if reply == "PONG"
    )
}
