//! The indexer's write path against a real PostgreSQL: each test breaks one rule of
//! `docs/schema-notes.md` if the writer does.

use std::time::Duration;

use crate::support::indexer::*;
use harness::services::{TestPostgres, wait_until};
use indexer::apply::{Change, Effect, HandleChange, apply_isolated};
use indexer::records::InvalidReason;
use serde_json::json;
use streams::payloads::{Label, LabelsEntry};

const ALICE: &str = "did:plc:alice";
const BOB: &str = "did:plc:bob";
const CAROL: &str = "did:plc:carol";
const POST: &str = "app.bsky.feed.post";
const LIKE: &str = "app.bsky.feed.like";
const FOLLOW: &str = "app.bsky.graph.follow";
/// How long a test waits for a condition.
const WAIT: Duration = Duration::from_secs(30);

fn story() -> Vec<Change> {
    let bob_post = uri(BOB, POST, "p1");
    vec![
        write(1, false, BOB, POST, "p1", 1, CID, post("hello")),
        write(2, false, ALICE, LIKE, "l1", 1, CID, like(LIKE, &bob_post)),
        write(3, false, ALICE, LIKE, "l2", 2, CID, like(LIKE, &bob_post)),
        write(
            4,
            false,
            CAROL,
            POST,
            "r1",
            1,
            CID,
            reply("hi bob", &bob_post),
        ),
        write(5, false, ALICE, FOLLOW, "f1", 3, CID, follow(FOLLOW, BOB)),
        write(-1, false, CAROL, FOLLOW, "f1", 2, CID, follow(FOLLOW, BOB)),
        write(6, true, BOB, POST, "p1", 2, CID2, post("hello, edited")),
        delete(7, ALICE, LIKE, "l1", 4),
        write(
            8,
            false,
            BOB,
            "app.bsky.actor.profile",
            "self",
            3,
            CID,
            profile("Bob"),
        ),
        repo_done(CAROL, 2),
    ]
}

#[tokio::test]
async fn replaying_any_prefix_leaves_the_database_as_applying_it_once() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let events = story();
    apply(&pool, &events).await?;
    let once = snapshot(&pool).await?;
    assert_aggregates_exact(&pool).await?;
    for prefix in [3, events.len()] {
        let outcomes = apply(&pool, &events[..prefix]).await?;
        // Record events are recognised as replays (the closing `repo` marker is always applied).
        assert!(
            !outcomes.iter().take(9).any(|o| *o == Effect::Applied),
            "{outcomes:?}"
        );
        assert_eq!(
            snapshot(&pool).await?,
            once,
            "after replaying {prefix} events"
        );
    }
    // One event per batch, in order, ends the same as the whole batch at once.
    let one_by_one = database(&pg).await?;
    for event in &events {
        apply(&one_by_one, std::slice::from_ref(event)).await?;
    }
    assert_eq!(snapshot(&one_by_one).await?, once);
    // Notifications: like → bob, reply → bob, follow → bob (live only: carol's follow is backfill).
    let reasons: Vec<(String, String)> =
        sqlx::query_as("SELECT did, reason FROM notification ORDER BY reason")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        reasons,
        vec![(BOB.into(), "follow".into()), (BOB.into(), "reply".into())],
        "the like that notified was deleted with its notification; l2 is a duplicate"
    );
    Ok(())
}

#[tokio::test]
async fn a_late_backfill_never_brings_back_deleted_or_older_content() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let bob_post = uri(BOB, POST, "p1");
    apply(
        &pool,
        &[
            write(1, false, BOB, POST, "p1", 1, CID, post("v1")),
            write(2, false, ALICE, LIKE, "l1", 1, CID, like(LIKE, &bob_post)),
            write(3, true, BOB, POST, "p1", 5, CID2, post("v2")),
            delete(4, ALICE, LIKE, "l1", 5),
        ],
    )
    .await?;
    let live = snapshot(&pool).await?;
    // A backfill snapshot fetched before those live events.
    let outcomes = apply(
        &pool,
        &[
            write(-1, false, BOB, POST, "p1", 3, CID, post("v1")),
            write(-1, false, ALICE, LIKE, "l1", 3, CID, like(LIKE, &bob_post)),
        ],
    )
    .await?;
    assert_eq!(outcomes, vec![Effect::Stale, Effect::Stale]);
    assert_eq!(snapshot(&pool).await?, live);
    let text: String = sqlx::query_scalar("SELECT text FROM post")
        .fetch_one(&pool)
        .await?;
    assert_eq!(text, "v2");
    assert_eq!(count(&pool, r#"SELECT count(*) FROM "like""#).await?, 0);
    // A newer write after the delete does recreate the record.
    let outcomes = apply(
        &pool,
        &[write(
            9,
            false,
            ALICE,
            LIKE,
            "l1",
            9,
            CID,
            like(LIKE, &bob_post),
        )],
    )
    .await?;
    assert_eq!(outcomes, vec![Effect::Applied]);
    assert_eq!(count(&pool, r#"SELECT count(*) FROM "like""#).await?, 1);
    assert_aggregates_exact(&pool).await
}

#[tokio::test]
async fn an_update_replaces_the_typed_rows_of_the_previous_version() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let p1 = uri(BOB, POST, "p1");
    let quoted = uri(CAROL, POST, "q");
    let with_embed = json!({"$type": POST, "text": "v1", "createdAt": "2026-11-27T09:00:00Z",
        "embed": {"$type": "app.bsky.embed.record", "record": {"uri": quoted, "cid": CID}}});
    apply(
        &pool,
        &[write(1, false, BOB, POST, "p1", 1, CID, with_embed)],
    )
    .await?;
    assert_eq!(count(&pool, "SELECT count(*) FROM quote").await?, 1);
    apply(
        &pool,
        &[write(
            2,
            true,
            BOB,
            POST,
            "p1",
            2,
            CID2,
            reply("v2", &quoted),
        )],
    )
    .await?;
    let (text, parent, cid): (String, Option<String>, String) =
        sqlx::query_as(r#"SELECT text, "replyParent", cid FROM post"#)
            .fetch_one(&pool)
            .await?;
    assert_eq!(
        (text.as_str(), parent.as_deref(), cid.as_str()),
        ("v2", Some(quoted.as_str()), CID2)
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM quote").await?, 0);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM post_embed_record").await?,
        0
    );
    let (quotes, replies): (i64, i64) =
        sqlx::query_as(r#"SELECT "quoteCount", "replyCount" FROM post_agg WHERE uri = $1"#)
            .bind(&quoted)
            .fetch_one(&pool)
            .await?;
    assert_eq!((quotes, replies), (0, 1));
    let json: String = sqlx::query_scalar("SELECT json FROM record WHERE uri = $1")
        .bind(&p1)
        .fetch_one(&pool)
        .await?;
    assert!(json.contains("v2"), "{json}");
    assert_aggregates_exact(&pool).await
}

#[tokio::test]
async fn deleting_an_original_promotes_the_oldest_duplicate() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let subject = uri(BOB, POST, "p1");
    apply(
        &pool,
        &[
            write(1, false, ALICE, LIKE, "a", 1, CID, like(LIKE, &subject)),
            write(2, false, ALICE, LIKE, "b", 2, CID, like(LIKE, &subject)),
            write(3, false, ALICE, LIKE, "c", 3, CID, like(LIKE, &subject)),
            write(4, false, ALICE, FOLLOW, "f1", 4, CID, follow(FOLLOW, BOB)),
            write(5, false, ALICE, FOLLOW, "f2", 5, CID, follow(FOLLOW, BOB)),
        ],
    )
    .await?;
    // A duplicate in a later batch meets its original in the table, not in the batch.
    apply(
        &pool,
        &[write(
            8,
            false,
            ALICE,
            LIKE,
            "d",
            8,
            CID,
            like(LIKE, &subject),
        )],
    )
    .await?;
    let dups: Vec<(String, String)> =
        sqlx::query_as(r#"SELECT uri, "duplicateOf" FROM duplicate_record ORDER BY uri"#)
            .fetch_all(&pool)
            .await?;
    let a = uri(ALICE, LIKE, "a");
    assert_eq!(
        dups,
        vec![
            (uri(ALICE, LIKE, "b"), a.clone()),
            (uri(ALICE, LIKE, "c"), a.clone()),
            (uri(ALICE, LIKE, "d"), a.clone()),
            (uri(ALICE, FOLLOW, "f2"), uri(ALICE, FOLLOW, "f1")),
        ]
    );
    apply(
        &pool,
        &[
            delete(6, ALICE, LIKE, "a", 6),
            delete(7, ALICE, FOLLOW, "f1", 7),
        ],
    )
    .await?;
    let likes: Vec<(String,)> = sqlx::query_as(r#"SELECT uri FROM "like""#)
        .fetch_all(&pool)
        .await?;
    assert_eq!(likes, vec![(uri(ALICE, LIKE, "b"),)]);
    let follows: Vec<(String,)> = sqlx::query_as("SELECT uri FROM follow")
        .fetch_all(&pool)
        .await?;
    assert_eq!(follows, vec![(uri(ALICE, FOLLOW, "f2"),)]);
    let dups: Vec<(String, String)> =
        sqlx::query_as(r#"SELECT uri, "duplicateOf" FROM duplicate_record ORDER BY uri"#)
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        dups,
        vec![
            (uri(ALICE, LIKE, "c"), uri(ALICE, LIKE, "b")),
            (uri(ALICE, LIKE, "d"), uri(ALICE, LIKE, "b")),
        ]
    );
    let likes: i64 = sqlx::query_scalar(r#"SELECT "likeCount" FROM post_agg WHERE uri = $1"#)
        .bind(&subject)
        .fetch_one(&pool)
        .await?;
    assert_eq!(likes, 1);
    assert_aggregates_exact(&pool).await
}

#[tokio::test]
async fn a_new_repo_is_probed_again_once_its_first_round_is_written() -> anyhow::Result<()> {
    // Alice has nothing stored, so her first round skips the reads and the duplicate probes.
    // Her batch has a second round (`b` is deleted, then written again); by then her first
    // round's like of the post is stored, and `b`, a like of the same post, must be found a
    // duplicate of it (a plain insert would break the unique constraint and fail the batch).
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let subject = uri(BOB, POST, "p1");
    let outcomes = apply(
        &pool,
        &[
            delete(1, ALICE, LIKE, "b", 1),
            write(2, false, ALICE, LIKE, "a", 2, CID, like(LIKE, &subject)),
            write(3, false, ALICE, LIKE, "b", 3, CID, like(LIKE, &subject)),
        ],
    )
    .await?;
    assert_eq!(outcomes, vec![Effect::Applied; 3]);
    let likes: Vec<(String,)> = sqlx::query_as(r#"SELECT uri FROM "like""#)
        .fetch_all(&pool)
        .await?;
    assert_eq!(likes, vec![(uri(ALICE, LIKE, "a"),)]);
    let dups: Vec<(String, String)> =
        sqlx::query_as(r#"SELECT uri, "duplicateOf" FROM duplicate_record"#)
            .fetch_all(&pool)
            .await?;
    assert_eq!(dups, vec![(uri(ALICE, LIKE, "b"), uri(ALICE, LIKE, "a"))]);
    // A later snapshot of a repo with rows stored is read: an identical record is unchanged.
    let outcomes = apply(
        &pool,
        &[write(
            -1,
            false,
            ALICE,
            LIKE,
            "a",
            2,
            CID,
            like(LIKE, &subject),
        )],
    )
    .await?;
    assert_eq!(outcomes, vec![Effect::Unchanged]);
    // A new repo deleted in its first round is read again: its later write is stale.
    let outcomes = apply(
        &pool,
        &[
            account(4, CAROL, false, Some("deleted")),
            write(5, false, CAROL, LIKE, "c", 5, CID, like(LIKE, &subject)),
        ],
    )
    .await?;
    assert_eq!(outcomes, vec![Effect::Applied, Effect::Stale]);
    assert_aggregates_exact(&pool).await
}

#[tokio::test]
async fn a_deleted_account_loses_everything_and_a_late_backfill_cannot_restore_it()
-> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let bob_post = uri(BOB, POST, "p1");
    let alice_post = uri(ALICE, POST, "a1");
    let alice_events = vec![
        write(-1, false, ALICE, POST, "a1", 1, CID, post("mine")),
        write(-1, false, ALICE, LIKE, "l1", 2, CID, like(LIKE, &bob_post)),
        write(-1, false, ALICE, LIKE, "l2", 3, CID, like(LIKE, &bob_post)),
        write(-1, false, ALICE, FOLLOW, "f1", 4, CID, follow(FOLLOW, BOB)),
        write(
            -1,
            false,
            ALICE,
            "app.bsky.actor.profile",
            "self",
            5,
            CID,
            profile("A"),
        ),
        write(
            -1,
            false,
            ALICE,
            "com.example.other",
            "x",
            6,
            CID,
            json!({"a": 1}),
        ),
        repo_done(ALICE, 6),
    ];
    apply(&pool, &alice_events).await?;
    apply(
        &pool,
        &[
            write(1, false, BOB, POST, "p1", 1, CID, post("bob")),
            write(2, false, BOB, LIKE, "l1", 2, CID, like(LIKE, &alice_post)),
            write(3, false, BOB, FOLLOW, "f1", 3, CID, follow(FOLLOW, ALICE)),
        ],
    )
    .await?;
    let before_bob = count(
        &pool,
        "SELECT count(*) FROM record WHERE did = 'did:plc:bob'",
    )
    .await?;
    apply(&pool, &[account(4, ALICE, false, Some("deleted"))]).await?;

    let authored = count(
        &pool,
        r#"SELECT (SELECT count(*) FROM record WHERE did = 'did:plc:alice')
                + (SELECT count(*) FROM post WHERE creator = 'did:plc:alice')
                + (SELECT count(*) FROM "like" WHERE creator = 'did:plc:alice')
                + (SELECT count(*) FROM follow WHERE creator = 'did:plc:alice')
                + (SELECT count(*) FROM profile WHERE creator = 'did:plc:alice')
                + (SELECT count(*) FROM feed_item WHERE "originatorDid" = 'did:plc:alice')
                + (SELECT count(*) FROM duplicate_record WHERE uri LIKE 'at://did:plc:alice/%')
                + (SELECT count(*) FROM actor WHERE did = 'did:plc:alice')
                + (SELECT count(*) FROM actor_sync WHERE did = 'did:plc:alice')"#,
    )
    .await?;
    assert_eq!(authored, 0);
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM record WHERE did = 'did:plc:bob'"
        )
        .await?,
        before_bob
    );
    assert_aggregates_exact(&pool).await?;
    let deleted = snapshot(&pool).await?;

    // The backfill of alice's repo arrives late: nothing comes back.
    let outcomes = apply(&pool, &alice_events).await?;
    assert!(
        outcomes[..6].iter().all(|o| *o == Effect::Stale),
        "{outcomes:?}"
    );
    assert_eq!(snapshot(&pool).await?, deleted);

    // The account comes back (active again): new writes apply.
    apply(&pool, &[account(5, ALICE, true, None)]).await?;
    let outcomes = apply(
        &pool,
        &[write(6, false, ALICE, POST, "a2", 9, CID, post("back"))],
    )
    .await?;
    assert_eq!(outcomes, vec![Effect::Applied]);
    assert_aggregates_exact(&pool).await
}

#[tokio::test]
async fn account_status_and_handles() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    apply(&pool, &[account(1, ALICE, false, Some("takendown"))]).await?;
    let status: Option<String> =
        sqlx::query_scalar(r#"SELECT "upstreamStatus" FROM actor WHERE did = $1"#)
            .bind(ALICE)
            .fetch_one(&pool)
            .await?;
    assert_eq!(status.as_deref(), Some("takendown"));
    apply(&pool, &[account(2, ALICE, true, None)]).await?;
    let status: Option<String> =
        sqlx::query_scalar(r#"SELECT "upstreamStatus" FROM actor WHERE did = $1"#)
            .bind(ALICE)
            .fetch_one(&pool)
            .await?;
    assert_eq!(status, None);

    let handle = |did: &str, h: Option<&str>| {
        Change::Handle(HandleChange {
            did: did.into(),
            handle: h.map(str::to_owned),
            time: TIME.into(),
        })
    };
    apply(&pool, &[handle(ALICE, Some("Alice.Test"))]).await?;
    apply(&pool, &[handle(BOB, Some("alice.test"))]).await?;
    let handles: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT did, handle FROM actor ORDER BY did")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        handles,
        vec![
            (ALICE.into(), None),
            (BOB.into(), Some("alice.test".into()))
        ]
    );
    Ok(())
}

#[tokio::test]
async fn labels_are_negated_and_lose_nul() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let label = |val: &str, neg: bool, cts: &str, cid: Option<&str>| Label {
        ver: 1,
        src: "did:plc:labeler".into(),
        uri: uri(ALICE, POST, "p1"),
        cid: cid.map(str::to_owned),
        val: val.into(),
        neg: neg.then_some(true),
        cts: cts.into(),
        exp: Some("2027-01-01T00:00:00Z".into()),
        sig: None,
    };
    let labels = |labels| Change::Labels(LabelsEntry { seq: 1, labels });
    apply(
        &pool,
        &[labels(vec![
            label("sp\u{0}am", false, "2026-01-01T00:00:00Z", None),
            label("nudity", false, "2026-01-01T00:00:00Z", Some(CID)),
            label("gore", false, "2026-01-01T00:00:00Z", None),
        ])],
    )
    .await?;
    let rows: Vec<(String, String, Option<String>)> =
        sqlx::query_as("SELECT val, cid, exp FROM label ORDER BY val")
            .fetch_all(&pool)
            .await?;
    assert_eq!(
        rows,
        vec![
            (
                "gore".into(),
                String::new(),
                Some("2027-01-01T00:00:00.000Z".into())
            ),
            (
                "nudity".into(),
                CID.into(),
                Some("2027-01-01T00:00:00.000Z".into())
            ),
            (
                "spam".into(),
                String::new(),
                Some("2027-01-01T00:00:00.000Z".into())
            ),
        ]
    );
    // Negate one; a negation older than the label it names changes nothing.
    apply(
        &pool,
        &[labels(vec![
            label("spam", true, "2026-02-01T00:00:00Z", None),
            label("gore", true, "2025-01-01T00:00:00Z", None),
        ])],
    )
    .await?;
    let vals: Vec<(String,)> = sqlx::query_as("SELECT val FROM label ORDER BY val")
        .fetch_all(&pool)
        .await?;
    assert_eq!(vals, vec![("gore".into(),), ("nudity".into(),)]);
    Ok(())
}

#[tokio::test]
async fn a_replayed_label_never_undoes_its_negation() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let label = |val: &str, neg: bool, cts: &str| Label {
        ver: 1,
        src: "did:plc:labeler".into(),
        uri: uri(ALICE, POST, "p1"),
        cid: None,
        val: val.into(),
        neg: neg.then_some(true),
        cts: cts.into(),
        exp: None,
        sig: None,
    };
    let labels = |labels| Change::Labels(LabelsEntry { seq: 1, labels });
    let vals = |pool: sqlx::PgPool| async move {
        let vals: Vec<(String, String)> = sqlx::query_as("SELECT val, cts FROM label ORDER BY val")
            .fetch_all(&pool)
            .await?;
        anyhow::Ok(vals)
    };
    let (jan, feb, mar) = (
        "2026-01-01T00:00:00.000Z",
        "2026-02-01T00:00:00.000Z",
        "2026-03-01T00:00:00.000Z",
    );
    apply(
        &pool,
        &[labels(vec![
            label("spam", false, jan),
            label("gore", false, jan),
        ])],
    )
    .await?;
    apply(&pool, &[labels(vec![label("spam", true, feb)])]).await?;
    let negated = snapshot(&pool).await?;
    // The older positive label replayed alone, then with its negation in one frame in either
    // order, then a negation at the label's own time: nothing comes back.
    apply(&pool, &[labels(vec![label("spam", false, jan)])]).await?;
    assert_eq!(vals(pool.clone()).await?, vec![("gore".into(), jan.into())]);
    apply(
        &pool,
        &[labels(vec![
            label("spam", true, feb),
            label("spam", false, jan),
        ])],
    )
    .await?;
    apply(
        &pool,
        &[
            labels(vec![label("spam", false, jan)]),
            labels(vec![label("spam", true, feb)]),
        ],
    )
    .await?;
    assert_eq!(snapshot(&pool).await?, negated);
    apply(
        &pool,
        &[labels(vec![
            label("gore", true, jan),
            label("gore", false, jan),
        ])],
    )
    .await?;
    assert_eq!(vals(pool.clone()).await?, vec![]);
    // A newer label does come back, and an older negation replayed then changes nothing.
    apply(&pool, &[labels(vec![label("spam", false, mar)])]).await?;
    apply(&pool, &[labels(vec![label("spam", true, feb)])]).await?;
    assert_eq!(vals(pool.clone()).await?, vec![("spam".into(), mar.into())]);
    Ok(())
}

#[tokio::test]
async fn deleting_a_post_removes_the_feed_items_of_its_reposts() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    const REPOST: &str = "app.bsky.feed.repost";
    let bob_post = uri(BOB, POST, "p1");
    let carol_post = uri(CAROL, POST, "p1");
    apply(
        &pool,
        &[
            write(1, false, BOB, POST, "p1", 1, CID, post("hello")),
            write(2, false, CAROL, POST, "p1", 1, CID, post("other")),
            write(
                3,
                false,
                ALICE,
                REPOST,
                "s1",
                1,
                CID,
                like(REPOST, &bob_post),
            ),
            write(
                4,
                false,
                ALICE,
                REPOST,
                "s2",
                2,
                CID,
                like(REPOST, &carol_post),
            ),
        ],
    )
    .await?;
    let items = |pool: sqlx::PgPool| async move {
        let items: Vec<(String, String)> =
            sqlx::query_as(r#"SELECT uri, "postUri" FROM feed_item ORDER BY uri"#)
                .fetch_all(&pool)
                .await?;
        anyhow::Ok(items)
    };
    assert_eq!(items(pool.clone()).await?.len(), 4);
    apply(&pool, &[delete(5, BOB, POST, "p1", 2)]).await?;
    assert_eq!(
        items(pool.clone()).await?,
        vec![
            (uri(ALICE, REPOST, "s2"), carol_post.clone()),
            (carol_post.clone(), carol_post.clone()),
        ],
        "bob's post and alice's repost of it left the feeds; the repost row stays"
    );
    assert_eq!(count(&pool, "SELECT count(*) FROM repost").await?, 2);
    assert_aggregates_exact(&pool).await
}

#[tokio::test]
async fn a_reply_notifies_the_ancestors_the_reference_notifies() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    // A thread a ← b ← c ← d ← e ← f, each post by its own account, each a live event.
    let dids: Vec<String> = "abcdef".chars().map(|c| format!("did:plc:{c}")).collect();
    let uris: Vec<String> = dids.iter().map(|d| uri(d, POST, "p")).collect();
    let mut events = vec![write(1, false, &dids[0], POST, "p", 1, CID, post("a"))];
    for (i, (did, parent)) in dids.iter().skip(1).zip(&uris).enumerate() {
        let record = json!({"$type": POST, "text": "re", "createdAt": "2026-11-27T09:00:00.000Z",
                            "reply": {"root": {"uri": uris[0], "cid": CID},
                                      "parent": {"uri": parent, "cid": CID}}});
        // One batch per post, so each reply finds its ancestors indexed.
        events.push(write(i as i64 + 2, false, did, POST, "p", 1, CID, record));
    }
    for event in &events {
        apply(&pool, std::slice::from_ref(event)).await?;
    }
    let notified: Vec<(String, Option<String>)> = sqlx::query_as(
        r#"SELECT did, "reasonSubject" FROM notification
           WHERE "recordUri" = $1 AND reason = 'reply' ORDER BY did"#,
    )
    .bind(uris.last())
    .fetch_all(&pool)
    .await?;
    // Parent e, the ancestors up to height 4 (d, c, b), and the root a.
    let want: Vec<(String, Option<String>)> = dids
        .iter()
        .zip(&uris)
        .take(5)
        .map(|(d, u)| (d.clone(), Some(u.clone())))
        .collect();
    assert_eq!(notified, want);
    Ok(())
}

#[tokio::test]
async fn bad_records_and_malformed_events_never_block_the_batch() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let bad_like = json!({"$type": LIKE, "subject": {"uri": "nope", "cid": CID},
                          "createdAt": "2026-11-27T09:00:00Z"});
    let mut malformed = write(3, false, ALICE, POST, "x", 3, CID, post("x"));
    if let Change::Event(streams::payloads::StreamEvent::Create(w)) = &mut malformed {
        w.rev = "not-a-tid".into();
    }
    let batch = vec![
        write(1, false, ALICE, POST, "ok1", 1, CID, post("fine\u{0} text")),
        write(2, false, ALICE, LIKE, "bad", 2, CID, bad_like),
        malformed,
        write(4, false, BOB, POST, "ok2", 4, CID, post("also fine")),
    ];
    let outcomes = apply(&pool, &batch).await?;
    assert_eq!(outcomes[0], Effect::Applied);
    assert!(
        matches!(&outcomes[1], Effect::Invalid(e) if e.reason == InvalidReason::BadFormat),
        "{:?}",
        outcomes[1]
    );
    assert!(
        matches!(&outcomes[2], Effect::Malformed(p) if p.starts_with("rev")),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[3], Effect::Applied);
    assert_eq!(count(&pool, "SELECT count(*) FROM post").await?, 2);
    assert_eq!(
        count(&pool, "SELECT count(*) FROM record").await?,
        3,
        "the bad like is stored"
    );
    assert_eq!(count(&pool, r#"SELECT count(*) FROM "like""#).await?, 0);
    let text: String = sqlx::query_scalar("SELECT text FROM post WHERE uri LIKE '%ok1'")
        .fetch_one(&pool)
        .await?;
    assert_eq!(text, "fine text");
    let json: String = sqlx::query_scalar("SELECT json FROM record WHERE uri LIKE '%ok1'")
        .fetch_one(&pool)
        .await?;
    assert!(!json.contains("\\u0000"), "{json}");

    // A change PostgreSQL refuses fails alone: a reply whose parent URI and own URI are too
    // long together for the `post_replyparent_idx` btree entry (incompressible on purpose).
    let mut seed: u64 = 7;
    let mut noise = |n: usize| -> String {
        (0..n)
            .map(|_| {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b"abcdefghijklmnopqrstuvwxyz234567"[(seed >> 59) as usize])
            })
            .collect()
    };
    let parent = format!("at://did:plc:{}/{POST}/{}", noise(2000), noise(500));
    let rkey = noise(500);
    let refused = write(5, false, CAROL, POST, &rkey, 5, CID, reply("long", &parent));
    let verdicts = apply_isolated(
        &pool,
        &[
            write(6, false, CAROL, POST, "fine", 6, CID, post("ok")),
            refused,
        ],
    )
    .await;
    assert!(
        matches!(verdicts[0], indexer::apply::Verdict::Done(Effect::Applied)),
        "{verdicts:?}"
    );
    assert!(
        matches!(
            verdicts[1],
            indexer::apply::Verdict::Failed {
                transient: false,
                ..
            }
        ),
        "{verdicts:?}"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT count(*) FROM post WHERE creator = 'did:plc:carol'"
        )
        .await?,
        1
    );
    Ok(())
}

#[tokio::test]
async fn concurrent_batches_keep_aggregates_exact() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let hot = uri(CAROL, POST, "hot");
    // Many authors like, repost, reply to the same post and follow the same account, in
    // concurrent batches (as concurrent consumer handler calls would).
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..8u32 {
        let pool = pool.clone();
        let hot = hot.clone();
        tasks.spawn(async move {
            for round in 0..5u32 {
                let did = format!("did:plc:w{worker}r{round}");
                let n = worker * 10 + round;
                let batch = vec![
                    write(1, false, &did, LIKE, "l", n, CID, like(LIKE, &hot)),
                    write(
                        2,
                        false,
                        &did,
                        "app.bsky.feed.repost",
                        "r",
                        n + 1,
                        CID,
                        like("app.bsky.feed.repost", &hot),
                    ),
                    write(3, false, &did, POST, "p", n + 2, CID, reply("re", &hot)),
                    write(
                        4,
                        false,
                        &did,
                        FOLLOW,
                        "f",
                        n + 3,
                        CID,
                        follow(FOLLOW, CAROL),
                    ),
                ];
                apply_batch_retrying(&pool, &batch).await?;
                if round % 2 == 1 {
                    apply_batch_retrying(&pool, &[delete(5, &did, LIKE, "l", n + 9)]).await?;
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    let (likes, reposts, replies): (i64, i64, i64) = sqlx::query_as(
        r#"SELECT "likeCount", "repostCount", "replyCount" FROM post_agg WHERE uri = $1"#,
    )
    .bind(&hot)
    .fetch_one(&pool)
    .await?;
    assert_eq!((likes, reposts, replies), (8 * 3, 40, 40));
    let followers: i64 =
        sqlx::query_scalar(r#"SELECT "followersCount" FROM profile_agg WHERE did = $1"#)
            .bind(CAROL)
            .fetch_one(&pool)
            .await?;
    assert_eq!(followers, 40);
    assert_aggregates_exact(&pool).await
}

#[tokio::test]
async fn a_batch_that_loses_the_race_to_create_an_aggregate_row_still_adds_exactly()
-> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let hot = uri(CAROL, POST, "new");
    // Another writer creates the post's aggregate row and has not committed yet: the batch sees
    // no row, inserts one, waits on the other writer's, and must then add to it instead.
    let mut other = pool.begin().await?;
    sqlx::query(r#"INSERT INTO post_agg (uri, "likeCount") VALUES ($1, 5)"#)
        .bind(&hot)
        .execute(&mut *other)
        .await?;
    let batch = vec![write(1, false, ALICE, LIKE, "l1", 1, CID, like(LIKE, &hot))];
    let writer = tokio::spawn({
        let pool = pool.clone();
        async move { indexer::apply::apply_batch(&pool, &batch).await }
    });
    wait_for_a_lock_wait(&pool, "the batch to wait on the other writer's row").await?;
    other.commit().await?;
    assert_eq!(writer.await??, vec![Effect::Applied]);
    let likes: i64 = sqlx::query_scalar(r#"SELECT "likeCount" FROM post_agg WHERE uri = $1"#)
        .bind(&hot)
        .fetch_one(&pool)
        .await?;
    assert_eq!(likes, 6);
    Ok(())
}

#[tokio::test]
async fn a_negation_written_beside_the_label_it_negates_still_removes_it() -> anyhow::Result<()> {
    let pg = TestPostgres::start().await?;
    let pool = database(&pg).await?;
    let (src, target, val) = ("did:plc:labeler", uri(ALICE, POST, "p1"), "spam");
    // Another batch is writing the positive label (frames of one labeler are not handled in
    // order) and has not committed: the negation must wait for it, then remove its row, rather
    // than delete nothing and leave the label standing once the other batch commits.
    let mut other = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
        .bind(indexer::apply::LABEL_LOCKS)
        .bind(indexer::apply::label_lock_key(src, &target, "", val))
        .execute(&mut *other)
        .await?;
    sqlx::query(
        "INSERT INTO label (src, uri, cid, val, neg, cts) VALUES ($1, $2, '', $3, false, $4)",
    )
    .bind(src)
    .bind(&target)
    .bind(val)
    .bind("2026-01-01T00:00:00.000Z")
    .execute(&mut *other)
    .await?;
    let negation = Label {
        ver: 1,
        src: src.into(),
        uri: target.clone(),
        cid: None,
        val: val.into(),
        neg: Some(true),
        cts: "2026-01-02T00:00:00.000Z".into(),
        exp: None,
        sig: None,
    };
    let batch = vec![Change::Labels(LabelsEntry {
        seq: 2,
        labels: vec![negation],
    })];
    let writer = tokio::spawn({
        let pool = pool.clone();
        async move { indexer::apply::apply_batch(&pool, &batch).await }
    });
    wait_for_a_lock_wait(&pool, "the negation to wait on the other batch").await?;
    other.commit().await?;
    assert_eq!(writer.await??, vec![Effect::Applied]);
    let standing = count(&pool, "SELECT count(*) FROM label").await?;
    let negations = count(&pool, "SELECT count(*) FROM label_negation").await?;
    assert_eq!((standing, negations), (0, 1));
    Ok(())
}

/// Waits until a session of this database waits on a lock (`what` names it in the timeout).
async fn wait_for_a_lock_wait(pool: &sqlx::PgPool, what: &str) -> anyhow::Result<()> {
    wait_until(what, WAIT, || {
        let pool = pool.clone();
        async move {
            let waiting: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND datname = current_database())",
            )
            .fetch_one(&pool)
            .await?;
            Ok(waiting.then_some(()))
        }
    })
    .await
}

/// Applies a batch, retrying transient failures (deadlocks) as the consumer runner would.
async fn apply_batch_retrying(pool: &sqlx::PgPool, batch: &[Change]) -> anyhow::Result<()> {
    let mut attempts = 0;
    loop {
        match indexer::apply::apply_batch(pool, batch).await {
            Ok(_) => return Ok(()),
            Err(e) if e.is_transient() && attempts < 5 => attempts += 1,
            Err(e) => return Err(e.into()),
        }
    }
}
