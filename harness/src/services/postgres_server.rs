//! `TestPostgres`: a private PostgreSQL cluster for one test, or fresh databases on a shared one.
//!
//! The private cluster is a copy of the cached template (see `postgres_template`) in a temporary
//! directory, started with `pg_ctl` on a free port, its unix socket in that directory, and with
//! durability switched off for speed (`fsync`, `synchronous_commit`, `full_page_writes`) and WAL
//! buffers sized for concurrent writers. When `HARNESS_DATABASE_URL` is set the test creates
//! databases on that server instead (see `postgres_shared`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use sqlx::Connection;
use tempfile::TempDir;

use super::port::{PORT_ATTEMPTS, free_port};
use super::postgres_shared::SharedPostgres;
use super::postgres_template::Installation;
use super::sweep;

/// Instance directories are `<tmp>/harness-pg-*` (the template's `harness-pg-template-*` has no
/// owner file, so sweeping leaves it alone).
const DIR_PREFIX: &str = "harness-pg-";
/// How long `pg_ctl` may wait for the server to start or stop.
const PG_CTL_TIMEOUT: Duration = Duration::from_secs(60);

/// A PostgreSQL server for one test; stopped and removed on drop.
pub struct TestPostgres {
    backend: Backend,
}

enum Backend {
    Local(LocalPostgres),
    Shared(SharedPostgres),
    #[cfg(feature = "testcontainers")]
    Container(Box<super::containers::ContainerPostgres>),
}

impl TestPostgres {
    /// Starts a private cluster, or connects to `HARNESS_DATABASE_URL` when that is set.
    pub async fn start() -> anyhow::Result<TestPostgres> {
        if let Some(url) = shared_url() {
            let shared = SharedPostgres::connect(&url).await?;
            return Ok(TestPostgres {
                backend: Backend::Shared(shared),
            });
        }
        #[cfg(feature = "testcontainers")]
        if super::containers::enabled() {
            let container = super::containers::ContainerPostgres::start().await?;
            return Ok(TestPostgres {
                backend: Backend::Container(Box::new(container)),
            });
        }
        let local = tokio::task::spawn_blocking(LocalPostgres::start).await??;
        Ok(TestPostgres {
            backend: Backend::Local(local),
        })
    }

    /// True when tests get a private cluster, so that `restart()` and `stop()` work.
    pub fn is_private() -> bool {
        shared_url().is_none()
    }

    /// Creates a fresh, uniquely named database and returns its URL.
    pub async fn create_database(&self) -> anyhow::Result<String> {
        let name = unique_name();
        match &self.backend {
            Backend::Local(local) => {
                create_database(&local.admin_url(), &name).await?;
                Ok(local.url(&name))
            }
            Backend::Shared(shared) => shared.create_database(&name).await,
            #[cfg(feature = "testcontainers")]
            Backend::Container(container) => {
                create_database(&container.url("postgres"), &name).await?;
                Ok(container.url(&name))
            }
        }
    }

    /// Stops the server (fast shutdown: clients are disconnected) and starts it again with the same
    /// data on the same port. Also starts a server that `stop()` stopped.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        match &mut self.backend {
            Backend::Local(local) => {
                let (installation, data, port, dir) = local.parts();
                tokio::task::spawn_blocking(move || {
                    pg_ctl_stop(&installation, &data, &dir, "fast")?;
                    pg_ctl_start(&installation, &data, &dir, port).map_err(LaunchError::into_error)
                })
                .await??;
                local.running = true;
                Ok(())
            }
            Backend::Shared(_) => anyhow::bail!(unsupported("restart")),
            #[cfg(feature = "testcontainers")]
            Backend::Container(container) => container.restart().await,
        }
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`, like a crash); `restart()` brings it
    /// back. Not supported on a shared server.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        match &mut self.backend {
            Backend::Local(local) => {
                let (installation, data, _, dir) = local.parts();
                tokio::task::spawn_blocking(move || {
                    pg_ctl_stop(&installation, &data, &dir, "immediate")
                })
                .await??;
                local.running = false;
                Ok(())
            }
            Backend::Shared(_) => anyhow::bail!(unsupported("stop")),
            #[cfg(feature = "testcontainers")]
            Backend::Container(_) => {
                anyhow::bail!("stop is not supported with HARNESS_BACKEND=containers")
            }
        }
    }

    /// The server's log file, when it is a local cluster.
    pub fn log_path(&self) -> Option<PathBuf> {
        match &self.backend {
            Backend::Local(local) => Some(local.log_path()),
            _ => None,
        }
    }
}

fn shared_url() -> Option<String> {
    std::env::var("HARNESS_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

fn unsupported(what: &str) -> String {
    format!(
        "{what} is not supported with HARNESS_DATABASE_URL (a shared server); skip this test or unset it"
    )
}

/// A database name unique across processes and across calls in one process.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "harness_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `CREATE DATABASE name` through the server at `admin_url`.
pub(crate) async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    let mut con = sqlx::PgConnection::connect(admin_url)
        .await
        .map_err(|e| anyhow::anyhow!("connecting to {admin_url}: {e}"))?;
    // `name` comes from `unique_name`: only [a-z0-9_], so quoting it is enough.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut con)
        .await
        .map_err(|e| anyhow::anyhow!("creating database {name} at {admin_url}: {e}"))?;
    con.close().await?;
    Ok(())
}

/// A cluster in a temporary directory, run by `pg_ctl`.
struct LocalPostgres {
    installation: Installation,
    dir: TempDir,
    port: u16,
    running: bool,
}

impl LocalPostgres {
    /// Copies the template and starts it on a free port (blocking: run off the async runtime).
    fn start() -> anyhow::Result<LocalPostgres> {
        let installation = Installation::find()?;
        sweep::sweep(DIR_PREFIX, |dir| {
            let _ = pg_ctl_stop(&installation, &dir.join("data"), dir, "immediate");
        });
        let template = installation.template()?;
        for _ in 0..PORT_ATTEMPTS {
            let dir = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir()?;
            sweep::claim(dir.path())?;
            installation.hand_over(dir.path())?;
            let data = dir.path().join("data");
            copy_dir(&template, &data)?;
            let mut local = LocalPostgres {
                installation: installation.clone(),
                dir,
                port: free_port()?,
                running: false,
            };
            match pg_ctl_start(&local.installation, &data, local.dir.path(), local.port) {
                Ok(()) => {
                    local.running = true;
                    return Ok(local);
                }
                // Another process bound the port between our probe and the server's bind.
                Err(LaunchError::PortTaken) => continue,
                Err(LaunchError::Other(e)) => return Err(e),
            }
        }
        anyhow::bail!("PostgreSQL found no free port in {PORT_ATTEMPTS} attempts")
    }

    fn parts(&self) -> (Installation, PathBuf, u16, PathBuf) {
        (
            self.installation.clone(),
            self.dir.path().join("data"),
            self.port,
            self.dir.path().to_path_buf(),
        )
    }

    fn admin_url(&self) -> String {
        self.url("postgres")
    }

    fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }
}

impl Drop for LocalPostgres {
    fn drop(&mut self) {
        if self.running {
            let data = self.dir.path().join("data");
            if let Err(e) = pg_ctl_stop(&self.installation, &data, self.dir.path(), "immediate") {
                tracing::warn!("could not stop PostgreSQL on port {}: {e}", self.port);
            }
        }
    }
}

enum LaunchError {
    PortTaken,
    Other(anyhow::Error),
}

impl LaunchError {
    fn into_error(self) -> anyhow::Error {
        match self {
            LaunchError::PortTaken => {
                anyhow::anyhow!("PostgreSQL's port was taken by another process")
            }
            LaunchError::Other(e) => e,
        }
    }
}

/// `pg_ctl start`, waiting (with pg_ctl's own deadline) until the server accepts connections.
fn pg_ctl_start(
    installation: &Installation,
    data: &Path,
    dir: &Path,
    port: u16,
) -> Result<(), LaunchError> {
    let log = dir.join("postgres.log");
    // HARNESS_POSTGRES_OPTIONS adds server settings, for profiling a benchmark (for example
    // `-c shared_preload_libraries=pg_stat_statements`).
    let extra = std::env::var("HARNESS_POSTGRES_OPTIONS").unwrap_or_default();
    // wal_buffers as deploy/docker-compose.yml sets it: the default (4 MB beside the default
    // shared_buffers) fills in a fraction of a second under the indexer's concurrent writers,
    // which then queue to write WAL out themselves.
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=200 -c wal_buffers=64MB {extra}",
        dir.display()
    );
    let output = installation
        .command("pg_ctl", dir)
        .arg("-D")
        .arg(data)
        .arg("-l")
        .arg(&log)
        .args([
            "-w",
            "-t",
            &PG_CTL_TIMEOUT.as_secs().to_string(),
            "-o",
            &options,
            "start",
        ])
        .output()
        .map_err(|e| LaunchError::Other(anyhow::anyhow!("running pg_ctl start: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let log_text = fs::read_to_string(&log).unwrap_or_default();
    if log_text.contains("Address already in use") {
        return Err(LaunchError::PortTaken);
    }
    Err(LaunchError::Other(anyhow::anyhow!(
        "pg_ctl start on port {port} failed: {}{}\nserver log:\n{log_text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )))
}

/// `pg_ctl stop` with the given shutdown mode; stopping a stopped server is not an error.
fn pg_ctl_stop(
    installation: &Installation,
    data: &Path,
    dir: &Path,
    mode: &str,
) -> anyhow::Result<()> {
    if !data.join("postmaster.pid").exists() {
        return Ok(());
    }
    let output = installation
        .command("pg_ctl", dir)
        .arg("-D")
        .arg(data)
        .args([
            "-m",
            mode,
            "-w",
            "-t",
            &PG_CTL_TIMEOUT.as_secs().to_string(),
            "stop",
        ])
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // A server that already died (SIGKILL, OOM) leaves a stale pid file: nothing left to stop.
    if output.status.success() || stderr.contains("Is server running?") {
        Ok(())
    } else {
        anyhow::bail!("pg_ctl stop -m {mode} failed: {stdout}{stderr}")
    }
}

/// Copies a data directory, keeping owners and modes (PostgreSQL insists on 0700).
fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    let output = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .map_err(|e| anyhow::anyhow!("running cp: {e}"))?;
    if !output.status.success() {
        anyhow::bail!(
            "cp -a {} {} failed: {}",
            from.display(),
            to.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}
