//! `indexer::schema::check_current` and `migrate` against every state a database can be in:
//! empty, current, one migration behind, built by another tool, dirty, edited, or newer than the
//! binary; and two migrators racing.

use harness::services::TestPostgres;
use indexer::schema::{self, SchemaError, SchemaName};
use sqlx::AssertSqlSafe;
use sqlx::postgres::{PgPool, PgPoolOptions};

async fn fresh_pool(pg: &TestPostgres) -> anyhow::Result<PgPool> {
    let url = pg.create_database().await?;
    Ok(PgPoolOptions::new()
        .max_connections(4)
        .connect(&url)
        .await?)
}

fn bsky() -> anyhow::Result<SchemaName> {
    Ok(SchemaName::parse("bsky")?)
}

#[tokio::test]
async fn empty_database_is_refused_with_how_to_migrate_then_accepted_after_migrate()
-> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let db = fresh_pool(&pg).await?;
    let schema = SchemaName::parse("appview_x")?;

    let err = schema::check_current(&db, &schema)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an empty database passed the check"))?;
    assert!(matches!(err, SchemaError::Missing { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("indexer migrate"), "{message}");
    assert!(message.contains("DB_SCHEMA=appview_x"), "{message}");
    assert!(message.contains("DATABASE_URL"), "{message}");

    let migrated = schema::migrate(&db, &schema).await?;
    assert_eq!(migrated.applied, vec![1, 2, 3, 4, 5]);
    schema::check_current(&db, &schema).await?;
    // Nothing landed outside the chosen schema.
    let stray: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'm', 'S', 'v')",
    )
    .fetch_one(&db)
    .await?;
    assert_eq!(stray, 0);
    Ok(())
}

#[tokio::test]
async fn schema_one_migration_behind_is_outdated_and_migrate_upgrades_it() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let db = fresh_pool(&pg).await?;
    let schema = bsky()?;
    schema::migrate(&db, &schema).await?;
    // Roll the database back to what migration 1 alone leaves.
    sqlx::raw_sql(
        "DROP INDEX bsky.notification_unique_recipient_record_reason_idx; \
         DROP TABLE bsky.record_tombstone; \
         DROP TABLE bsky.actor_tombstone; \
         DROP TABLE bsky.label_negation; \
         ALTER TABLE bsky.record DROP COLUMN rev; \
         ALTER TABLE bsky.actor_sync RESET (fillfactor); \
         ALTER TABLE bsky.post_agg RESET (fillfactor); \
         ALTER TABLE bsky.profile_agg RESET (fillfactor); \
         DELETE FROM bsky._sqlx_migrations WHERE version IN (2, 3, 4, 5)",
    )
    .execute(&db)
    .await?;

    let err = schema::check_current(&db, &schema)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("an outdated schema passed the check"))?;
    assert!(
        matches!(
            err,
            SchemaError::Outdated {
                applied: 1,
                expected: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("indexer migrate"), "{err}");

    let migrated = schema::migrate(&db, &schema).await?;
    assert_eq!(migrated.applied, vec![2, 3, 4, 5]);
    schema::check_current(&db, &schema).await?;
    let rev_default: String = sqlx::query_scalar(
        "SELECT column_default FROM information_schema.columns \
         WHERE table_schema = 'bsky' AND table_name = 'record' AND column_name = 'rev'",
    )
    .fetch_one(&db)
    .await?;
    assert_eq!(rev_default, "''::character varying");
    Ok(())
}

#[tokio::test]
async fn schema_built_by_another_tool_is_refused_and_left_alone() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let db = fresh_pool(&pg).await?;
    sqlx::raw_sql("CREATE SCHEMA bsky; CREATE TABLE bsky.post (uri varchar PRIMARY KEY)")
        .execute(&db)
        .await?;
    let schema = bsky()?;

    let check = schema::check_current(&db, &schema).await;
    assert!(
        matches!(check, Err(SchemaError::Unmanaged { tables: 1, .. })),
        "{check:?}"
    );
    let migrate = schema::migrate(&db, &schema).await;
    assert!(
        matches!(migrate, Err(SchemaError::Unmanaged { .. })),
        "{migrate:?}"
    );
    let history: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('bsky._sqlx_migrations')::text")
            .fetch_one(&db)
            .await?;
    assert_eq!(history, None, "migrate touched a schema it refused");
    Ok(())
}

/// Runs `sql` against a migrated database, then expects both the check and migrate to refuse.
async fn tampered(sql: &'static str) -> anyhow::Result<(SchemaError, SchemaError)> {
    let pg = TestPostgres::start().await?;
    let db = fresh_pool(&pg).await?;
    let schema = bsky()?;
    schema::migrate(&db, &schema).await?;
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&db).await?;
    let check = schema::check_current(&db, &schema)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("check passed after {sql}"))?;
    let migrate = schema::migrate(&db, &schema)
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("migrate passed after {sql}"))?;
    Ok((check, migrate))
}

#[tokio::test]
async fn dirty_migration_is_refused() -> anyhow::Result<()> {
    let (check, migrate) =
        tampered("UPDATE bsky._sqlx_migrations SET success = false WHERE version = 2").await?;
    for err in [check, migrate] {
        assert!(
            matches!(err, SchemaError::Dirty { version: 2, .. }),
            "{err:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn edited_migration_is_refused() -> anyhow::Result<()> {
    let (check, migrate) =
        tampered("UPDATE bsky._sqlx_migrations SET checksum = '\\x00' WHERE version = 1").await?;
    for err in [check, migrate] {
        assert!(
            matches!(err, SchemaError::Modified { version: 1, .. }),
            "{err:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn migration_unknown_to_this_binary_is_refused() -> anyhow::Result<()> {
    let (check, migrate) = tampered(
        "INSERT INTO bsky._sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (9999, 'from the future', true, '\\x00', 0)",
    )
    .await?;
    for err in [check, migrate] {
        assert!(
            matches!(err, SchemaError::Newer { version: 9999, .. }),
            "{err:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn connections_from_connect_options_see_the_schema_unqualified() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let url = pg.create_database().await?;
    let schema = SchemaName::parse("appview_y")?;
    let db = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(schema::connect_options(&url, &schema)?)
        .await?;
    schema::migrate(&db, &schema).await?;
    sqlx::query("INSERT INTO post_agg (uri) VALUES ('at://did:plc:x/app.bsky.feed.post/1')")
        .execute(&db)
        .await?;
    let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM appview_y.post_agg")
        .fetch_one(&db)
        .await?;
    assert_eq!(counted, 1);
    Ok(())
}

#[tokio::test]
async fn concurrent_migrations_both_succeed_and_apply_once() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let db = fresh_pool(&pg).await?;
    let schema = bsky()?;
    let (a, b) = tokio::join!(schema::migrate(&db, &schema), schema::migrate(&db, &schema));
    let (a, b) = (a?, b?);
    let mut applied = [a.applied, b.applied];
    applied.sort();
    assert_eq!(applied, [vec![], vec![1, 2, 3, 4, 5]]);
    schema::check_current(&db, &schema).await?;
    Ok(())
}
