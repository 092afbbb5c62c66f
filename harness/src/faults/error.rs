//! Why a fault plan or a repository defect could not be applied.

use protocol::car::CarError;
use protocol::repo::RepoError;

/// A fault that cannot be set up or inflicted.
#[derive(Debug, thiserror::Error)]
pub enum FaultError {
    /// A rule that can never act as written.
    #[error("invalid fault rule: {reason}")]
    InvalidRule {
        /// What is wrong with it.
        reason: String,
    },
    /// The repository to damage is not a readable CAR.
    #[error("cannot read the repository to damage: {0}")]
    Car(#[from] CarError),
    /// Rebuilding the damaged repository failed.
    #[error("cannot rebuild the damaged repository: {0}")]
    Repo(#[from] RepoError),
    /// The repository lacks what the defect needs (a commit, a record, an MST node).
    #[error("cannot inflict {defect} on this repository: {reason}")]
    NotApplicable {
        /// The defect's name.
        defect: &'static str,
        /// What is missing.
        reason: String,
    },
    /// The defect needs the account's signing key to re-sign the commit, and none was given.
    #[error("{defect} needs the account's signing key to re-sign the commit")]
    NeedsKey {
        /// The defect's name.
        defect: &'static str,
    },
}
