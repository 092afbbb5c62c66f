//! Scale-run checkpoints: each time the `record` table passes a given size, the indexer is timed
//! alone on a backlog, then PostgreSQL's own `INSERT … SELECT` of exactly the rows it wrote.
//!
//! At a checkpoint the run (1) pauses the indexers (SIGSTOP) until `firehose_backfill` holds a
//! backlog of [`BACKLOG`] events or [`FILL_LIMIT`] passes; (2) pauses the ingester and the
//! backfillers and resumes the indexers, timing them until every stream is handled; (3) with the
//! indexers idle (no transaction open), copies the rows written since the window began (found
//! by their `xmin`) to temporary tables, deletes them, and times their `INSERT … SELECT` back in
//! one transaction; (4) resumes everything. The rows end as they were, so the run still ends
//! equal to the oracle. Both figures come from the same rows, at the same table size, on the
//! same machine with nothing else running: the indexer's ratio to its physical ceiling there.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use redis::aio::MultiplexedConnection;
use sqlx::{AssertSqlSafe, PgPool};

use super::progress::Reading;
use super::stages::Stages;
use crate::services::Signal;

/// Events the indexers are given to work through at a checkpoint.
pub const BACKLOG: u64 = 200_000;
/// Longest wait for that backlog to build up (the backfiller may be slower than the indexer).
pub const FILL_LIMIT: Duration = Duration::from_secs(90);
/// Longest the indexers may take over the backlog before the checkpoint fails.
const DRAIN_LIMIT: Duration = Duration::from_secs(600);
/// How often the drain is checked: the resolution of the indexer's time.
const POLL: Duration = Duration::from_millis(100);

/// What one checkpoint measured.
#[derive(Debug, Clone)]
pub struct CheckpointFigure {
    /// Rows in `record` when measured (exact).
    pub rows: i64,
    /// Events the indexers handled in the window.
    pub events: u64,
    /// Seconds they took.
    pub indexer_secs: f64,
    /// Rows PostgreSQL wrote back for the ceiling (every table).
    pub ceiling_rows: u64,
    /// Seconds PostgreSQL took to write them.
    pub ceiling_secs: f64,
}

impl CheckpointFigure {
    /// The indexer's events per second.
    pub fn indexer_rate(&self) -> f64 {
        self.events as f64 / self.indexer_secs.max(1e-3)
    }

    /// PostgreSQL's ceiling, in the same events per second.
    pub fn ceiling_rate(&self) -> f64 {
        self.events as f64 / self.ceiling_secs.max(1e-3)
    }

    /// One line for a person.
    pub fn line(&self) -> String {
        format!(
            "checkpoint at {} rows in record: indexer {:.0} events/s ({} events in {:.1} s) | \
             PostgreSQL INSERT … SELECT of the same {} rows {:.1} s = {:.0} events/s | ratio {:.0}%",
            self.rows,
            self.indexer_rate(),
            self.events,
            self.indexer_secs,
            self.ceiling_rows,
            self.ceiling_secs,
            self.ceiling_rate(),
            100.0 * self.indexer_rate() / self.ceiling_rate().max(1e-9)
        )
    }
}

/// Where the pipeline's state is read from during a checkpoint.
pub(crate) struct Probe<'a> {
    pub(crate) redis: &'a mut MultiplexedConnection,
    pub(crate) pool: &'a PgPool,
    pub(crate) relay: &'a str,
    pub(crate) labelers: &'a [String],
}

impl Probe<'_> {
    async fn read(&mut self) -> Result<Reading> {
        Reading::take(self.redis, self.pool, self.relay, self.labelers).await
    }
}

/// Runs one checkpoint (see the module's doc). Every paused stage is resumed, even on failure.
pub(crate) async fn measure(
    stages: &mut Stages,
    probe: &mut Probe<'_>,
) -> Result<CheckpointFigure> {
    let result = measure_paused(stages, probe).await;
    for role in ["indexer", "backfiller", "ingester"] {
        stages.signal_role(role, Signal::Cont)?;
    }
    result
}

async fn measure_paused(stages: &mut Stages, probe: &mut Probe<'_>) -> Result<CheckpointFigure> {
    stages.signal_role("indexer", Signal::Stop)?;
    let filling = Instant::now();
    while probe.read().await?.unhandled("firehose_backfill") < BACKLOG
        && filling.elapsed() < FILL_LIMIT
    {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stages.signal_role("ingester", Signal::Stop)?;
    stages.signal_role("backfiller", Signal::Stop)?;
    let since = next_xid(probe.pool).await?;
    let before = probe.read().await?;
    stages.signal_role("indexer", Signal::Cont)?;
    let start = Instant::now();
    let after = loop {
        tokio::time::sleep(POLL).await;
        let reading = probe.read().await?;
        if reading.indexers_caught_up() {
            break reading;
        }
        anyhow::ensure!(
            start.elapsed() < DRAIN_LIMIT,
            "the indexers did not handle the checkpoint's backlog within {DRAIN_LIMIT:?}"
        );
    };
    let indexer_secs = start.elapsed().as_secs_f64();
    // Every stream the indexers read is handled: they are idle, with no transaction open.
    let (ceiling_rows, ceiling_secs) = rewrite_rows_since(probe.pool, since).await?;
    let rows = sqlx::query_scalar("SELECT count(*) FROM record")
        .fetch_one(probe.pool)
        .await
        .context("counting records")?;
    Ok(CheckpointFigure {
        rows,
        events: after.indexed().saturating_sub(before.indexed()),
        indexer_secs,
        ceiling_rows,
        ceiling_secs,
    })
}

/// The first transaction id not yet assigned: every transaction that writes from now on has
/// an id at least this large (a fresh cluster is in its first epoch, so ids compare as numbers).
async fn next_xid(pool: &PgPool) -> Result<i64> {
    sqlx::query_scalar("SELECT (pg_snapshot_xmax(pg_current_snapshot())::text)::bigint")
        .fetch_one(pool)
        .await
        .context("reading the next transaction id")
}

/// Copies the rows of every table written by transactions from `since` on, deletes them, and
/// times writing them back with `INSERT … SELECT` in one transaction. Returns (rows, seconds).
async fn rewrite_rows_since(pool: &PgPool, since: i64) -> Result<(u64, f64)> {
    let mut conn = pool.acquire().await?;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = current_schema()
         AND tablename NOT LIKE '%migration%' ORDER BY tablename",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut staged: Vec<(String, String, String)> = Vec::new();
    let mut rows = 0u64;
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for table in tables {
        // Generated columns cannot be inserted: name the stored ones.
        let columns: Vec<String> = sqlx::query_scalar(
            "SELECT quote_ident(column_name) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
               AND is_generated = 'NEVER' ORDER BY ordinal_position",
        )
        .bind(&table)
        .fetch_all(&mut *tx)
        .await?;
        let columns = columns.join(", ");
        let quoted = format!("\"{table}\"");
        let stage = format!("\"checkpoint_{table}\"");
        let written = format!("(xmin::text)::bigint >= {since}");
        let mut sql = String::new();
        let _ = write!(
            sql,
            "CREATE TEMP TABLE {stage} AS SELECT {columns} FROM {quoted} WHERE {written}"
        );
        let copied = sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("copying {table}"))?
            .rows_affected();
        if copied == 0 {
            sqlx::query(AssertSqlSafe(format!("DROP TABLE {stage}")))
                .execute(&mut *tx)
                .await?;
            continue;
        }
        sqlx::query(AssertSqlSafe(format!(
            "DELETE FROM {quoted} WHERE {written}"
        )))
        .execute(&mut *tx)
        .await
        .with_context(|| format!("deleting from {table}"))?;
        rows += copied;
        staged.push((quoted, stage, columns));
    }
    tx.commit().await?;

    let start = Instant::now();
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for (table, stage, columns) in &staged {
        let insert = format!("INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage}");
        sqlx::query(AssertSqlSafe(insert))
            .execute(&mut *tx)
            .await
            .with_context(|| format!("writing {table} back"))?;
    }
    tx.commit().await?;
    let secs = start.elapsed().as_secs_f64();

    for (_, stage, _) in &staged {
        sqlx::query(AssertSqlSafe(format!("DROP TABLE {stage}")))
            .execute(&mut *conn)
            .await?;
    }
    Ok((rows, secs))
}
