//! Random interleavings of live and backfill events for the same records, in random batches,
//! with replays, end equal to a simple in-test oracle: the repos' final state, with exact
//! aggregates computed from it.

use std::collections::{BTreeMap, BTreeSet};

use crate::support::indexer::*;
use harness::services::TestPostgres;
use indexer::apply::Change;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use protocol::data_model::cid_for_raw;
use serde_json::Value;
use sqlx::PgPool;

const DIDS: [&str; 2] = ["did:plc:alice", "did:plc:bob"];
const OUTSIDER: &str = "did:plc:carol";
const POST: &str = "app.bsky.feed.post";
const LIKE: &str = "app.bsky.feed.like";
const FOLLOW: &str = "app.bsky.graph.follow";

/// Record paths per repo: (collection, rkey).
const PATHS: [(&str, &str); 7] = [
    (POST, "p0"),
    (POST, "p1"),
    (LIKE, "l0"),
    (LIKE, "l1"),
    (LIKE, "l2"),
    (FOLLOW, "f0"),
    (FOLLOW, "f1"),
];

/// Posts that can be liked or replied to: one outside the repos, one inside.
fn subjects() -> [String; 2] {
    [uri(OUTSIDER, POST, "x"), uri(DIDS[0], POST, "p0")]
}

/// One version of a record: its JSON and CID.
fn version(collection: &str, choice: u8, n: u32) -> (Value, String) {
    let subjects = subjects();
    let subject = &subjects[usize::from(choice % 2)];
    let record = match collection {
        POST if choice.is_multiple_of(3) => reply(&format!("reply {n}"), subject),
        POST => post(&format!("post {n}")),
        LIKE => like(LIKE, subject),
        _ => follow(
            FOLLOW,
            if choice.is_multiple_of(2) {
                OUTSIDER
            } else {
                DIDS[1]
            },
        ),
    };
    let cid = cid_for_raw(record.to_string().as_bytes()).to_string();
    (record, cid)
}

/// A generated scenario.
#[derive(Debug, Clone)]
struct Scenario {
    /// Commits: (repo, path, content choice).
    commits: Vec<(usize, usize, u8)>,
    /// Backfill snapshots: (repo, after how many of that repo's commits, insertion point 0..=1).
    snapshots: Vec<(usize, usize, f64)>,
    /// Batch sizes used to cut the merged stream.
    batches: Vec<usize>,
    /// Replay a prefix of this fraction of the stream at the end.
    replay: f64,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::vec((0..2usize, 0..PATHS.len(), any::<u8>()), 1..30),
        prop::collection::vec((0..2usize, 0..30usize, 0.0..=1.0f64), 0..3),
        prop::collection::vec(1..6usize, 1..20),
        0.0..=1.0f64,
    )
        .prop_map(|(commits, snapshots, batches, replay)| Scenario {
            commits,
            snapshots,
            batches,
            replay,
        })
}

/// The live record at a path: (rev, cid, record).
type State = BTreeMap<(usize, usize), (u32, String, Value)>;

/// Builds the event stream and the final state.
fn build(s: &Scenario) -> (Vec<Change>, State) {
    let mut state: State = BTreeMap::new();
    let mut live: Vec<Change> = Vec::new();
    // (repo, number of commits so far) → snapshot events.
    let mut snapshots_at: Vec<(usize, usize, Vec<Change>)> = Vec::new();
    let mut per_repo = [0usize; 2];
    let mut record_snapshots = |state: &State, repo: usize, done: usize, rev: u32| {
        for (r, after, _) in &s.snapshots {
            if *r == repo && *after == done {
                let mut events: Vec<Change> = state
                    .iter()
                    .filter(|((sr, _), _)| *sr == repo)
                    .map(|((_, p), (_, cid, record))| {
                        let (collection, rkey) = PATHS[*p];
                        write(
                            -1,
                            false,
                            DIDS[repo],
                            collection,
                            rkey,
                            rev,
                            cid,
                            record.clone(),
                        )
                    })
                    .collect();
                events.push(repo_done(DIDS[repo], rev));
                snapshots_at.push((repo, done, events));
            }
        }
    };
    record_snapshots(&state, 0, 0, 0);
    record_snapshots(&state, 1, 0, 0);
    for (n, &(repo, path, choice)) in s.commits.iter().enumerate() {
        let rev = n as u32 + 1;
        let (collection, rkey) = PATHS[path];
        let seq = n as i64 + 1;
        let did = DIDS[repo];
        match state.get(&(repo, path)) {
            None => {
                let (record, cid) = version(collection, choice, rev);
                live.push(write(
                    seq,
                    false,
                    did,
                    collection,
                    rkey,
                    rev,
                    &cid,
                    record.clone(),
                ));
                state.insert((repo, path), (rev, cid, record));
            }
            // Posts may be edited; likes and follows are only ever created and deleted.
            Some(_) if collection == POST && choice.is_multiple_of(2) => {
                let (record, cid) = version(collection, choice, rev);
                live.push(write(
                    seq,
                    true,
                    did,
                    collection,
                    rkey,
                    rev,
                    &cid,
                    record.clone(),
                ));
                state.insert((repo, path), (rev, cid, record));
            }
            Some(_) => {
                live.push(delete(seq, did, collection, rkey, rev));
                state.remove(&(repo, path));
            }
        }
        per_repo[repo] += 1;
        record_snapshots(&state, repo, per_repo[repo], rev);
    }
    // Insert each snapshot somewhere in the live stream (late or early), contiguously.
    let mut stream: Vec<Change> = live;
    for (i, (_, _, events)) in snapshots_at.into_iter().enumerate() {
        let at = s.snapshots.get(i).map_or(0.0, |(_, _, f)| *f);
        let pos = ((stream.len() as f64) * at).round() as usize;
        let tail = stream.split_off(pos.min(stream.len()));
        stream.extend(events);
        stream.extend(tail);
    }
    (stream, state)
}

async fn reset(pool: &PgPool) -> anyhow::Result<()> {
    let sql = format!("TRUNCATE {}", TABLES.join(", "));
    sqlx::query(sqlx::AssertSqlSafe(sql)).execute(pool).await?;
    Ok(())
}

async fn check(pool: &PgPool, s: &Scenario) -> anyhow::Result<()> {
    reset(pool).await?;
    let (stream, state) = build(s);
    let mut rest: &[Change] = &stream;
    let mut sizes = s.batches.iter().cycle();
    while !rest.is_empty() {
        let n = sizes.next().copied().unwrap_or(1).min(rest.len());
        let (batch, tail) = rest.split_at(n);
        apply(pool, batch).await?;
        rest = tail;
    }
    let replayed = ((stream.len() as f64) * s.replay) as usize;
    apply(pool, &stream[..replayed.min(stream.len())]).await?;

    // `record` holds exactly the final state.
    let want: BTreeSet<(String, String)> = state
        .iter()
        .map(|((repo, path), (_, cid, _))| {
            let (collection, rkey) = PATHS[*path];
            (uri(DIDS[*repo], collection, rkey), cid.clone())
        })
        .collect();
    let got: BTreeSet<(String, String)> = sqlx::query_as("SELECT uri, cid FROM record")
        .fetch_all(pool)
        .await?
        .into_iter()
        .collect();
    anyhow::ensure!(got == want, "record rows: got {got:?}, want {want:?}");

    // Typed rows: every live post; one like/follow per (author, subject), the rest duplicates.
    let posts = state.keys().filter(|(_, p)| PATHS[*p].0 == POST).count() as i64;
    anyhow::ensure!(
        count(pool, "SELECT count(*) FROM post").await? == posts,
        "post rows"
    );
    let mut likes: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut follows: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    let mut replies: BTreeMap<String, i64> = BTreeMap::new();
    let mut posts_by: BTreeMap<usize, i64> = BTreeMap::new();
    for ((repo, path), (_, _, record)) in &state {
        let subject_uri = record
            .pointer("/subject/uri")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match PATHS[*path].0 {
            LIKE => {
                likes
                    .entry(subject_uri.unwrap_or_default())
                    .or_default()
                    .insert(*repo);
            }
            FOLLOW => {
                let subject = record
                    .get("subject")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                follows.entry(subject.to_owned()).or_default().insert(*repo);
            }
            _ => {
                *posts_by.entry(*repo).or_default() += 1;
                if let Some(parent) = record.pointer("/reply/parent/uri").and_then(Value::as_str) {
                    *replies.entry(parent.to_owned()).or_default() += 1;
                }
            }
        }
    }
    for subject in subjects() {
        let (like_count, reply_count): (i64, i64) = sqlx::query_as(
            r#"SELECT coalesce(max("likeCount"), 0), coalesce(max("replyCount"), 0)
               FROM post_agg WHERE uri = $1"#,
        )
        .bind(&subject)
        .fetch_one(pool)
        .await?;
        let want_likes = likes.get(&subject).map_or(0, |s| s.len() as i64);
        let want_replies = replies.get(&subject).copied().unwrap_or(0);
        anyhow::ensure!(
            (like_count, reply_count) == (want_likes, want_replies),
            "post_agg of {subject}: got likes {like_count} replies {reply_count}, \
             want {want_likes} {want_replies}"
        );
    }
    for (i, did) in DIDS.iter().chain([&OUTSIDER]).enumerate() {
        let (followers, follows_n, posts_n): (i64, i64, i64) = sqlx::query_as(
            r#"SELECT coalesce(max("followersCount"), 0), coalesce(max("followsCount"), 0),
                      coalesce(max("postsCount"), 0) FROM profile_agg WHERE did = $1"#,
        )
        .bind(did)
        .fetch_one(pool)
        .await?;
        let want_followers = follows.get(*did).map_or(0, |s| s.len() as i64);
        let want_follows = follows.values().filter(|s| s.contains(&i)).count() as i64;
        let want_posts = posts_by.get(&i).copied().unwrap_or(0);
        anyhow::ensure!(
            (followers, follows_n, posts_n) == (want_followers, want_follows, want_posts),
            "profile_agg of {did}: got {:?}, want {:?}",
            (followers, follows_n, posts_n),
            (want_followers, want_follows, want_posts)
        );
    }
    let typed_likes = count(pool, r#"SELECT count(*) FROM "like""#).await?;
    let dup_likes = count(
        pool,
        "SELECT count(*) FROM duplicate_record WHERE uri LIKE '%/app.bsky.feed.like/%'",
    )
    .await?;
    let live_likes = state.keys().filter(|(_, p)| PATHS[*p].0 == LIKE).count() as i64;
    anyhow::ensure!(
        typed_likes + dup_likes == live_likes,
        "likes {typed_likes} + duplicates {dup_likes} != {live_likes}"
    );
    assert_aggregates_exact(pool).await
}

#[test]
fn random_interleavings_of_live_and_backfill_end_as_the_oracle_says() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let pg = rt.block_on(TestPostgres::start())?;
    let pool = rt.block_on(database(&pg))?;
    let mut runner = TestRunner::new(Config {
        cases: 48,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&scenario(), |s| {
        rt.block_on(check(&pool, &s))
            .map_err(|e| TestCaseError::fail(format!("{e:#}")))
    });
    if let Err(e) = result {
        anyhow::bail!("{e}");
    }
    Ok(())
}
