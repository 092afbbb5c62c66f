//! Why a batch could not be written: a database failure, with the step that failed.

/// A batch (or one change) could not be written; nothing of it was committed.
#[derive(Debug, thiserror::Error)]
#[error("indexer write failed while {step}: {source}")]
pub struct ApplyError {
    /// What the writer was doing (`"inserting like rows"`, `"committing"`).
    pub step: &'static str,
    /// PostgreSQL's (or the pool's) error.
    #[source]
    pub source: sqlx::Error,
}

impl ApplyError {
    /// Wraps `source`, saying which `step` failed.
    pub fn new(step: &'static str, source: sqlx::Error) -> Self {
        Self { step, source }
    }

    /// True when trying the same write again later may succeed: lost connections, pool
    /// timeouts, deadlocks, serialization failures, a server shutting down or out of resources.
    /// Anything else (a constraint or a value PostgreSQL refuses) fails again the same way.
    pub fn is_transient(&self) -> bool {
        match &self.source {
            sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                // 08: connection, 40: transaction rollback (deadlock, serialization),
                // 53: insufficient resources, 57: operator intervention (shutdown), 55P03: lock.
                ["08", "40", "53", "57"].iter().any(|c| code.starts_with(c)) || code == "55P03"
            }),
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => true,
            _ => false,
        }
    }
}

/// `result`, with a database error labelled by `step`.
pub(crate) trait Step<T> {
    /// Labels the error with `step`.
    fn step(self, step: &'static str) -> Result<T, ApplyError>;
}

impl<T> Step<T> for Result<T, sqlx::Error> {
    fn step(self, step: &'static str) -> Result<T, ApplyError> {
        self.map_err(|e| ApplyError::new(step, e))
    }
}
