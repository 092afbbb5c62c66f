//! Errors of the simulated network.

use crate::faults::FaultError;
use crate::mock::MockError;
use crate::network::NetworkError;
use crate::oracle::OracleError;
use crate::script::ScriptError;

/// Why a simulated network could not be started or judged.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The spec cannot be honoured.
    #[error("simulation spec: {0}")]
    Spec(String),
    /// Generating the network failed.
    #[error("generating the network: {0}")]
    Network(#[from] NetworkError),
    /// Generating the live script failed.
    #[error("generating the live script: {0}")]
    Script(#[from] ScriptError),
    /// A fault plan was refused.
    #[error("fault plan: {0}")]
    Faults(#[from] FaultError),
    /// A mock server could not start or take an event.
    #[error("mock server: {0}")]
    Mock(#[from] MockError),
    /// The oracle could not compute the manifest.
    #[error("oracle: {0}")]
    Oracle(#[from] OracleError),
}
