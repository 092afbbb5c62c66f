//! What PostgreSQL holds at one moment: row counts of the tables an operator watches.
//!
//! Exact counts by default. On a full network those tables hold billions of rows and a `COUNT(*)`
//! takes minutes, so `--estimate-counts` reads the planner's estimate (`pg_class.reltuples`) instead.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use sqlx::PgPool;

/// The tables counted, as the operator's plan names them.
pub const COUNTED_TABLES: [&str; 9] = [
    "record",
    "post",
    "actor",
    "like",
    "follow",
    "repost",
    "feed_generator",
    "label",
    "actor_sync",
];

/// How rows are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMode {
    /// `COUNT(*)`: exact, slow on large tables.
    Exact,
    /// The planner's estimate: instant, approximate.
    Estimate,
}

/// Row counts per table.
pub type DbState = BTreeMap<String, i64>;

/// Counts the rows of every table in [`COUNTED_TABLES`] (the pool's search_path picks the schema).
pub async fn probe(pool: &PgPool, mode: CountMode) -> Result<DbState> {
    let mut counts = DbState::new();
    for table in COUNTED_TABLES {
        let count: i64 = match mode {
            CountMode::Exact => {
                // Table names come from the constant list above, never from input.
                let sql = format!("SELECT COUNT(*) FROM \"{table}\"");
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .fetch_one(pool)
                    .await
                    .with_context(|| format!("counting {table}"))?
            }
            CountMode::Estimate => sqlx::query_scalar(
                "SELECT GREATEST(c.reltuples, 0)::bigint FROM pg_class c \
                 WHERE c.oid = to_regclass($1)",
            )
            .bind(table)
            .fetch_optional(pool)
            .await
            .with_context(|| format!("estimating {table}"))?
            .unwrap_or(0),
        };
        counts.insert(table.to_owned(), count);
    }
    Ok(counts)
}
