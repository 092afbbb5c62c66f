//! Sending an entry to the back of its stream: a copy is appended and the original acknowledged in
//! one MULTI/EXEC, so the repo is never lost and its delivery count starts again.
//!
//! This is how the backfiller lets go of a repo without it counting as a failed delivery: a repo of
//! a host whose queue is full (slow, down or rate limited), or one that was waiting when shutdown
//! began. The consumer runner only knows "done", "retry" (which counts towards the dead-letter
//! limit) and "dead-letter"; rate limiting must never dead-letter a repo, so it goes around.
//! After the MULTI/EXEC the handler answers "done" and the runner's own XACK finds nothing to do.

use redis::aio::ConnectionManager;
use streams::Delivery;

/// Appends copies of entries to their stream and acknowledges the originals.
#[derive(Clone)]
pub struct Requeuer {
    conn: ConnectionManager,
    group: String,
}

/// Redis refused the requeue.
#[derive(Debug, thiserror::Error)]
#[error("requeueing entry {id} of {stream}: {source}")]
pub struct RequeueError {
    stream: String,
    id: String,
    #[source]
    source: redis::RedisError,
}

impl Requeuer {
    /// A requeuer for entries read through `group`.
    pub fn new(conn: ConnectionManager, group: impl Into<String>) -> Self {
        Self {
            conn,
            group: group.into(),
        }
    }

    /// Appends a copy of `delivery` (same fields) to its stream and acknowledges the original.
    /// Returns the copy's id.
    pub async fn requeue(&self, delivery: &Delivery) -> Result<String, RequeueError> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        let xadd = pipe.cmd("XADD").arg(delivery.stream()).arg("*");
        for (field, value) in delivery.fields() {
            xadd.arg(field).arg(value.as_slice());
        }
        pipe.cmd("XACK")
            .arg(delivery.stream())
            .arg(&self.group)
            .arg(delivery.id())
            .ignore();
        let mut conn = self.conn.clone();
        let (id,): (String,) =
            pipe.query_async(&mut conn)
                .await
                .map_err(|source| RequeueError {
                    stream: delivery.stream().to_owned(),
                    id: delivery.id().to_owned(),
                    source,
                })?;
        Ok(id)
    }
}
