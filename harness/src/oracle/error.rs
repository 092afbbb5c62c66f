//! Errors of the oracle.

use std::path::PathBuf;

use crate::network::NetworkError;

/// Why a manifest could not be computed, written or read.
#[derive(Debug, thiserror::Error)]
pub enum OracleError {
    /// Regenerating the network's repositories failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// More events were asked for than the script has.
    #[error("asked for {asked} events but the script has {available}")]
    TooManyEvents {
        /// Events asked for.
        asked: usize,
        /// Events in the script.
        available: usize,
    },
    /// An event names a DID the network does not have.
    #[error("script event {index} is about unknown DID {did}")]
    UnknownDid {
        /// The event's position in the script.
        index: usize,
        /// The DID.
        did: String,
    },
    /// The manifest file could not be written or read.
    #[error("{doing} manifest {path}: {source}")]
    Io {
        /// What was being done.
        doing: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The manifest file is not a manifest.
    #[error("manifest {path} is not valid: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The manifest's format is not this code's.
    #[error("manifest {path} has format {found:?}, expected {expected:?}")]
    Format {
        /// The file.
        path: PathBuf,
        /// Its format string.
        found: String,
        /// The format this code reads.
        expected: &'static str,
    },
}
