//! Errors of the network generator. Any of them means a bug in the generator or an impossible
//! spec; they carry enough context (which account, which record) to find it.

use protocol::crypto::KeyError;
use protocol::data_model::DataModelError;
use protocol::repo::RepoError;
use protocol::syntax::SyntaxError;

/// Why a network or one of its repositories could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// The spec asks for something impossible.
    #[error("bad network spec: {0}")]
    Spec(String),
    /// The generator made an identifier that does not parse (a generator bug).
    #[error("generated an invalid {what} {value:?}: {source}")]
    Syntax {
        /// What kind of identifier.
        what: &'static str,
        /// The identifier.
        value: String,
        /// Why it is invalid.
        #[source]
        source: Box<SyntaxError>,
    },
    /// A record did not encode as DAG-CBOR.
    #[error("encoding record {uri}: {source}")]
    Record {
        /// The record's AT-URI.
        uri: String,
        /// The data-model error.
        #[source]
        source: Box<DataModelError>,
    },
    /// Building or signing a repository failed.
    #[error("building the repository of {did}: {source}")]
    Repo {
        /// The account.
        did: String,
        /// The repository error.
        #[source]
        source: Box<RepoError>,
    },
    /// A signing key could not be made from the seeded bytes.
    #[error("making the signing key of account {index}: {source}")]
    Key {
        /// The account's index.
        index: usize,
        /// The key error.
        #[source]
        source: Box<KeyError>,
    },
    /// Writing a CAR failed.
    #[error("writing the CAR of {did}: {source}")]
    Car {
        /// The account.
        did: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No account has that index.
    #[error("no account with index {0}")]
    NoAccount(usize),
    /// A worker thread of a parallel generation panicked.
    #[error("a generator thread panicked")]
    WorkerPanicked,
}
