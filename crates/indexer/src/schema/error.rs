//! Why the database schema cannot be used, worded so an operator knows what to run.

use sqlx::migrate::MigrateError;

/// An error from checking, migrating or connecting to the indexer's schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// `DB_SCHEMA` is not a name this system accepts.
    #[error("invalid DB_SCHEMA {name:?}: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// `DATABASE_URL` could not be parsed.
    #[error("invalid DATABASE_URL: {source}")]
    InvalidUrl {
        /// The parser's complaint (never the URL itself: it may hold a password).
        source: sqlx::Error,
    },

    /// The schema has no migration history at all.
    #[error(
        "schema {schema} has not been created by the indexer; \
         run `indexer migrate` with the same DATABASE_URL and DB_SCHEMA={schema}"
    )]
    Missing {
        /// The schema that was checked.
        schema: String,
    },

    /// The schema holds tables but no migration history: something else built it.
    #[error(
        "schema {schema} holds {tables} relations but no indexer migration history \
         (created by another tool, e.g. the reference AppView?); the indexer will not adopt it: \
         point DB_SCHEMA at a new schema and run `indexer migrate`"
    )]
    Unmanaged {
        /// The schema that was checked.
        schema: String,
        /// How many tables, views and sequences it holds.
        tables: i64,
    },

    /// Migrations shipped with this binary have not been applied yet.
    #[error(
        "schema {schema} is outdated: applied migrations up to {applied}, this indexer needs \
         {expected}; run `indexer migrate` with the same DATABASE_URL and DB_SCHEMA={schema}"
    )]
    Outdated {
        /// The schema that was checked.
        schema: String,
        /// The newest applied version (0 when none).
        applied: i64,
        /// The newest version this binary ships.
        expected: i64,
    },

    /// A migration started but did not finish.
    #[error(
        "schema {schema}: migration {version} failed part-way and is marked dirty; \
         repair it by hand, delete its row from {schema}._sqlx_migrations, then run `indexer migrate`"
    )]
    Dirty {
        /// The schema that was checked.
        schema: String,
        /// The dirty version.
        version: i64,
    },

    /// An applied migration differs from the one this binary ships.
    #[error(
        "schema {schema}: applied migration {version} differs from the one this indexer ships \
         (its checksum changed); the database was built by a different build of the indexer"
    )]
    Modified {
        /// The schema that was checked.
        schema: String,
        /// The differing version.
        version: i64,
    },

    /// The schema has migrations this binary does not know: the binary is older than the data.
    #[error(
        "schema {schema} has migration {version}, which this indexer does not ship; \
         run a newer indexer"
    )]
    Newer {
        /// The schema that was checked.
        schema: String,
        /// The unknown version.
        version: i64,
    },

    /// A query failed.
    #[error("schema {schema}: {action}: {source}")]
    Database {
        /// The schema concerned.
        schema: String,
        /// What was being done.
        action: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },

    /// Applying the migrations failed.
    #[error("schema {schema}: applying migrations failed: {source}")]
    Migrate {
        /// The schema concerned.
        schema: String,
        /// sqlx's migration error.
        source: MigrateError,
    },
}
