//! Cleaning up after test processes that died without running `Drop` (nextest's timeout sends
//! SIGKILL): their `redis-server` and PostgreSQL servers would otherwise live on, holding ports and
//! memory, for the rest of the CI run.
//!
//! Every instance directory records its owner's pid in `owner.pid`. Before starting a new
//! instance, a launcher stops the servers of instance directories whose owner is gone and removes
//! those directories. Directories without an owner file are being set up and are left alone.

use std::fs;
use std::path::Path;

/// The file in an instance directory that names the owning test process.
pub(crate) const OWNER_FILE: &str = "owner.pid";

/// Records the current process as the owner of `dir`.
pub(crate) fn claim(dir: &Path) -> anyhow::Result<()> {
    fs::write(dir.join(OWNER_FILE), std::process::id().to_string())
        .map_err(|e| anyhow::anyhow!("writing {}/{OWNER_FILE}: {e}", dir.display()))
}

/// Calls `stop` for, then removes, every `<tmp>/<prefix>*` directory whose owner has died.
pub(crate) fn sweep(prefix: &str, stop: impl Fn(&Path)) {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let is_instance = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.starts_with(prefix));
        let dir = entry.path();
        if !is_instance || !dir.is_dir() {
            continue;
        }
        let Some(owner) = read_pid(&dir.join(OWNER_FILE)) else {
            continue;
        };
        if is_alive(owner) {
            continue;
        }
        tracing::warn!(dir = %dir.display(), owner, "removing a test service left behind by a dead test process");
        stop(&dir);
        // Another sweeper may be removing it at the same time; either way it is gone.
        let _ = fs::remove_dir_all(&dir);
    }
}

/// Reads a pid from a file holding just that number.
pub(crate) fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Whether a process with this pid exists.
pub(crate) fn is_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether process `pid` runs a program whose command line contains `needle` (guards against
/// killing an unrelated process that reused a pid).
pub(crate) fn runs(pid: u32, needle: &str) -> bool {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|cmdline| String::from_utf8_lossy(&cmdline).contains(needle))
        .unwrap_or(false)
}
