//! Why a mock server could not start or its state could not be changed.

use protocol::frames::FrameError;

use crate::faults::FaultError;

/// A mock server that cannot start, or state it refuses.
#[derive(Debug, thiserror::Error)]
pub enum MockError {
    /// Binding the ephemeral port on 127.0.0.1 failed.
    #[error("cannot bind a port on 127.0.0.1 for the mock {server}: {source}")]
    Bind {
        /// Which mock.
        server: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An event appended with a sequence number not above the newest one.
    #[error("event seq {seq} is not above the newest seq {head}")]
    SeqNotIncreasing {
        /// The refused seq.
        seq: i64,
        /// The newest seq in the log.
        head: i64,
    },
    /// A frame appended to an event log has no sequence number (`#info`, error frames).
    #[error("a {kind} frame has no seq and cannot be appended to an event log")]
    FrameWithoutSeq {
        /// The frame's kind.
        kind: &'static str,
    },
    /// Encoding a frame failed.
    #[error("encoding a frame failed: {0}")]
    Frame(#[source] Box<FrameError>),
    /// A repository CAR that the mock PDS cannot read.
    #[error("repository of {did} is unreadable: {source}")]
    BadRepo {
        /// The account.
        did: String,
        /// Why.
        #[source]
        source: Box<FaultError>,
    },
}
