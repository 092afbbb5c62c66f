//! Errors of the oracle.

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
    #[error(transparent)]
    Manifest(#[from] verify::manifest::ManifestError),
}
