//! Transaction-scoped advisory locks that serialise batches writing the same keys: DIDs (the
//! rev guard's read-then-write) and label keys (a label and its negation). Each batch takes
//! its keys of one namespace in one statement, sorted by hash, so two batches never wait on
//! each other in a cycle.

use sqlx::PgConnection;

use super::error::{ApplyError, Step};

/// Namespace of per-DID locks: `hashtext(did)`.
pub(crate) const DID_LOCKS: i32 = 1;
/// Namespace of per-label-key locks: `hashtext` of [`super::label_lock_key`].
pub const LABEL_LOCKS: i32 = 2;

/// Takes `pg_advisory_xact_lock(namespace, hashtext(key))` for every key, in hash order.
pub(crate) async fn lock(
    conn: &mut PgConnection,
    namespace: i32,
    keys: &[&str],
    step: &'static str,
) -> Result<(), ApplyError> {
    if keys.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "SELECT pg_advisory_xact_lock($2, h) FROM \
         (SELECT DISTINCT hashtext(unnest($1::text[])) AS h ORDER BY h) AS s",
    )
    .bind(keys)
    .bind(namespace)
    .execute(conn)
    .await
    .step(step)?;
    Ok(())
}
