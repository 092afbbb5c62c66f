//! Finding our own binaries in the cargo target directory.
//!
//! `CARGO_BIN_EXE_<name>` only exists for binaries of the crate under test, and the pipeline's
//! binaries live in other crates, so the harness looks next to the running test executable
//! (`target/<profile>/deps/<test>-<hash>` or `target/<profile>/examples/<name>` →
//! `target/<profile>/<name>`), then in `$CARGO_TARGET_DIR/debug`.

use std::path::PathBuf;

/// The directory holding the binaries of the profile the tests were built with.
pub fn target_profile_dir() -> anyhow::Result<PathBuf> {
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        // Test executables live in `<profile>/deps`, examples in `<profile>/examples`, binaries
        // in `<profile>` itself.
        let profile = if dir
            .file_name()
            .is_some_and(|name| name == "deps" || name == "examples")
        {
            dir.parent()
        } else {
            Some(dir)
        };
        if let Some(profile) = profile {
            return Ok(profile.to_path_buf());
        }
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(target).join("debug"));
    }
    anyhow::bail!(
        "cannot tell where cargo put the binaries: no test executable path, no CARGO_TARGET_DIR"
    )
}

/// The path of our binary `name`, which must already be built.
pub fn locate_binary(name: &str) -> anyhow::Result<PathBuf> {
    let dir = target_profile_dir()?;
    let path = dir.join(name);
    if path.is_file() {
        return Ok(path);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        let fallback = PathBuf::from(target).join("debug").join(name);
        if fallback.is_file() {
            return Ok(fallback);
        }
    }
    anyhow::bail!(
        "binary `{name}` is not built (looked for {}); build it first, e.g. `cargo build --bin {name}`",
        path.display()
    )
}
