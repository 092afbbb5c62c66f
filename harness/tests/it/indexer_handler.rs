//! The indexer's stream handler under the real consumer runner, Redis and PostgreSQL: good
//! entries of all three streams are committed and acknowledged, malformed ones are
//! dead-lettered without blocking the rest, identity events get verified handles, and a `sync`
//! event queues its repo for a fresh backfill.

use std::collections::HashMap;

use crate::support::indexer::{CID, TIME, count, database, rev};
use crate::support::streams::{DEADLINE, conn, entries, options, redis, spawn, stop};
use harness::services::{TestPostgres, wait_until};
use indexer::handler::IndexHandler;
use indexer::verify::{HandleVerifier, VerifyError};
use serde_json::json;
use streams::Consumer;
use streams::consumer::did_partition;

/// Handles known in advance, instead of DNS and HTTPS.
struct FixedHandles(HashMap<String, String>);

impl HandleVerifier for FixedHandles {
    async fn verified_handle(&self, did: &str) -> Result<Option<String>, VerifyError> {
        Ok(self.0.get(did).cloned())
    }
}

const ALICE: &str = "did:plc:alice";

fn create(seq: i64, rkey: &str, rev_n: u32, text: &str) -> String {
    json!({"type": "create", "seq": seq, "time": TIME, "did": ALICE, "commit": CID,
           "rev": rev(rev_n), "collection": "app.bsky.feed.post", "rkey": rkey, "cid": CID,
           "record": {"$type": "app.bsky.feed.post", "text": text,
                      "createdAt": "2026-11-27T09:00:00Z"}})
    .to_string()
}

async fn xadd(
    c: &mut redis::aio::MultiplexedConnection,
    stream: &str,
    field: &str,
    v: &str,
) -> anyhow::Result<()> {
    let _: String = redis::cmd("XADD")
        .arg(stream)
        .arg("*")
        .arg(field)
        .arg(v)
        .query_async(c)
        .await?;
    Ok(())
}

/// Entries pending in the group, or `None` while the runner has not created the group yet.
async fn pending(c: &mut redis::aio::MultiplexedConnection, stream: &str) -> Option<i64> {
    let reply: redis::RedisResult<redis::Value> = redis::cmd("XPENDING")
        .arg(stream)
        .arg("firehose_group")
        .query_async(c)
        .await;
    match reply {
        Ok(redis::Value::Array(parts)) => match parts.first() {
            Some(redis::Value::Int(n)) => Some(*n),
            _ => None,
        },
        _ => None,
    }
}

#[tokio::test]
async fn entries_are_indexed_acknowledged_or_dead_lettered() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;

    xadd(
        &mut c,
        "firehose_live",
        "event",
        &create(1, "p1", 1, "live"),
    )
    .await?;
    xadd(&mut c, "firehose_live", "event", "{not json").await?;
    let mut bad_rev: serde_json::Value = serde_json::from_str(&create(2, "p2", 2, "x"))?;
    bad_rev["rev"] = json!("nope");
    xadd(&mut c, "firehose_live", "event", &bad_rev.to_string()).await?;
    let identity = json!({"type": "identity", "seq": 3, "time": TIME, "did": ALICE});
    xadd(&mut c, "firehose_live", "event", &identity.to_string()).await?;
    let sync = json!({"type": "sync", "seq": 4, "time": TIME, "did": ALICE, "commit": CID,
                      "rev": rev(9)});
    xadd(&mut c, "firehose_live", "event", &sync.to_string()).await?;
    xadd(
        &mut c,
        "firehose_backfill",
        "event",
        &create(-1, "p3", 5, "backfill"),
    )
    .await?;
    let labels = json!({"seq": 1, "labels": [{"ver": 1, "src": "did:plc:labeler",
        "uri": ALICE, "val": "spam", "cts": "2026-01-01T00:00:00Z"}]});
    xadd(&mut c, "label_live", "labels", &labels.to_string()).await?;

    let verifier = FixedHandles(HashMap::from([(ALICE.to_owned(), "alice.test".to_owned())]));
    let handler = IndexHandler::new(
        pool.clone(),
        verifier,
        Some(redis::aio::ConnectionManager::new(client.clone()).await?),
    );
    let streams = ["firehose_live", "firehose_backfill", "label_live"];
    let mut opts = options("firehose_group", "indexer-1", &streams);
    opts.batch_size = 50;
    let (task, cancel) =
        spawn(Consumer::new(client.clone(), opts, handler).with_partition(did_partition));

    let mut probe = conn(&client).await;
    wait_until("every entry acknowledged", DEADLINE, || {
        let mut probe = probe.clone();
        let pool = pool.clone();
        async move {
            let mut left = 0;
            for s in streams {
                left += pending(&mut probe, s).await.unwrap_or(1);
            }
            let dead = entries(&mut probe, "firehose_live_dlq").await.len();
            // Pending is also 0 before the first read: wait for the effects of every entry too.
            let queued = entries(&mut probe, "repo_backfill").await.len();
            let rows = count(
                &pool,
                "SELECT (SELECT count(*) FROM post) + (SELECT count(*) FROM label) \
                 + (SELECT count(*) FROM actor WHERE handle IS NOT NULL)",
            )
            .await?;
            Ok((left == 0 && dead == 2 && queued == 1 && rows == 4).then_some(()))
        }
    })
    .await?;
    stop(task, cancel).await;

    assert_eq!(count(&pool, "SELECT count(*) FROM post").await?, 2);
    let handle: Option<String> = sqlx::query_scalar("SELECT handle FROM actor WHERE did = $1")
        .bind(ALICE)
        .fetch_one(&pool)
        .await?;
    assert_eq!(handle.as_deref(), Some("alice.test"));
    assert_eq!(count(&pool, "SELECT count(*) FROM label").await?, 1);
    let queued = entries(&mut probe, "repo_backfill").await;
    assert_eq!(queued.len(), 1);
    let repo = &queued[0].1;
    assert!(
        repo.iter().any(|(k, v)| k == "repo" && v.contains(ALICE)),
        "{repo:?}"
    );
    let dead = entries(&mut probe, "firehose_live_dlq").await;
    let reasons: Vec<&str> = dead
        .iter()
        .flat_map(|(_, f)| {
            f.iter()
                .filter(|(k, _)| k == "reason")
                .map(|(_, v)| v.as_str())
        })
        .collect();
    assert!(reasons.iter().any(|r| r.starts_with("rev")), "{reasons:?}");
    Ok(())
}
