//! The reference PDS's real output end to end: the 30 repos of `fixtures/realpds/` as
//! backfill events and its `firehose.frames` as live events, in both orders. Either way, the
//! active repos end with exactly the records the PDS says they hold, per collection, with every
//! typed row and exact aggregates.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::support::indexer::{apply, assert_aggregates_exact, database};
use harness::services::TestPostgres;
use indexer::apply::Change;
use protocol::data_model::cbor_to_json;
use protocol::frames::{Frame, OpAction};
use protocol::repo::{LoadOptions, load_repo};
use sqlx::PgPool;
use streams::payloads::{
    AccountEvent, BACKFILL_SEQ, CommitMarker, IdentityEvent, RecordDelete, RecordWrite, StreamEvent,
};

const FETCHED_AT: &str = "2026-11-27T10:00:00.000Z";

fn fixtures() -> PathBuf {
    testkit::fixture("realpds")
}

/// Every repo as backfill events (records, then the `repo` marker), one list per repo.
async fn backfill() -> anyhow::Result<Vec<Vec<Change>>> {
    let mut repos = Vec::new();
    for entry in std::fs::read_dir(fixtures().join("repos"))? {
        let path = entry?.path();
        let Some(did) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .map(|s| s.replace('_', ":"))
        else {
            continue;
        };
        let file = tokio::io::BufReader::new(tokio::fs::File::open(&path).await?);
        let repo = load_repo(file, &did, None, &LoadOptions::default()).await?;
        let commit = repo.commit_cid().to_string();
        let rev = repo.commit().rev.clone();
        let mut events = Vec::new();
        for record in repo.records() {
            let record = record?;
            events.push(Change::Event(StreamEvent::Create(RecordWrite {
                seq: BACKFILL_SEQ,
                time: FETCHED_AT.into(),
                did: did.clone(),
                commit: commit.clone(),
                rev: rev.clone(),
                collection: record.collection.clone(),
                rkey: record.rkey.clone(),
                cid: record.cid.to_string(),
                record: cbor_to_json(&record.bytes)?,
            })));
        }
        events.push(Change::Event(StreamEvent::Repo(CommitMarker {
            seq: BACKFILL_SEQ,
            time: FETCHED_AT.into(),
            did: did.clone(),
            commit,
            rev,
        })));
        repos.push(events);
    }
    Ok(repos)
}

/// Every firehose frame as live events, in stream order.
fn live() -> anyhow::Result<Vec<Change>> {
    let bytes = std::fs::read(fixtures().join("firehose.frames"))?;
    let mut rest: &[u8] = &bytes;
    let mut events = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        anyhow::ensure!(tail.len() >= len, "truncated frame");
        let (frame, tail) = tail.split_at(len);
        rest = tail;
        match Frame::decode(frame)? {
            Frame::Commit(c) => {
                let (did, commit, rev) =
                    (c.repo.to_string(), c.commit.to_string(), c.rev.to_string());
                let time = c.time.normalized();
                for op in c.resolve_ops()? {
                    let (collection, rkey) = (op.collection.to_string(), op.rkey.to_string());
                    let event = match (op.action, op.cid, op.record) {
                        (OpAction::Delete, _, _) => StreamEvent::Delete(RecordDelete {
                            seq: c.seq,
                            time: time.clone(),
                            did: did.clone(),
                            commit: commit.clone(),
                            rev: rev.clone(),
                            collection,
                            rkey,
                        }),
                        (action, Some(cid), Some(record)) => {
                            let write = RecordWrite {
                                seq: c.seq,
                                time: time.clone(),
                                did: did.clone(),
                                commit: commit.clone(),
                                rev: rev.clone(),
                                collection,
                                rkey,
                                cid: cid.to_string(),
                                record: cbor_to_json(&record)?,
                            };
                            if action == OpAction::Create {
                                StreamEvent::Create(write)
                            } else {
                                StreamEvent::Update(write)
                            }
                        }
                        _ => anyhow::bail!("op without its record in frame {}", c.seq),
                    };
                    events.push(Change::Event(event));
                }
            }
            Frame::Identity(i) => {
                events.push(Change::Event(StreamEvent::Identity(IdentityEvent {
                    seq: i.seq,
                    time: i.time.normalized(),
                    did: i.did.to_string(),
                    handle: i.handle.map(|h| h.to_string()),
                })))
            }
            Frame::Account(a) => events.push(Change::Event(StreamEvent::Account(AccountEvent {
                seq: a.seq,
                time: a.time.normalized(),
                did: a.did.to_string(),
                active: a.active,
                status: a.status,
            }))),
            Frame::Sync(s) => events.push(Change::Event(StreamEvent::Sync(CommitMarker {
                seq: s.seq,
                time: s.time.normalized(),
                did: s.did.to_string(),
                commit: String::from("bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm"),
                rev: s.rev.to_string(),
            }))),
            _ => {}
        }
    }
    Ok(events)
}

/// `(did, collection) → count` of `record` rows, and the same from `expected.json`.
async fn compare(pool: &PgPool) -> anyhow::Result<()> {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected.json"))?)?;
    let by_repo = expected["byRepo"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("expected.json has no byRepo"))?;
    let mut want: BTreeMap<(String, String), i64> = BTreeMap::new();
    let mut active: Vec<String> = Vec::new();
    for (did, repo) in by_repo {
        if repo["active"] != serde_json::Value::Bool(true) {
            continue;
        }
        active.push(did.clone());
        for (collection, n) in repo["collections"].as_object().into_iter().flatten() {
            want.insert((did.clone(), collection.clone()), n.as_i64().unwrap_or(-1));
        }
    }
    assert_eq!(active.len(), 30);
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT did, split_part(uri, '/', 4), count(*) FROM record WHERE did = ANY($1) \
         GROUP BY 1, 2",
    )
    .bind(&active)
    .fetch_all(pool)
    .await?;
    let got: BTreeMap<(String, String), i64> =
        rows.into_iter().map(|(d, c, n)| ((d, c), n)).collect();
    assert_eq!(got, want);

    // Typed rows: every record of an indexed collection has its row (or is a duplicate).
    let per_collection = |c: &str| -> i64 {
        want.iter()
            .filter(|((_, col), _)| col == c)
            .map(|(_, n)| n)
            .sum()
    };
    for (collection, table) in [
        ("app.bsky.feed.post", "post"),
        ("app.bsky.feed.like", "\"like\""),
        ("app.bsky.feed.repost", "repost"),
        ("app.bsky.graph.follow", "follow"),
        ("app.bsky.graph.block", "actor_block"),
        ("app.bsky.graph.list", "list"),
        ("app.bsky.graph.listitem", "list_item"),
        ("app.bsky.actor.profile", "profile"),
        ("app.bsky.feed.generator", "feed_generator"),
    ] {
        let sql = format!(
            "SELECT (SELECT count(*) FROM {table} t WHERE split_part(t.uri, '/', 3) = ANY($1)) \
                  + (SELECT count(*) FROM duplicate_record d \
                     WHERE split_part(d.uri, '/', 3) = ANY($1) AND split_part(d.uri, '/', 4) = $2)"
        );
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(&active)
            .bind(collection)
            .fetch_one(pool)
            .await?;
        assert_eq!(n, per_collection(collection), "{collection}");
    }
    // Every active repo's sync state is its head.
    for did in &active {
        let rev: Option<String> =
            sqlx::query_scalar(r#"SELECT "repoRev" FROM actor_sync WHERE did = $1"#)
                .bind(did)
                .fetch_one(pool)
                .await?;
        assert_eq!(rev.as_deref(), by_repo[did]["rev"].as_str(), "{did}");
    }
    assert_aggregates_exact(pool).await
}

async fn apply_all(
    pool: &PgPool,
    batches: impl IntoIterator<Item = Vec<Change>>,
) -> anyhow::Result<()> {
    for batch in batches {
        apply(pool, &batch).await?;
    }
    Ok(())
}

#[tokio::test]
async fn backfill_then_live_and_live_then_backfill_both_end_as_the_pds() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let repos = backfill().await?;
    let live = live()?;
    assert!(live.len() > 1000, "{} live events", live.len());
    let live_batches = || live.chunks(50).map(<[Change]>::to_vec).collect::<Vec<_>>();
    let backfill_batches = || {
        repos
            .iter()
            .flat_map(|r| r.chunks(200).map(<[Change]>::to_vec))
            .collect::<Vec<_>>()
    };

    let backfill_first = database(&pg).await?;
    apply_all(&backfill_first, backfill_batches()).await?;
    apply_all(&backfill_first, live_batches()).await?;
    compare(&backfill_first).await?;

    let live_first = database(&pg).await?;
    apply_all(&live_first, live_batches()).await?;
    apply_all(&live_first, backfill_batches()).await?;
    compare(&live_first).await?;
    Ok(())
}
