//! What the workspace's tests share, taken by every crate as a dev-dependency.
//!
//! Today that is the repo's own test data: `fixtures/` at the top of the checkout holds the
//! reference PDS's real output (`realpds/`), the official interop vectors (`interop/`) and the
//! reference AppView's schema dump (`reference/`). Paths are built from this crate's own place in
//! the checkout, so a clone in any folder finds them, with nothing beside it.

use std::path::{Path, PathBuf};

/// The top-level `fixtures/` folder of this checkout.
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A file or folder under `fixtures/`, e.g. `fixture("realpds/firehose.frames")`.
pub fn fixture(relative: &str) -> PathBuf {
    fixtures_dir().join(relative)
}

/// A file of the reference PDS's captured output (`fixtures/realpds/NAME`).
pub fn realpds(name: &str) -> PathBuf {
    fixture("realpds").join(name)
}

/// An interop test vector (`fixtures/interop/RELATIVE`).
pub fn interop(relative: &str) -> PathBuf {
    fixture("interop").join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixtures_are_found_from_the_checkout() {
        assert!(realpds("firehose.frames").is_file());
        assert!(interop("syntax/aturi_syntax_valid.txt").is_file());
        assert!(fixture("reference/bsky-appview-schema.sql").is_file());
    }
}
