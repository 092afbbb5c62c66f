//! The PostgreSQL installation and a cached, initdb'd template data directory.
//!
//! `initdb` takes seconds; every test process copies one template instead. The template lives at
//! `/tmp/harness-pg-template-<version>/data` and is created once, under a file lock, by whichever
//! process gets there first; a `ready` marker beside it says it is complete.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The PostgreSQL server programs and the unprivileged user that must run them.
#[derive(Debug, Clone)]
pub(crate) struct Installation {
    /// The directory holding `initdb`, `pg_ctl` and `postgres`.
    pub(crate) bin: PathBuf,
    /// The major version, from the directory name (e.g. "15").
    pub(crate) version: String,
    /// Whether we are root and must run the programs as the `postgres` user.
    pub(crate) as_postgres: Option<(u32, u32)>,
}

impl Installation {
    /// Finds `HARNESS_PG_BIN` or the newest `/usr/lib/postgresql/<version>/bin`.
    pub(crate) fn find() -> anyhow::Result<Installation> {
        let bin = match std::env::var_os("HARNESS_PG_BIN") {
            Some(dir) => PathBuf::from(dir),
            None => newest_installed()?,
        };
        if !bin.join("initdb").is_file() || !bin.join("pg_ctl").is_file() {
            anyhow::bail!(
                "{} holds no initdb/pg_ctl (set HARNESS_PG_BIN)",
                bin.display()
            );
        }
        let version = bin
            .parent()
            .and_then(Path::file_name)
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "local".into());
        let as_postgres = if is_root() {
            Some(postgres_ids()?)
        } else {
            None
        };
        Ok(Installation {
            bin,
            version,
            as_postgres,
        })
    }

    /// A command running `program` from the installation, as the `postgres` user when we are root.
    pub(crate) fn command(&self, program: &str, cwd: &Path) -> Command {
        let path = self.bin.join(program);
        let mut command = if self.as_postgres.is_some() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // The postgres user may not be allowed into our working directory (e.g. /root).
        command.current_dir(cwd);
        command
    }

    /// Gives `path` to the user that runs the server (a no-op when that is us).
    pub(crate) fn hand_over(&self, path: &Path) -> anyhow::Result<()> {
        if let Some((uid, gid)) = self.as_postgres {
            std::os::unix::fs::chown(path, Some(uid), Some(gid))
                .map_err(|e| anyhow::anyhow!("chown {} to postgres: {e}", path.display()))?;
        }
        Ok(())
    }

    /// Makes sure the template data directory exists and returns its path.
    pub(crate) fn template(&self) -> anyhow::Result<PathBuf> {
        let root = std::env::temp_dir().join(format!("harness-pg-template-{}", self.version));
        let data = root.join("data");
        let ready = root.join("ready");
        if ready.is_file() {
            return Ok(data);
        }
        fs::create_dir_all(&root)?;
        let lock_path = root.with_extension("lock");
        let lock = fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| anyhow::anyhow!("opening {}: {e}", lock_path.display()))?;
        lock.lock()
            .map_err(|e| anyhow::anyhow!("locking {}: {e}", lock_path.display()))?;
        // Another process may have finished while we waited for the lock.
        if ready.is_file() {
            return Ok(data);
        }
        if data.exists() {
            fs::remove_dir_all(&data)?;
        }
        fs::create_dir(&data)?;
        self.hand_over(&data)?;
        let output = self
            .command("initdb", &root)
            .arg("-D")
            .arg(&data)
            .args([
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .output()
            .map_err(|e| anyhow::anyhow!("running initdb: {e}"))?;
        if !output.status.success() {
            anyhow::bail!(
                "initdb into {} failed: {}{}",
                data.display(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        fs::write(&ready, b"ok\n")?;
        Ok(data)
    }
}

fn newest_installed() -> anyhow::Result<PathBuf> {
    let base = Path::new("/usr/lib/postgresql");
    let entries = fs::read_dir(base).map_err(|e| {
        anyhow::anyhow!(
            "no PostgreSQL under {} ({e}); set HARNESS_PG_BIN",
            base.display()
        )
    })?;
    let newest = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max_by_key(|(version, _)| *version);
    newest.map(|(_, bin)| bin).ok_or_else(|| {
        anyhow::anyhow!("no PostgreSQL version with initdb under {}", base.display())
    })
}

fn is_root() -> bool {
    // `id -u` avoids libc; this runs once per test process.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The uid and gid of the `postgres` user, from /etc/passwd.
fn postgres_ids() -> anyhow::Result<(u32, u32)> {
    let passwd = fs::read_to_string("/etc/passwd")?;
    passwd
        .lines()
        .find_map(|line| {
            let mut fields = line.split(':');
            if fields.next()? != "postgres" {
                return None;
            }
            let _password = fields.next()?;
            let uid = fields.next()?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            Some((uid, gid))
        })
        .ok_or_else(|| {
            anyhow::anyhow!("we are root but there is no `postgres` user to run PostgreSQL")
        })
}
