//! `verify` run as an operator runs it, against real Redis and PostgreSQL holding pipeline states
//! built by hand: each check must pass on a finished pipeline and fail on the fault it names.

use std::process::Output;

use harness::services::{TestPostgres, TestRedis, locate_binary};
use indexer::schema::{SchemaName, connect_options, migrate};
use redis::AsyncCommands;
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use verify::manifest::{ActorExpectation, DeadLetterExpectation, Manifest, RecordExpectation};

struct Pipeline {
    redis: TestRedis,
    _postgres: TestPostgres,
    database_url: String,
    pool: sqlx::PgPool,
}

async fn pipeline() -> Pipeline {
    let redis = TestRedis::start().await.unwrap();
    let postgres = TestPostgres::start().await.unwrap();
    let database_url = postgres.create_database().await.unwrap();
    let schema = SchemaName::parse("bsky").unwrap();
    let pool = PgPoolOptions::new()
        .max_connections(2)
        .connect_with(connect_options(&database_url, &schema).unwrap())
        .await
        .unwrap();
    migrate(&pool, &schema).await.unwrap();
    Pipeline {
        redis,
        _postgres: postgres,
        database_url,
        pool,
    }
}

impl Pipeline {
    async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }

    /// A finished backfill of `dids`: listed, fully consumed by the backfiller group, cursor done.
    async fn finished_backfill(&self, dids: &[&str]) {
        let mut r = self.redis().await;
        for did in dids {
            let entry = serde_json::json!({"did": did, "host": "https://relay.test", "rev": "3k", "status": "active", "active": true});
            let _: String = r
                .xadd("repo_backfill", "*", &[("repo", entry.to_string())])
                .await
                .unwrap();
        }
        let _: () = redis::cmd("XGROUP")
            .arg("CREATE")
            .arg("repo_backfill")
            .arg("repo_backfill_group")
            .arg("0")
            .arg("MKSTREAM")
            .query_async(&mut r)
            .await
            .unwrap();
        let read: redis::streams::StreamReadReply = r
            .xread_options(
                &["repo_backfill"],
                &[">"],
                &redis::streams::StreamReadOptions::default().group("repo_backfill_group", "bf-1"),
            )
            .await
            .unwrap();
        for key in read.keys {
            for id in key.ids {
                let _: u64 = r
                    .xack("repo_backfill", "repo_backfill_group", &[id.id])
                    .await
                    .unwrap();
            }
        }
        let _: () = r
            .set("repo_backfill:cursor:relay.test", "!ingester-done")
            .await
            .unwrap();
    }

    async fn insert_record(&self, uri: &str, cid: &str, rev: &str) {
        let did = uri.trim_start_matches("at://").split('/').next().unwrap();
        sqlx::query(r#"INSERT INTO record (uri, cid, did, json, "indexedAt", rev) VALUES ($1, $2, $3, '{}', '2026-01-01T00:00:00.000Z', $4)"#)
            .bind(uri).bind(cid).bind(did).bind(rev)
            .execute(&self.pool).await.unwrap();
        sqlx::query(r#"INSERT INTO actor (did, "indexedAt") VALUES ($1, '2026-01-01T00:00:00.000Z') ON CONFLICT DO NOTHING"#)
            .bind(did)
            .execute(&self.pool).await.unwrap();
    }

    fn verify(&self, extra: &[&str]) -> (Option<i32>, Value, String) {
        let output: Output = std::process::Command::new(locate_binary("verify").unwrap())
            .args(["--json", "--sample-secs", "0.2", "--skip", "live-cursors"])
            .args(extra)
            .env_clear()
            .env("REDIS_URL", self.redis.url())
            .env("DATABASE_URL", &self.database_url)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let report = serde_json::from_slice(&output.stdout).unwrap_or(Value::Null);
        (output.status.code(), report, stderr)
    }
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report}"))
}

#[tokio::test]
async fn a_finished_pipeline_passes_every_check() {
    let p = pipeline().await;
    p.finished_backfill(&[
        "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa",
        "did:plc:bbbbbbbbbbbbbbbbbbbbbbbb",
    ])
    .await;
    p.insert_record(
        "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/app.bsky.feed.like/3kaaaaaaaaaa2",
        "bafyone",
        "3k1",
    )
    .await;
    let (code, report, stderr) = p.verify(&[]);
    assert_eq!(code, Some(0), "{report:#}\n{stderr}");
    assert_eq!(report["verdict"], "PASS");
    assert_eq!(report["progress"]["listed"], 2);
    assert_eq!(report["progress"]["fetched"], 2);
    assert_eq!(report["database"]["record"], 1);
}

/// A dead-letter or skip stream nearing its cap (80%) is a warning: the verdict still passes, and
/// the check names the stream and its cap, given as the stages' own variables.
#[tokio::test]
async fn a_capped_stream_near_its_cap_warns_without_failing() {
    let p = pipeline().await;
    p.finished_backfill(&["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"])
        .await;
    let (code, report, stderr) = p.verify(&["--dlq-max-len", "10", "--skipped-max-len", "10"]);
    assert_eq!(code, Some(0), "{report:#}\n{stderr}");
    assert_eq!(check(&report, "capped-streams")["status"], "PASS");

    let mut r = p.redis().await;
    for i in 0..8 {
        let _: String = r
            .xadd("firehose_live_dlq", "*", &[("event", format!("{i}"))])
            .await
            .unwrap();
    }
    for i in 0..7 {
        let _: String = r
            .xadd(
                "firehose_live:skipped:relay.example.com",
                "*",
                &[("skipped", format!("{i}"))],
            )
            .await
            .unwrap();
    }
    let (code, report, stderr) = p.verify(&["--dlq-max-len", "10", "--skipped-max-len", "10"]);
    assert_eq!(
        code,
        Some(0),
        "a warning does not fail: {report:#}\n{stderr}"
    );
    assert_eq!(report["verdict"], "PASS");
    let capped = check(&report, "capped-streams");
    assert_eq!(capped["status"], "WARN", "{capped}");
    let figure = capped["figure"].as_str().unwrap();
    assert!(figure.contains("firehose_live_dlq at 8 of 10"), "{figure}");
    assert!(
        !figure.contains("skipped"),
        "7 of 10 is below 80%: {figure}"
    );

    let (_, report, _) = p.verify(&["--dlq-max-len", "100"]);
    assert_eq!(check(&report, "capped-streams")["status"], "PASS");
}

#[tokio::test]
async fn a_group_ahead_of_its_stream_fails() {
    let p = pipeline().await;
    p.finished_backfill(&["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"])
        .await;
    let mut r = p.redis().await;
    // The stream was deleted and refilled; the group kept its old position.
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg("repo_backfill")
        .arg("repo_backfill_group")
        .arg("99999999999999-0")
        .query_async(&mut r)
        .await
        .unwrap();
    let (code, report, _) = p.verify(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(check(&report, "groups-positioned")["status"], "FAIL");
    assert_eq!(check(&report, "backfill-listing")["status"], "PASS");
}

#[tokio::test]
async fn unconsumed_work_with_no_live_consumer_fails() {
    let p = pipeline().await;
    p.finished_backfill(&["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"])
        .await;
    let mut r = p.redis().await;
    let _: String = r
        .xadd(
            "repo_backfill",
            "*",
            &[("repo", "{\"did\":\"did:plc:cccccccccccccccccccccccc\"}")],
        )
        .await
        .unwrap();
    // The group's consumer last acted long enough ago? It acted just now, so make a stale one:
    // a group with lag and no consumers at all.
    let _: () = redis::cmd("XGROUP")
        .arg("DELCONSUMER")
        .arg("repo_backfill")
        .arg("repo_backfill_group")
        .arg("bf-1")
        .query_async(&mut r)
        .await
        .unwrap();
    let (code, report, _) = p.verify(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(check(&report, "groups-active")["status"], "FAIL");
    assert_eq!(check(&report, "backfill-fetching")["status"], "FAIL");
}

#[tokio::test]
async fn a_listing_cursor_that_does_not_move_and_skipped_entries_fail() {
    let p = pipeline().await;
    let mut r = p.redis().await;
    let _: () = r
        .set("repo_backfill:cursor:relay.test", "4200")
        .await
        .unwrap();
    let skipped =
        serde_json::json!({"host": "relay.test", "cursor": "4100", "error": "500 DatabaseError"});
    let _: String = r
        .xadd(
            "repo_backfill:skipped:relay.test",
            "*",
            &[("skipped", skipped.to_string())],
        )
        .await
        .unwrap();
    let (code, report, _) = p.verify(&[]);
    assert_eq!(code, Some(1));
    assert_eq!(check(&report, "listing-cursors")["status"], "FAIL");
    assert!(
        check(&report, "listing-cursors")["figure"]
            .as_str()
            .unwrap()
            .contains("relay.test at 4200")
    );
    assert_eq!(check(&report, "nothing-skipped")["status"], "FAIL");
    assert_eq!(report["redis"]["skipped"][0]["latest"][0]["cursor"], "4100");
}

#[tokio::test]
async fn expect_lists_missing_stale_extra_and_dead_letter_differences() {
    let p = pipeline().await;
    p.finished_backfill(&["did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"])
        .await;
    let a = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa";
    p.insert_record(
        &format!("at://{a}/app.bsky.feed.like/3kaaaaaaaaaa2"),
        "bafyone",
        "3k1",
    )
    .await;
    p.insert_record(
        &format!("at://{a}/app.bsky.feed.like/3kaaaaaaaaaa3"),
        "bafyold",
        "3k1",
    )
    .await;
    p.insert_record(
        &format!("at://{a}/app.bsky.feed.like/3kaaaaaaaaaa4"),
        "bafyextra",
        "3k1",
    )
    .await;
    let mut r = p.redis().await;
    let dead = serde_json::json!({"did": "did:plc:dddddddddddddddddddddddd"});
    let _: String = r
        .xadd(
            "repo_backfill_dlq",
            "*",
            &[
                ("repo", dead.to_string()),
                ("reason", "RepoTakendown: taken down".into()),
                ("attempts", "1".into()),
            ],
        )
        .await
        .unwrap();

    let mut manifest = Manifest::empty(1);
    let record = |rkey: &str, cid: &str, rev: &str| RecordExpectation {
        uri: format!("at://{a}/{rkey}"),
        cid: cid.into(),
        rev: rev.into(),
        required: true,
    };
    manifest.records = vec![
        // Stored at rev 3k1, written at 3k0: a backfill stores the repository's (newer) rev.
        record("app.bsky.feed.like/3kaaaaaaaaaa2", "bafyone", "3k0"),
        record("app.bsky.feed.like/3kaaaaaaaaaa3", "bafynew", "3k2"),
        // Optional and missing: fine.
        record("app.bsky.feed.like/3kaaaaaaaaaa6", "bafymaybe", "3k2"),
        record("app.bsky.feed.post/3kaaaaaaaaaa5", "bafypost", "3k2"),
    ];
    manifest.records[2].required = false;
    manifest.actors = vec![ActorExpectation {
        did: a.into(),
        pds: "pds1.test".into(),
        handle: "alice.test".into(),
        handle_from_event: false,
        status: None,
        status_from_event: false,
        head: None,
        rev: Some("3k2".into()),
        head_from_event: false,
    }];
    manifest.dead_letters = vec![DeadLetterExpectation {
        stream: "repo_backfill_dlq".into(),
        did: "did:plc:dddddddddddddddddddddddd".into(),
        reason: "takendown".into(),
        required: true,
    }];
    manifest.sort();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("manifest.json");
    manifest.write(&path).unwrap();

    let (code, report, stderr) = p.verify(&["--expect", path.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");
    let expect = &report["expect"];
    assert_eq!(
        expect["missing_records"],
        serde_json::json!([format!("at://{a}/app.bsky.feed.post/3kaaaaaaaaaa5")])
    );
    assert_eq!(
        expect["extra_records"],
        serde_json::json!([format!("at://{a}/app.bsky.feed.like/3kaaaaaaaaaa4")])
    );
    assert_eq!(expect["stale_records"].as_array().unwrap().len(), 1);
    assert!(
        expect["missing_dead_letters"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{expect}"
    );
    assert!(
        expect["unexpected_dead_letters"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{expect}"
    );

    // The same manifest without the differences: equal, and the verdict passes.
    sqlx::query("DELETE FROM record WHERE cid = 'bafyextra'")
        .execute(&p.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE record SET cid = 'bafynew', rev = '3k2' WHERE cid = 'bafyold'")
        .execute(&p.pool)
        .await
        .unwrap();
    manifest
        .records
        .retain(|r| !r.uri.ends_with("3kaaaaaaaaaa5"));
    manifest.write(&path).unwrap();
    let (code, report, stderr) = p.verify(&["--expect", path.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{report:#}\n{stderr}");
}

#[tokio::test]
async fn unreachable_services_and_bad_settings_have_their_own_exit_codes() {
    let verify = locate_binary("verify").unwrap();
    let out = std::process::Command::new(&verify)
        .args(["--no-database", "--sample-secs", "0"])
        .env_clear()
        .env("REDIS_URL", "redis://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("connecting to Redis"));
    let out = std::process::Command::new(&verify)
        .args(["--skip", "no-such-check"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
