//! The crate's error type: every failure says what was being done, and on which key.

/// Errors from the streams layer.
#[derive(Debug, thiserror::Error)]
pub enum StreamsError {
    /// A Redis command failed.
    #[error("redis {op} on {key}: {source}")]
    Redis {
        /// The command or step, e.g. `XADD batch`.
        op: &'static str,
        /// The key (stream, group or cursor) it was about.
        key: String,
        /// Redis's error.
        #[source]
        source: redis::RedisError,
    },
    /// Redis answered with something the contract does not allow.
    #[error("unexpected reply to {op} on {key}: {detail}")]
    Reply {
        /// The command.
        op: &'static str,
        /// The key it was about.
        key: String,
        /// What was wrong with the reply.
        detail: String,
    },
    /// A payload could not be serialised.
    #[error("encoding an entry for {stream}: {source}")]
    Encode {
        /// The stream it was meant for.
        stream: String,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// Options that cannot work together.
    #[error("invalid options: {0}")]
    Options(String),
    /// The operation was cancelled before it finished (nothing was written).
    #[error("cancelled while {0}")]
    Cancelled(&'static str),
    /// A task of a runner died.
    #[error("{task} task failed: {detail}")]
    Task {
        /// Which task.
        task: &'static str,
        /// Its panic or error.
        detail: String,
    },
}

impl StreamsError {
    /// A `map_err` adapter for Redis errors.
    pub(crate) fn redis(
        op: &'static str,
        key: impl Into<String>,
    ) -> impl FnOnce(redis::RedisError) -> Self {
        let key = key.into();
        move |source| Self::Redis { op, key, source }
    }

    /// An unexpected-reply error.
    pub(crate) fn reply(
        op: &'static str,
        key: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self::Reply {
            op,
            key: key.into(),
            detail: detail.into(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = StreamsError> = std::result::Result<T, E>;
