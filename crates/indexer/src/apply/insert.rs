//! Inserts the typed rows of a round's records: one `INSERT … SELECT unnest(…), …` per table,
//! with `RETURNING` saying which rows really went in where that is not known beforehand.
//!
//! Rows of [`Fresh::Yes`] records (their path had no `record` row before this round) cannot be in
//! their tables: typed rows live and die with the record row, and the batch holds the DID locks
//! every writer of them takes. They go in with plain inserts, which cost PostgreSQL markedly less
//! than `ON CONFLICT` (no speculative insertion: no lock-manager round and no extra WAL record
//! per row); only the deduplicating constraints of likes, reposts, follows and blocks are probed
//! first, and those probes cannot race either, since the same creator means the same DID lock.
//! Rows that may be there already (a replaced version, a promoted duplicate, the rarer tables)
//! keep `ON CONFLICT DO NOTHING`.
//!
//! Likes, reposts, follows and blocks, whose second row for a subject is a duplicate, are
//! [`deduplicated`]'s. Aggregate keys are noted only for rows that went in.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::bulk::{Column, col, ocol, run};
use super::deduplicated;
use super::error::ApplyError;
use super::touched::{PostCount, ProfileCount, Touched};
use crate::records::{
    BlockRow, FeedGeneratorRow, FeedItemRow, FollowRow, LabelerRow, LikeRow, ListBlockRow,
    ListItemRow, ListRow, PostGateRow, PostRows, ProfileRow, Rows, StarterPackRow, ThreadGateRow,
    VerificationRow,
};

/// The URIs of the rows that went in.
pub(super) type Inserted = HashSet<String>;

/// Whether rows can already be in their tables (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fresh {
    /// The records had no `record` row before this round: none of their rows can exist.
    Yes,
    /// Rows may exist already.
    No,
}

/// An insert statement: `$head`, then `ON CONFLICT DO NOTHING` unless `$fresh` is
/// [`Fresh::Yes`], then `$tail` (a `RETURNING` clause, or nothing).
macro_rules! insert_sql {
    ($fresh:expr, $head:literal, $tail:literal) => {
        match $fresh {
            Fresh::Yes => concat!($head, "\n", $tail),
            Fresh::No => concat!($head, "\nON CONFLICT DO NOTHING ", $tail),
        }
    };
}

/// Rows of one round, grouped by table.
#[derive(Default)]
struct ByTable<'a> {
    posts: Vec<&'a PostRows>,
    likes: Vec<&'a LikeRow>,
    reposts: Vec<&'a LikeRow>,
    feed_items: Vec<&'a FeedItemRow>,
    follows: Vec<&'a FollowRow>,
    blocks: Vec<&'a BlockRow>,
    lists: Vec<&'a ListRow>,
    list_items: Vec<&'a ListItemRow>,
    list_blocks: Vec<&'a ListBlockRow>,
    generators: Vec<&'a FeedGeneratorRow>,
    profiles: Vec<&'a ProfileRow>,
    thread_gates: Vec<&'a ThreadGateRow>,
    post_gates: Vec<&'a PostGateRow>,
    starter_packs: Vec<&'a StarterPackRow>,
    labelers: Vec<&'a LabelerRow>,
    verifications: Vec<&'a VerificationRow>,
}

impl<'a> ByTable<'a> {
    fn new(rows: &[&'a Rows]) -> Self {
        let mut t = ByTable::default();
        for rows in rows {
            match rows {
                Rows::Post(p) => {
                    t.posts.push(p);
                    t.feed_items.push(&p.feed_item);
                }
                Rows::Like(l) => t.likes.push(l),
                Rows::Repost(r) => {
                    t.reposts.push(&r.repost);
                    t.feed_items.push(&r.feed_item);
                }
                Rows::Follow(f) => t.follows.push(f),
                Rows::Block(b) => t.blocks.push(b),
                Rows::List(l) => t.lists.push(l),
                Rows::ListItem(l) => t.list_items.push(l),
                Rows::ListBlock(l) => t.list_blocks.push(l),
                Rows::FeedGenerator(g) => t.generators.push(g),
                Rows::Profile(p) => t.profiles.push(p),
                Rows::ThreadGate(g) => t.thread_gates.push(g),
                Rows::PostGate(g) => t.post_gates.push(g),
                Rows::StarterPack(s) => t.starter_packs.push(s),
                Rows::Labeler(l) => t.labelers.push(l),
                Rows::Verification(v) => t.verifications.push(v),
                Rows::RecordOnly => {}
            }
        }
        t
    }
}

/// Inserts `rows`; returns the URIs whose main row went in (not a duplicate or a conflict).
/// `new_repos`: creators that had nothing stored, whose rows cannot duplicate a stored one.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    rows: &[&Rows],
    fresh: Fresh,
    new_repos: &HashSet<&str>,
    touched: &mut Touched,
) -> Result<Inserted, ApplyError> {
    let t = ByTable::new(rows);
    let mut inserted = Inserted::new();
    let dedup = deduplicated::Freshness { fresh, new_repos };
    posts(conn, &t.posts, fresh, touched, &mut inserted).await?;
    deduplicated::likes(conn, &t.likes, false, dedup, touched, &mut inserted).await?;
    deduplicated::likes(conn, &t.reposts, true, dedup, touched, &mut inserted).await?;
    feed_items(conn, &t.feed_items, fresh).await?;
    deduplicated::follows(conn, &t.follows, false, dedup, touched, &mut inserted).await?;
    deduplicated::follows(conn, &t.blocks, true, dedup, touched, &mut inserted).await?;
    others(conn, &t, &mut inserted).await?;
    Ok(inserted)
}

async fn posts(
    conn: &mut PgConnection,
    rows: &[&PostRows],
    fresh: Fresh,
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json = |v: &Option<Vec<String>>| v.as_ref().and_then(|v| serde_json::to_string(v).ok());
    let p: Vec<_> = rows.iter().map(|r| &r.post).collect();
    let langs: Vec<Option<String>> = p.iter().map(|r| json(&r.langs)).collect();
    let tags: Vec<Option<String>> = p.iter().map(|r| json(&r.tags)).collect();
    macro_rules! post_insert {
        () => {
            r#"INSERT INTO post (uri, cid, creator, text, "replyRoot", "replyRootCid", "replyParent",
                 "replyParentCid", "createdAt", "indexedAt", langs, tags)
               SELECT uri, cid, creator, text, rr, rrc, rp, rpc, ca, ia, l::jsonb, t::jsonb
               FROM (SELECT unnest($1::text[]) AS uri, unnest($2::text[]) AS cid,
                 unnest($3::text[]) AS creator, unnest($4::text[]) AS text,
                 unnest($5::text[]) AS rr, unnest($6::text[]) AS rrc, unnest($7::text[]) AS rp,
                 unnest($8::text[]) AS rpc, unnest($9::text[]) AS ca, unnest($10::text[]) AS ia,
                 unnest($11::text[]) AS l, unnest($12::text[]) AS t) AS x"#
        };
    }
    let columns = vec![
        col(&p, |r| &r.uri),
        col(&p, |r| &r.cid),
        col(&p, |r| &r.creator),
        col(&p, |r| &r.text),
        ocol(&p, |r| r.reply_root.as_deref()),
        ocol(&p, |r| r.reply_root_cid.as_deref()),
        ocol(&p, |r| r.reply_parent.as_deref()),
        ocol(&p, |r| r.reply_parent_cid.as_deref()),
        col(&p, |r| &r.created_at),
        col(&p, |r| &r.indexed_at),
        Column::Nullable(langs.iter().map(Option::as_deref).collect()),
        Column::Nullable(tags.iter().map(Option::as_deref).collect()),
    ];
    // Every row of a fresh record goes in, so only replaced versions ask which did.
    let step = "inserting post rows";
    let went_in: Option<HashSet<String>> = match fresh {
        Fresh::Yes => {
            run(conn, post_insert!(), columns, step).await?;
            None
        }
        Fresh::No => {
            let sql = concat!(post_insert!(), "\nON CONFLICT DO NOTHING RETURNING uri");
            Some(run(conn, sql, columns, step).await?.into_iter().collect())
        }
    };
    for r in p
        .iter()
        .filter(|r| went_in.as_ref().is_none_or(|w| w.contains(&r.uri)))
    {
        touched.profile(&r.creator, ProfileCount::Posts, 1);
        touched.post(r.reply_parent.as_deref(), PostCount::Reply, 1);
        inserted.insert(r.uri.clone());
    }

    let images: Vec<_> = rows.iter().flat_map(|r| &r.embeds.images).collect();
    run(
        conn,
        insert_sql!(
            fresh,
            r#"INSERT INTO post_embed_image ("postUri", "position", "imageCid", alt)
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[])"#,
            ""
        ),
        vec![
            col(&images, |r| &r.post_uri),
            col(&images, |r| &r.position),
            col(&images, |r| &r.image_cid),
            col(&images, |r| &r.alt),
        ],
        "inserting post_embed_image rows",
    )
    .await?;
    let external: Vec<_> = rows
        .iter()
        .filter_map(|r| r.embeds.external.as_ref())
        .collect();
    run(
        conn,
        insert_sql!(
            fresh,
            r#"INSERT INTO post_embed_external ("postUri", uri, title, description, "thumbCid")
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[]), unnest($5::text[])"#,
            ""
        ),
        vec![
            col(&external, |r| &r.post_uri),
            col(&external, |r| &r.uri),
            col(&external, |r| &r.title),
            col(&external, |r| &r.description),
            ocol(&external, |r| r.thumb_cid.as_deref()),
        ],
        "inserting post_embed_external rows",
    )
    .await?;
    let records: Vec<_> = rows
        .iter()
        .filter_map(|r| r.embeds.record.as_ref())
        .collect();
    run(
        conn,
        insert_sql!(
            fresh,
            r#"INSERT INTO post_embed_record ("postUri", "embedUri", "embedCid")
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[])"#,
            ""
        ),
        vec![
            col(&records, |r| &r.post_uri),
            col(&records, |r| &r.embed_uri),
            col(&records, |r| &r.embed_cid),
        ],
        "inserting post_embed_record rows",
    )
    .await?;
    let videos: Vec<_> = rows
        .iter()
        .filter_map(|r| r.embeds.video.as_ref())
        .collect();
    run(
        conn,
        insert_sql!(
            fresh,
            r#"INSERT INTO post_embed_video ("postUri", "videoCid", alt)
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[])"#,
            ""
        ),
        vec![
            col(&videos, |r| &r.post_uri),
            col(&videos, |r| &r.video_cid),
            ocol(&videos, |r| r.alt.as_deref()),
        ],
        "inserting post_embed_video rows",
    )
    .await?;
    let quotes: Vec<_> = rows.iter().filter_map(|r| r.quote.as_ref()).collect();
    let quoted = run(
        conn,
        insert_sql!(
            fresh,
            r#"INSERT INTO quote (uri, cid, subject, "subjectCid", "createdAt", "indexedAt")
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[]), unnest($5::text[]), unnest($6::text[])"#,
            "RETURNING subject"
        ),
        vec![
            col(&quotes, |r| &r.uri),
            col(&quotes, |r| &r.cid),
            col(&quotes, |r| &r.subject),
            col(&quotes, |r| &r.subject_cid),
            col(&quotes, |r| &r.created_at),
            col(&quotes, |r| &r.indexed_at),
        ],
        "inserting quote rows",
    )
    .await?;
    quoted
        .iter()
        .for_each(|s| touched.post(Some(s), PostCount::Quote, 1));
    Ok(())
}

async fn feed_items(
    conn: &mut PgConnection,
    rows: &[&FeedItemRow],
    fresh: Fresh,
) -> Result<(), ApplyError> {
    run(
        conn,
        insert_sql!(
            fresh,
            r#"INSERT INTO feed_item (uri, cid, type, "postUri", "originatorDid", "sortAt")
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[]), unnest($5::text[]), unnest($6::text[])"#,
            ""
        ),
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| r.kind),
            col(rows, |r| &r.post_uri),
            col(rows, |r| &r.originator_did),
            col(rows, |r| &r.sort_at),
        ],
        "inserting feed_item rows",
    )
    .await?;
    Ok(())
}

/// Every table without aggregates or duplicates: only the URIs that went in matter.
async fn others(
    conn: &mut PgConnection,
    t: &ByTable<'_>,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    let rows = &t.lists;
    let done = run(
        conn,
        r#"INSERT INTO list (uri, cid, creator, name, purpose, description,
             "descriptionFacets", "avatarCid", "createdAt", "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]),
             unnest($9::text[]), unnest($10::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.name),
            col(rows, |r| &r.purpose),
            ocol(rows, |r| r.description.as_deref()),
            ocol(rows, |r| r.description_facets.as_deref()),
            ocol(rows, |r| r.avatar_cid.as_deref()),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting list rows",
    )
    .await?;
    inserted.extend(done);

    let rows = &t.list_items;
    let done = run(
        conn,
        r#"INSERT INTO list_item (uri, cid, creator, "subjectDid", "listUri", "createdAt",
             "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[]), unnest($6::text[]), unnest($7::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.subject_did),
            col(rows, |r| &r.list_uri),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting list_item rows",
    )
    .await?;
    inserted.extend(done);

    let rows = &t.list_blocks;
    let done = run(
        conn,
        r#"INSERT INTO list_block (uri, cid, creator, "subjectUri", "createdAt",
             "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[]), unnest($6::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.subject_uri),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting list_block rows",
    )
    .await?;
    inserted.extend(done);

    let rows = &t.generators;
    let done = run(
        conn,
        r#"INSERT INTO feed_generator (uri, cid, creator, "feedDid", "displayName",
             description, "descriptionFacets", "avatarCid", "createdAt", "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]),
             unnest($9::text[]), unnest($10::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.feed_did),
            col(rows, |r| &r.display_name),
            ocol(rows, |r| r.description.as_deref()),
            ocol(rows, |r| r.description_facets.as_deref()),
            ocol(rows, |r| r.avatar_cid.as_deref()),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting feed_generator rows",
    )
    .await?;
    inserted.extend(done);

    let rows = &t.profiles;
    let done = run(
        conn,
        r#"INSERT INTO profile (uri, cid, creator, "displayName", description,
             "avatarCid", "bannerCid", "joinedViaStarterPackUri", "pinnedPost",
             "pinnedPostCid", "createdAt", "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]),
             unnest($9::text[]), unnest($10::text[]), unnest($11::text[]), unnest($12::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            ocol(rows, |r| r.display_name.as_deref()),
            ocol(rows, |r| r.description.as_deref()),
            ocol(rows, |r| r.avatar_cid.as_deref()),
            ocol(rows, |r| r.banner_cid.as_deref()),
            ocol(rows, |r| r.joined_via_starter_pack_uri.as_deref()),
            ocol(rows, |r| r.pinned_post.as_deref()),
            ocol(rows, |r| r.pinned_post_cid.as_deref()),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting profile rows",
    )
    .await?;
    inserted.extend(done);

    // Thread gates and post gates have the same columns.
    for (rows, sql, step) in [
        (
            &t.thread_gates,
            r#"INSERT INTO thread_gate (uri, cid, creator, "postUri", "createdAt", "indexedAt")
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[]), unnest($5::text[]), unnest($6::text[])
               ON CONFLICT DO NOTHING RETURNING uri"#,
            "inserting thread_gate rows",
        ),
        (
            &t.post_gates,
            r#"INSERT INTO post_gate (uri, cid, creator, "postUri", "createdAt", "indexedAt")
               SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]),
                 unnest($4::text[]), unnest($5::text[]), unnest($6::text[])
               ON CONFLICT DO NOTHING RETURNING uri"#,
            "inserting post_gate rows",
        ),
    ] {
        let done = run(
            conn,
            sql,
            vec![
                col(rows, |r| &r.uri),
                col(rows, |r| &r.cid),
                col(rows, |r| &r.creator),
                col(rows, |r| &r.post_uri),
                col(rows, |r| &r.created_at),
                col(rows, |r| &r.indexed_at),
            ],
            step,
        )
        .await?;
        inserted.extend(done);
    }

    let rows = &t.starter_packs;
    let done = run(
        conn,
        r#"INSERT INTO starter_pack (uri, cid, creator, name, "createdAt", "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[]), unnest($6::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.name),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting starter_pack rows",
    )
    .await?;
    inserted.extend(done);

    let rows = &t.labelers;
    let done = run(
        conn,
        r#"INSERT INTO labeler (uri, cid, creator, "createdAt", "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting labeler rows",
    )
    .await?;
    inserted.extend(done);

    let rows = &t.verifications;
    let done = run(
        conn,
        r#"INSERT INTO verification (uri, cid, rkey, creator, subject, handle,
             "displayName", "createdAt", "indexedAt")
           SELECT unnest($1::text[]), unnest($2::text[]), unnest($3::text[]), unnest($4::text[]),
             unnest($5::text[]), unnest($6::text[]), unnest($7::text[]), unnest($8::text[]),
             unnest($9::text[])
           ON CONFLICT DO NOTHING RETURNING uri"#,
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.rkey),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.subject),
            col(rows, |r| &r.handle),
            col(rows, |r| &r.display_name),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
        "inserting verification rows",
    )
    .await?;
    inserted.extend(done);
    Ok(())
}
