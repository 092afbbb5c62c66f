//! Errors of the script generator; each one is a generator bug, with the event and repository
//! it happened in.

use protocol::data_model::DataModelError;
use protocol::frames::FrameError;
use protocol::mst::MstError;
use protocol::repo::RepoError;
use protocol::syntax::SyntaxError;

use crate::network::NetworkError;

/// Why a script could not be generated.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The spec asks for something impossible.
    #[error("bad script spec: {0}")]
    Spec(String),
    /// Regenerating a repository failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// A tree operation failed.
    #[error("MST of {did}: {source}")]
    Mst {
        /// The repository.
        did: String,
        /// The tree error.
        #[source]
        source: Box<MstError>,
    },
    /// Signing or building a repository failed.
    #[error("repository of {did}: {source}")]
    Repo {
        /// The repository.
        did: String,
        /// The repository error.
        #[source]
        source: Box<RepoError>,
    },
    /// A frame did not encode.
    #[error("encoding the frame of seq {seq}: {source}")]
    Frame {
        /// The event's seq.
        seq: i64,
        /// The frame error.
        #[source]
        source: Box<FrameError>,
    },
    /// An identifier the script made does not parse.
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
    /// A label did not encode for signing.
    #[error("encoding a label for signing: {0}")]
    Label(#[source] Box<DataModelError>),
    /// The frame's commit and the rebuilt repository's commit differ (a generator bug).
    #[error("{did}: the frame commits {frame} but the rebuilt repository has {car}")]
    Diverged {
        /// The repository.
        did: String,
        /// The commit CID in the frame.
        frame: String,
        /// The commit CID of the rebuilt CAR.
        car: String,
    },
}

impl ScriptError {
    /// Wraps a syntax error about `value`.
    pub(crate) fn syntax(what: &'static str, value: &str, source: SyntaxError) -> Self {
        ScriptError::Syntax {
            what,
            value: value.to_owned(),
            source: Box::new(source),
        }
    }
}
