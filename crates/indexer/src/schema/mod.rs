//! The indexer's database schema: the migrations it ships, applying them, and refusing to run
//! on a schema older than this binary.
//!
//! Everything lives in the one PostgreSQL schema named by `DB_SCHEMA`: the reference AppView
//! tables (migration 1), the pipeline's additions documented in `SCHEMA.md` (migration 2 on),
//! and sqlx's `_sqlx_migrations` history. The migration files name objects unqualified;
//! [`migrate`] runs them with `search_path` set to the schema, and [`connect_options`] sets the
//! same `search_path` on every connection the indexer opens, so queries name tables bare too.

mod error;
mod name;

pub use error::SchemaError;
pub use name::SchemaName;

use std::collections::BTreeSet;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};
use sqlx::{AssertSqlSafe, Row};

/// The migrations shipped in `crates/indexer/migrations/`, embedded at compile time.
static MIGRATIONS: Migrator = sqlx::migrate!("./migrations");

/// Name of sqlx's history table, created inside the schema.
const HISTORY_TABLE: &str = "_sqlx_migrations";

/// Session advisory lock held while migrating. One key for every schema: migrations of two
/// schemas in one database both touch the shared `pg_trgm` extension.
const MIGRATE_LOCK_KEY: i64 = 0x6273_6b79_5f69_6478; // "bsky_idx"

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    /// Versions applied by this call, oldest first; empty when the schema was already current.
    pub applied: Vec<i64>,
    /// The schema's version now: the newest migration this binary ships.
    pub version: i64,
}

/// The newest migration version this binary ships.
pub fn latest_version() -> i64 {
    shipped().map(|(version, _)| version).max().unwrap_or(0)
}

/// Connection options for `url` whose sessions resolve unqualified names in `schema` first.
pub fn connect_options(url: &str, schema: &SchemaName) -> Result<PgConnectOptions, SchemaError> {
    let options: PgConnectOptions = url
        .parse()
        .map_err(|source| SchemaError::InvalidUrl { source })?;
    Ok(options.options([("search_path", schema.as_str())]))
}

/// Creates `schema` if needed and applies every shipped migration not applied yet.
///
/// Idempotent: on a current schema it changes nothing. Concurrent callers are serialised by an
/// advisory lock. Refuses schemas it cannot safely extend: built by another tool, left dirty
/// by a failed migration, or carrying migrations this binary does not know.
pub async fn migrate(pool: &PgPool, schema: &SchemaName) -> Result<Migrated, SchemaError> {
    // A connection of our own, closed afterwards: `SET search_path` must not leak into the pool.
    let mut conn = pool
        .acquire()
        .await
        .map_err(db_error(schema, "acquiring a connection"))?
        .detach();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATE_LOCK_KEY)
        .execute(&mut conn)
        .await
        .map_err(db_error(schema, "taking the migration lock"))?;

    let before = match inspect(&mut conn, schema).await? {
        State::Missing => BTreeSet::new(),
        State::Applied(versions) => versions,
    };

    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema}"
    )))
    .execute(&mut conn)
    .await
    .map_err(db_error(schema, "creating the schema"))?;

    let mut migrator = Migrator::with_migrations(MIGRATIONS.iter().cloned().collect());
    migrator.dangerous_set_table_name(format!("{schema}.{HISTORY_TABLE}"));
    migrator
        .run(&mut conn)
        .await
        .map_err(|source| SchemaError::Migrate {
            schema: schema.to_string(),
            source,
        })?;

    // Dropping the detached connection closes it, which also releases the advisory lock.
    Ok(Migrated {
        applied: shipped()
            .map(|(version, _)| version)
            .filter(|version| !before.contains(version))
            .collect(),
        version: latest_version(),
    })
}

/// Succeeds only if `schema` holds exactly the migrations this binary ships, all applied.
///
/// Every other state is an error that says what to do: a missing or outdated schema names
/// `indexer migrate` and the variables to set.
pub async fn check_current(pool: &PgPool, schema: &SchemaName) -> Result<(), SchemaError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(db_error(schema, "acquiring a connection"))?;
    let applied = match inspect(&mut conn, schema).await? {
        State::Missing => {
            return Err(SchemaError::Missing {
                schema: schema.to_string(),
            });
        }
        State::Applied(versions) => versions,
    };
    if shipped().all(|(version, _)| applied.contains(&version)) {
        return Ok(());
    }
    Err(SchemaError::Outdated {
        schema: schema.to_string(),
        applied: applied.last().copied().unwrap_or(0),
        expected: latest_version(),
    })
}

/// What a schema holds, as far as it is usable.
enum State {
    /// No migration history (and nothing else either).
    Missing,
    /// These versions are applied, each one shipped by this binary with the same checksum.
    Applied(BTreeSet<i64>),
}

/// Reads the schema's migration history and rejects every state that migrating cannot fix.
async fn inspect(conn: &mut PgConnection, schema: &SchemaName) -> Result<State, SchemaError> {
    let history = format!("{schema}.{HISTORY_TABLE}");
    let has_history: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&history)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error(schema, "looking for the migration history"))?;
    if !has_history {
        let relations: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_catalog.pg_class c \
             JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')",
        )
        .bind(schema.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error(schema, "listing the schema's relations"))?;
        if relations > 0 {
            return Err(SchemaError::Unmanaged {
                schema: schema.to_string(),
                tables: relations,
            });
        }
        return Ok(State::Missing);
    }

    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT version, success, checksum FROM {history} ORDER BY version"
    )))
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error(schema, "reading the migration history"))?;

    let mut applied = BTreeSet::new();
    for row in rows {
        let read = |e| SchemaError::Database {
            schema: schema.to_string(),
            action: "decoding the migration history",
            source: e,
        };
        let version: i64 = row.try_get("version").map_err(read)?;
        let success: bool = row.try_get("success").map_err(read)?;
        let checksum: Vec<u8> = row.try_get("checksum").map_err(read)?;
        if !success {
            return Err(SchemaError::Dirty {
                schema: schema.to_string(),
                version,
            });
        }
        match shipped().find(|(shipped, _)| *shipped == version) {
            None => {
                return Err(SchemaError::Newer {
                    schema: schema.to_string(),
                    version,
                });
            }
            Some((_, expected)) if expected != checksum.as_slice() => {
                return Err(SchemaError::Modified {
                    schema: schema.to_string(),
                    version,
                });
            }
            Some(_) => {
                applied.insert(version);
            }
        }
    }
    Ok(State::Applied(applied))
}

/// The shipped (up) migrations as `(version, checksum)`.
fn shipped() -> impl Iterator<Item = (i64, &'static [u8])> {
    MIGRATIONS
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| (m.version, &*m.checksum))
}

/// Wraps a driver error with the schema and the step that failed.
fn db_error(schema: &SchemaName, action: &'static str) -> impl Fn(sqlx::Error) -> SchemaError {
    let schema = schema.to_string();
    move |source| SchemaError::Database {
        schema: schema.clone(),
        action,
        source,
    }
}
