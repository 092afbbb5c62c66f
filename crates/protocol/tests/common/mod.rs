//! Finds the project's `shared/` folder (specs, interop vectors, real-PDS fixtures) from tests.
//!
//! `SHARED_DIR` overrides; otherwise the first ancestor of this crate holding `shared/contract.md`
//! wins, so CI's layout (the repo cloned with `shared/` beside it) and a developer's both work.

#![allow(dead_code)]

use std::path::PathBuf;

/// The `shared/` folder; panics with a clear message if it cannot be found (tests only).
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SHARED_DIR") {
        return PathBuf::from(dir);
    }
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|a| a.join("shared"))
        .find(|s| s.join("contract.md").is_file())
        .unwrap_or_else(|| {
            panic!(
                "no shared/contract.md above {}; set SHARED_DIR",
                manifest.display()
            )
        })
}

/// A file or folder under `shared/`.
pub fn shared_path(relative: &str) -> PathBuf {
    shared_dir().join(relative)
}
