//! Schema parity: the indexer's migrations build exactly the reference AppView schema, plus the
//! documented additions and nothing else.
//!
//! Database A gets the reference dump (`fixtures/reference/bsky-appview-schema.sql`), database B
//! our migrations; both are read back through the PostgreSQL catalog (tables, columns with types,
//! nullability, defaults and generation, constraints, indexes by definition, sequences, views,
//! triggers, functions and types) and compared fact by fact. Facts are rendered with
//! `search_path` set to the inspected schema, so the same schema under another name compares
//! equal while a stray reference to another schema does not.

use std::collections::BTreeMap;

use harness::services::TestPostgres;
use indexer::schema::{self, SchemaName};
use sqlx::postgres::{PgConnection, PgPool, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Row};

/// The reference dump (`fixtures/reference/`).
const REFERENCE_DUMP: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../fixtures/reference/bsky-appview-schema.sql"
));

/// The schema the dump creates.
const REFERENCE_SCHEMA: &str = "bsky";

/// What our migrations add to the reference, mirroring `crates/indexer/SCHEMA.md`. A `table X`
/// entry covers the table and everything on it (columns, keys, indexes); any other entry is one
/// fact's key. The test fails if B lacks any of these, or has anything else A lacks.
const ADDITIONS: &[&str] = &[
    // sqlx's migration history, kept inside the schema it describes.
    "table _sqlx_migrations",
    // The rev that wrote the record row ("newest wins").
    "column record.rev",
    // Deletes leave the path and the delete's rev.
    "table record_tombstone",
    // One notification per recipient, record and reason ("never twice").
    "index notification_unique_recipient_record_reason_idx",
    // Deleted accounts, so a late backfill cannot restore them.
    "table actor_tombstone",
    // The newest negation per label key, so a replayed older label cannot come back.
    "table label_negation",
];

/// One catalog fact: what it belongs to, and its full rendered definition.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fact {
    /// The table (or view, or sequence's table) this fact belongs to.
    owner: String,
    /// The definition, as PostgreSQL renders it.
    detail: String,
}

/// Every fact about one schema, keyed by `kind name`.
type Catalog = BTreeMap<String, Fact>;

/// How database B differs from database A.
#[derive(Debug, Default)]
struct Drift {
    /// In A, not in B.
    missing: Vec<String>,
    /// In B, not in A, and not an allowed addition.
    unexpected: Vec<String>,
    /// In both, defined differently: (key, A's definition, B's definition).
    changed: Vec<(String, String, String)>,
    /// Allowed additions that B does not have.
    absent_additions: Vec<String>,
}

impl Drift {
    fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.changed.is_empty()
            && self.absent_additions.is_empty()
    }
}

fn is_addition(key: &str, fact: &Fact) -> bool {
    ADDITIONS
        .iter()
        .any(|a| *a == key || a.strip_prefix("table ") == Some(fact.owner.as_str()))
}

fn compare(reference: &Catalog, ours: &Catalog) -> Drift {
    let mut drift = Drift::default();
    for (key, want) in reference {
        match ours.get(key) {
            None => drift.missing.push(format!("{key}: {}", want.detail)),
            Some(got) if got != want => {
                drift
                    .changed
                    .push((key.clone(), want.detail.clone(), got.detail.clone()));
            }
            Some(_) => {}
        }
    }
    for (key, got) in ours {
        if !reference.contains_key(key) && !is_addition(key, got) {
            drift.unexpected.push(format!("{key}: {}", got.detail));
        }
    }
    for addition in ADDITIONS {
        let present = ours.iter().any(|(key, fact)| {
            key == addition || addition.strip_prefix("table ") == Some(fact.owner.as_str())
        });
        if !present {
            drift.absent_additions.push((*addition).to_owned());
        }
    }
    drift
}

/// Reads every fact about `schema` through one connection whose `search_path` is that schema.
async fn catalog(url: &str, schema: &str) -> anyhow::Result<Catalog> {
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("SELECT pg_catalog.set_config('search_path', $1, false)")
        .bind(schema)
        .execute(&mut conn)
        .await?;
    let mut facts = Catalog::new();
    let queries: [(&str, &'static str); 9] = [
        (
            "relation",
            "SELECT c.relname, c.relname, format('kind=%s persistence=%s rls=%s', c.relkind, \
             c.relpersistence, c.relrowsecurity) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c')",
        ),
        (
            "column",
            "SELECT c.relname || '.' || a.attname, c.relname, format( \
               '#%s %s%s default=%s generated=%s identity=%s collation=%s', \
               row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum), \
               format_type(a.atttypid, a.atttypmod), \
               CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, \
               coalesce(pg_get_expr(d.adbin, d.adrelid), '-'), a.attgenerated, a.attidentity, \
               coalesce(co.collname, '-')) \
             FROM pg_attribute a \
             JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             LEFT JOIN pg_collation co ON co.oid = a.attcollation \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'c') \
               AND a.attnum > 0 AND NOT a.attisdropped",
        ),
        (
            "constraint",
            "SELECT c.relname || '.' || con.conname, c.relname, format('%s %s deferrable=%s/%s', \
               con.contype, pg_get_constraintdef(con.oid), con.condeferrable, con.condeferred) \
             FROM pg_constraint con \
             JOIN pg_class c ON c.oid = con.conrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1",
        ),
        (
            "index",
            "SELECT ic.relname, tc.relname, pg_get_indexdef(i.indexrelid) \
             FROM pg_index i \
             JOIN pg_class ic ON ic.oid = i.indexrelid \
             JOIN pg_class tc ON tc.oid = i.indrelid \
             JOIN pg_namespace n ON n.oid = ic.relnamespace \
             WHERE n.nspname = $1",
        ),
        (
            "sequence",
            "SELECT c.relname, coalesce(owner.relname, c.relname), format( \
               'type=%s start=%s increment=%s min=%s max=%s cache=%s cycle=%s owned_by=%s', \
               format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax, \
               s.seqcache, s.seqcycle, coalesce(owner.relname || '.' || a.attname, '-')) \
             FROM pg_sequence s \
             JOIN pg_class c ON c.oid = s.seqrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_depend dep ON dep.classid = 'pg_class'::regclass \
               AND dep.objid = c.oid AND dep.refclassid = 'pg_class'::regclass \
               AND dep.deptype IN ('a', 'i') \
             LEFT JOIN pg_class owner ON owner.oid = dep.refobjid \
             LEFT JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid \
             WHERE n.nspname = $1",
        ),
        (
            "view",
            "SELECT c.relname, c.relname, pg_get_viewdef(c.oid) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('v', 'm')",
        ),
        (
            "trigger",
            "SELECT c.relname || '.' || t.tgname, c.relname, pg_get_triggerdef(t.oid) \
             FROM pg_trigger t \
             JOIN pg_class c ON c.oid = t.tgrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND NOT t.tgisinternal",
        ),
        (
            "function",
            "SELECT p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', \
               p.proname, pg_get_functiondef(p.oid) \
             FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1",
        ),
        (
            "type",
            "SELECT t.typname, t.typname, format('typtype=%s', t.typtype) \
             FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
             WHERE n.nspname = $1 AND t.typtype IN ('e', 'd', 'r', 'm')",
        ),
    ];
    for (kind, sql) in queries {
        let rows = sqlx::query(sql).bind(schema).fetch_all(&mut conn).await?;
        for row in rows {
            let name: String = row.try_get(0)?;
            let owner: String = row.try_get(1)?;
            let detail: String = row.try_get(2)?;
            let fact = Fact {
                owner,
                detail: normalise(&detail, schema),
            };
            if let Some(previous) = facts.insert(format!("{kind} {name}"), fact) {
                anyhow::bail!("two catalog facts named {kind} {name} ({previous:?})");
            }
        }
    }
    conn.close().await?;
    Ok(facts)
}

/// Drops the inspected schema's own qualifier, in case PostgreSQL printed one anyway.
fn normalise(detail: &str, schema: &str) -> String {
    detail
        .replace(&format!("\"{schema}\"."), "")
        .replace(&format!("{schema}."), "")
}

/// Loads the reference dump into a fresh database and returns its URL.
async fn reference_database(pg: &TestPostgres) -> anyhow::Result<String> {
    let url = pg.create_database().await?;
    let mut conn = PgConnection::connect(&url).await?;
    // The dump is `-n bsky`: it uses pg_trgm's operator classes but does not create the extension.
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        .execute(&mut conn)
        .await?;
    // psql meta-commands (`\restrict`) are not SQL; ownership is not part of the comparison.
    let sql: String = REFERENCE_DUMP
        .lines()
        .filter(|line| !line.starts_with('\\'))
        .filter(|line| !(line.starts_with("ALTER ") && line.contains(" OWNER TO ")))
        .collect::<Vec<_>>()
        .join("\n");
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await?;
    conn.close().await?;
    Ok(url)
}

async fn pool(url: &str) -> anyhow::Result<PgPool> {
    Ok(PgPoolOptions::new().max_connections(2).connect(url).await?)
}

fn report(drift: &Drift) -> String {
    let mut out = String::new();
    for line in &drift.missing {
        out.push_str(&format!("missing in migrations: {line}\n"));
    }
    for line in &drift.unexpected {
        out.push_str(&format!(
            "not in the reference (and not a documented addition): {line}\n"
        ));
    }
    for (key, want, got) in &drift.changed {
        out.push_str(&format!(
            "{key} differs:\n  reference:  {want}\n  migrations: {got}\n"
        ));
    }
    for addition in &drift.absent_additions {
        out.push_str(&format!("documented addition not created: {addition}\n"));
    }
    out
}

#[tokio::test]
async fn migrations_build_the_reference_schema_plus_documented_additions() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let reference = catalog(&reference_database(&pg).await?, REFERENCE_SCHEMA).await?;
    // Guard against a vacuous comparison: the dump must have been read in full.
    assert!(
        reference.len() > 500,
        "only {} facts in the reference",
        reference.len()
    );
    assert!(reference.contains_key("column post.sortAt"));
    assert!(reference.contains_key("index like_subject_sort_at_creator_idx"));

    // The default schema name, and a second schema in the same database (shared pg_trgm).
    let url = pg.create_database().await?;
    let db = pool(&url).await?;
    for name in ["bsky", "appview_two"] {
        let schema = SchemaName::parse(name)?;
        schema::migrate(&db, &schema).await?;
        let ours = catalog(&url, name).await?;
        let drift = compare(&reference, &ours);
        assert!(drift.is_empty(), "schema {name}:\n{}", report(&drift));
    }
    Ok(())
}

#[tokio::test]
async fn comparison_catches_each_kind_of_drift() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let reference = catalog(&reference_database(&pg).await?, REFERENCE_SCHEMA).await?;
    let url = pg.create_database().await?;
    let db = pool(&url).await?;
    let schema = SchemaName::parse("bsky")?;
    schema::migrate(&db, &schema).await?;

    sqlx::raw_sql(
        "ALTER TABLE bsky.post ALTER COLUMN text TYPE text; \
         ALTER TABLE bsky.post_agg ALTER COLUMN \"likeCount\" SET DEFAULT 1; \
         ALTER TABLE bsky.actor ALTER COLUMN \"indexedAt\" DROP NOT NULL; \
         DROP INDEX bsky.follow_subject_cursor_idx; \
         CREATE INDEX follow_subject_cursor_idx ON bsky.follow (\"subjectDid\", \"sortAt\"); \
         DROP INDEX bsky.label_cts_idx; \
         ALTER TABLE bsky.repost DROP CONSTRAINT repost_unique_subject; \
         ALTER TABLE bsky.list ADD COLUMN extra integer; \
         DROP TABLE bsky.record_tombstone; \
         ALTER SEQUENCE bsky.notification_id_seq INCREMENT BY 2",
    )
    .execute(&db)
    .await?;

    let drift = compare(&reference, &catalog(&url, "bsky").await?);
    let changed: Vec<&str> = drift.changed.iter().map(|(k, _, _)| k.as_str()).collect();
    for key in [
        "column post.text",
        "column post_agg.likeCount",
        "column actor.indexedAt",
        "index follow_subject_cursor_idx",
        "sequence notification_id_seq",
    ] {
        assert!(
            changed.contains(&key),
            "{key} not reported:\n{}",
            report(&drift)
        );
    }
    for key in [
        "index label_cts_idx",
        "constraint repost.repost_unique_subject",
    ] {
        assert!(
            drift
                .missing
                .iter()
                .any(|m| m.starts_with(&format!("{key}:"))),
            "{key} not reported missing:\n{}",
            report(&drift)
        );
    }
    assert!(
        drift
            .unexpected
            .iter()
            .any(|u| u.starts_with("column list.extra:")),
        "extra column not reported:\n{}",
        report(&drift)
    );
    assert_eq!(
        drift.absent_additions,
        vec!["table record_tombstone".to_owned()]
    );
    Ok(())
}

#[tokio::test]
async fn migrating_twice_changes_nothing() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let url = pg.create_database().await?;
    let db = pool(&url).await?;
    let schema = SchemaName::parse("bsky")?;

    let first = schema::migrate(&db, &schema).await?;
    assert_eq!(first.applied, vec![1, 2, 3, 4, 5]);
    assert_eq!(first.version, schema::latest_version());
    let before = catalog(&url, "bsky").await?;
    let history = "SELECT count(*) FROM bsky._sqlx_migrations";
    let rows_before: i64 = sqlx::query_scalar(history).fetch_one(&db).await?;

    let second = schema::migrate(&db, &schema).await?;
    assert!(second.applied.is_empty(), "re-applied {:?}", second.applied);
    assert_eq!(catalog(&url, "bsky").await?, before);
    let rows_after: i64 = sqlx::query_scalar(history).fetch_one(&db).await?;
    assert_eq!(rows_after, rows_before);
    schema::check_current(&db, &schema).await?;
    Ok(())
}
