//! Throughput of the indexer's write path against a private PostgreSQL, beside PostgreSQL's own
//! `INSERT … SELECT` ceiling from a staging table on the same server in the same run.
//!
//! `cargo run -p harness --example bench_indexer [-- EVENTS]` (default 20000). The mix is
//! live-firehose-like: 45% likes, 15% posts (a third of them replies), 15% follows, 10%
//! reposts, 5% profile updates, 10% deletes (half of them of earlier likes), from 1990 accounts, in batches
//! of 50 events with distinct DIDs (what a DID-partitioned consumer hands over). Reports
//! events/s for one writer and for 4 concurrent writers (each batch one transaction).

use std::time::Instant;

use harness::services::TestPostgres;
use indexer::apply::{Change, apply_batch};
use indexer::schema::{self, SchemaName};
use serde_json::json;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use streams::payloads::{RecordDelete, RecordWrite, StreamEvent};

const CID: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";
const TIME: &str = "2026-11-27T10:00:00.000Z";
/// Not a multiple of 20, so an account's deletes land on likes it made a round earlier.
const ACCOUNTS: usize = 1990;
const BATCH: usize = 500;

fn rev(n: usize) -> String {
    const ALPHABET: &[u8] = b"234567abcdefghijklmnopqrstuvwxyz";
    let mut v = n as u64;
    let mut out = [b'2'; 11];
    for d in out.iter_mut().rev() {
        *d = ALPHABET[(v % 32) as usize];
        v /= 32;
    }
    format!("3k{}", String::from_utf8_lossy(&out))
}

fn events(n: usize) -> Vec<Change> {
    let did = |i: usize| format!("did:plc:bench{:06}", i % ACCOUNTS);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let author = did(i);
        let other = did(i * 7 + 13);
        let target = format!("at://{other}/app.bsky.feed.post/p{}", (i / ACCOUNTS) % 8);
        let write = |collection: &str, rkey: String, record: serde_json::Value| {
            StreamEvent::Create(RecordWrite {
                seq: i as i64 + 1,
                time: TIME.into(),
                did: author.clone(),
                commit: CID.into(),
                rev: rev(i + 1),
                collection: collection.into(),
                rkey,
                cid: CID.into(),
                record,
            })
        };
        let created = "2026-11-27T09:00:00Z";
        let event = match i % 20 {
            0..=8 => write(
                "app.bsky.feed.like",
                format!("l{i}"),
                json!({"$type": "app.bsky.feed.like", "subject": {"uri": target, "cid": CID},
                       "createdAt": created}),
            ),
            9 | 10 => write(
                "app.bsky.feed.post",
                format!("p{}", (i / ACCOUNTS) % 8),
                json!({"$type": "app.bsky.feed.post", "text": format!("post {i}"),
                       "createdAt": created, "langs": ["en"]}),
            ),
            11 => write(
                "app.bsky.feed.post",
                format!("r{i}"),
                json!({"$type": "app.bsky.feed.post", "text": "a reply", "createdAt": created,
                       "reply": {"root": {"uri": target, "cid": CID},
                                 "parent": {"uri": target, "cid": CID}}}),
            ),
            12..=14 => write(
                "app.bsky.graph.follow",
                format!("f{i}"),
                json!({"$type": "app.bsky.graph.follow", "subject": other,
                       "createdAt": created}),
            ),
            15 | 16 => write(
                "app.bsky.feed.repost",
                format!("s{i}"),
                json!({"$type": "app.bsky.feed.repost", "subject": {"uri": target, "cid": CID},
                       "createdAt": created}),
            ),
            17 => write(
                "app.bsky.actor.profile",
                "self".into(),
                json!({"$type": "app.bsky.actor.profile", "displayName": format!("n{i}")}),
            ),
            _ => StreamEvent::Delete(RecordDelete {
                seq: i as i64 + 1,
                time: TIME.into(),
                did: author.clone(),
                commit: CID.into(),
                rev: rev(i + 1),
                collection: "app.bsky.feed.like".into(),
                // What this account wrote one round earlier: a like, half of the time.
                rkey: format!("l{}", i.saturating_sub(ACCOUNTS)),
            }),
        };
        out.push(Change::Event(event));
    }
    out
}

async fn database(pg: &TestPostgres, connections: u32) -> anyhow::Result<PgPool> {
    let url = pg.create_database().await?;
    let name = SchemaName::parse("bsky")?;
    let pool = PgPoolOptions::new()
        .max_connections(connections)
        .connect_with(schema::connect_options(&url, &name)?)
        .await?;
    schema::migrate(&pool, &name).await?;
    if std::env::var("BENCH_LOG").is_ok() {
        sqlx::query("ALTER SYSTEM SET log_min_duration_statement = 0").execute(&pool).await?;
        sqlx::query("SELECT pg_reload_conf()").execute(&pool).await?;
        println!("log at {:?}", pg.log_path());
    }
    Ok(pool)
}

/// Applies `events` in batches with `writers` concurrent writers; returns events/s.
async fn run(pg: &TestPostgres, events: &[Change], writers: usize) -> anyhow::Result<f64> {
    let pool = database(pg, writers as u32 + 1).await?;
    // Batch k goes to writer k % writers; a DID is in one batch per round of ACCOUNTS events,
    // and rounds are applied in order, so each DID's events stay in order.
    let batches: Vec<Vec<Change>> = events.chunks(BATCH).map(<[Change]>::to_vec).collect();
    let per_round = ACCOUNTS / BATCH;
    let start = Instant::now();
    for round in batches.chunks(per_round) {
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..writers {
            let mine: Vec<Vec<Change>> = round.iter().skip(w).step_by(writers).cloned().collect();
            let pool = pool.clone();
            tasks.spawn(async move {
                for batch in mine {
                    let mut attempts = 0;
                    loop {
                        match apply_batch(&pool, &batch).await {
                            Ok(_) => break,
                            Err(e) if e.is_transient() && attempts < 10 => attempts += 1,
                            Err(e) => return Err(anyhow::Error::from(e)),
                        }
                    }
                }
                anyhow::Ok(())
            });
        }
        while let Some(done) = tasks.join_next().await {
            done??;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let likes: i64 = sqlx::query_scalar(r#"SELECT count(*) FROM "like""#)
        .fetch_one(&pool)
        .await?;
    println!("  ({writers} writers: {likes} likes left, {secs:.2} s)");
    Ok(events.len() as f64 / secs)
}

/// PostgreSQL's own ceiling: `record` + `like` rows inserted from a staging table, rows/s.
async fn ceiling(pg: &TestPostgres, rows: usize) -> anyhow::Result<f64> {
    let pool = database(pg, 2).await?;
    let mut conn = pool.acquire().await?;
    sqlx::query(
        r#"CREATE TEMP TABLE stage AS SELECT
             'at://did:plc:bench' || lpad((g % 2000)::text, 6, '0') || '/app.bsky.feed.like/l' || g AS uri,
             'did:plc:bench' || lpad((g % 2000)::text, 6, '0') AS did,
             'at://did:plc:bench' || lpad(((g * 7 + 13) % 2000)::text, 6, '0')
               || '/app.bsky.feed.post/p' || (g % 8) || '-' || g AS subject,
             '{"$type":"app.bsky.feed.like"}'::text AS json
           FROM generate_series(1, $1) AS g"#,
    )
    .bind(rows as i64)
    .execute(&mut *conn)
    .await?;
    let start = Instant::now();
    sqlx::query(
        r#"INSERT INTO record (uri, cid, did, json, "indexedAt", rev)
           SELECT uri, 'bafy', did, json, '2026-11-27T10:00:00.000Z', '3k' FROM stage"#,
    )
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        r#"INSERT INTO "like" (uri, cid, creator, subject, "subjectCid", "createdAt", "indexedAt")
           SELECT uri, 'bafy', did, subject, 'bafy', '2026-11-27T09:00:00.000Z',
                  '2026-11-27T10:00:00.000Z' FROM stage"#,
    )
    .execute(&mut *conn)
    .await?;
    Ok(rows as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let pg = TestPostgres::start().await?;
    let events = events(n);
    println!("indexer write path, {n} events, batches of {BATCH}:");
    let one = run(&pg, &events, 1).await?;
    println!("  1 writer : {one:>9.0} events/s");
    if let Some(p) = pg.log_path() { std::fs::copy(p, "/tmp/idx2_pg.log")?; }
    let four = run(&pg, &events, 4).await?;
    println!("  4 writers: {four:>9.0} events/s");
    let top = ceiling(&pg, n).await?;
    println!("PostgreSQL INSERT … SELECT ceiling (record + like rows from a staging table):");
    println!("             {top:>9.0} rows/s");
    Ok(())
}
