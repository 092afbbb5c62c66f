//! Inserts the typed rows of a round's records: one `INSERT … SELECT FROM unnest(…)` per table,
//! `ON CONFLICT DO NOTHING`, with `RETURNING` saying which rows really went in.
//!
//! A like, repost, follow or block that did not go in because its author already has one for
//! the same subject is recorded in `duplicate_record`, pointing at the original, as the
//! reference does. Aggregate keys are noted only for rows that went in.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::bulk::{Column, bind, col, ocol, run};
use super::error::{ApplyError, Step};
use super::touched::{PostCount, ProfileCount, Touched};
use crate::records::{
    BlockRow, FeedGeneratorRow, FeedItemRow, FollowRow, LabelerRow, LikeRow, ListBlockRow,
    ListItemRow, ListRow, PostGateRow, PostRows, ProfileRow, Rows, StarterPackRow, ThreadGateRow,
    VerificationRow,
};

/// The URIs of the rows that went in.
type Inserted = HashSet<String>;

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
pub(crate) async fn insert(
    conn: &mut PgConnection,
    rows: &[&Rows],
    touched: &mut Touched,
) -> Result<Inserted, ApplyError> {
    let t = ByTable::new(rows);
    let mut inserted = Inserted::new();
    posts(conn, &t.posts, touched, &mut inserted).await?;
    likes(conn, &t.likes, false, touched, &mut inserted).await?;
    likes(conn, &t.reposts, true, touched, &mut inserted).await?;
    feed_items(conn, &t.feed_items).await?;
    follows(conn, &t.follows, false, touched, &mut inserted).await?;
    follows(conn, &t.blocks, true, touched, &mut inserted).await?;
    others(conn, &t, &mut inserted).await?;
    Ok(inserted)
}

async fn posts(
    conn: &mut PgConnection,
    rows: &[&PostRows],
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let json = |v: &Option<Vec<String>>| v.as_ref().and_then(|v| serde_json::to_string(v).ok());
    let p: Vec<_> = rows.iter().map(|r| &r.post).collect();
    // Written out rather than through `run`: it casts to jsonb and returns three columns.
    let done: Vec<(String, String, Option<String>)> = bind(
        sqlx::query_as(
            r#"INSERT INTO post (uri, cid, creator, text, "replyRoot", "replyRootCid", "replyParent",
                 "replyParentCid", "createdAt", "indexedAt", langs, tags)
               SELECT uri, cid, creator, text, rr, rrc, rp, rpc, ca, ia, l::jsonb, t::jsonb
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                           $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
                 AS x(uri, cid, creator, text, rr, rrc, rp, rpc, ca, ia, l, t)
               ON CONFLICT DO NOTHING RETURNING uri, creator, "replyParent""#,
        ),
        vec![
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
            Column::Nullable(p.iter().map(|r| json(&r.langs)).collect()),
            Column::Nullable(p.iter().map(|r| json(&r.tags)).collect()),
        ],
    )
    .fetch_all(&mut *conn)
    .await
    .step("inserting post rows")?;
    for (uri, creator, parent) in done {
        touched.profile(&creator, ProfileCount::Posts, 1);
        touched.post(parent.as_deref(), PostCount::Reply, 1);
        inserted.insert(uri);
    }

    let images: Vec<_> = rows.iter().flat_map(|r| &r.embeds.images).collect();
    run(
        conn,
        r#"INSERT INTO post_embed_image ("postUri", "position", "imageCid", alt)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
           ON CONFLICT DO NOTHING"#,
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
        r#"INSERT INTO post_embed_external ("postUri", uri, title, description, "thumbCid")
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
           ON CONFLICT DO NOTHING"#,
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
        r#"INSERT INTO post_embed_record ("postUri", "embedUri", "embedCid")
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ON CONFLICT DO NOTHING"#,
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
        r#"INSERT INTO post_embed_video ("postUri", "videoCid", alt)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
           ON CONFLICT DO NOTHING"#,
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
        r#"INSERT INTO quote (uri, cid, subject, "subjectCid", "createdAt", "indexedAt")
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[])
           ON CONFLICT DO NOTHING RETURNING subject"#,
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

async fn feed_items(conn: &mut PgConnection, rows: &[&FeedItemRow]) -> Result<(), ApplyError> {
    run(
        conn,
        r#"INSERT INTO feed_item (uri, cid, type, "postUri", "originatorDid", "sortAt")
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[])
           ON CONFLICT DO NOTHING"#,
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

/// Likes (or reposts, which have the same columns).
async fn likes(
    conn: &mut PgConnection,
    rows: &[&LikeRow],
    repost: bool,
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (sql, dup_sql, step) = if repost {
        (
            r#"INSERT INTO repost (uri, cid, creator, subject, "subjectCid", via, "viaCid",
                 "createdAt", "indexedAt")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::text[], $8::text[], $9::text[])
               ON CONFLICT DO NOTHING RETURNING uri, subject"#,
            r#"INSERT INTO duplicate_record (uri, cid, "duplicateOf", "indexedAt")
               SELECT t.uri, t.cid, o.uri, t.at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 AS t(uri, cid, creator, subject, at)
               JOIN repost o ON o.creator = t.creator AND o.subject = t.subject AND o.uri <> t.uri
               ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid,
                 "duplicateOf" = excluded."duplicateOf", "indexedAt" = excluded."indexedAt""#,
            "inserting repost rows",
        )
    } else {
        (
            r#"INSERT INTO "like" (uri, cid, creator, subject, "subjectCid", via, "viaCid",
                 "createdAt", "indexedAt")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[], $7::text[], $8::text[], $9::text[])
               ON CONFLICT DO NOTHING RETURNING uri, subject"#,
            r#"INSERT INTO duplicate_record (uri, cid, "duplicateOf", "indexedAt")
               SELECT t.uri, t.cid, o.uri, t.at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 AS t(uri, cid, creator, subject, at)
               JOIN "like" o ON o.creator = t.creator AND o.subject = t.subject AND o.uri <> t.uri
               ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid,
                 "duplicateOf" = excluded."duplicateOf", "indexedAt" = excluded."indexedAt""#,
            "inserting like rows",
        )
    };
    let done: Vec<(String, String)> = bind(
        sqlx::query_as(sql),
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.subject),
            col(rows, |r| &r.subject_cid),
            ocol(rows, |r| r.via.as_deref()),
            ocol(rows, |r| r.via_cid.as_deref()),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
    )
    .fetch_all(&mut *conn)
    .await
    .step(step)?;
    let went_in: HashSet<&str> = done.iter().map(|(u, _)| u.as_str()).collect();
    let dups: Vec<&LikeRow> = rows
        .iter()
        .copied()
        .filter(|r| !went_in.contains(r.uri.as_str()))
        .collect();
    run(
        conn,
        dup_sql,
        vec![
            col(&dups, |r| &r.uri),
            col(&dups, |r| &r.cid),
            col(&dups, |r| &r.creator),
            col(&dups, |r| &r.subject),
            col(&dups, |r| &r.indexed_at),
        ],
        "recording duplicates",
    )
    .await?;
    let count = if repost {
        PostCount::Repost
    } else {
        PostCount::Like
    };
    for (uri, subject) in done {
        touched.post(Some(&subject), count, 1);
        inserted.insert(uri);
    }
    Ok(())
}

/// Follows (or blocks, which have the same columns).
async fn follows(
    conn: &mut PgConnection,
    rows: &[&FollowRow],
    block: bool,
    touched: &mut Touched,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    let (sql, dup_sql, step) = if block {
        (
            r#"INSERT INTO actor_block (uri, cid, creator, "subjectDid", "createdAt", "indexedAt")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[])
               ON CONFLICT DO NOTHING RETURNING uri, creator, "subjectDid""#,
            r#"INSERT INTO duplicate_record (uri, cid, "duplicateOf", "indexedAt")
               SELECT t.uri, t.cid, o.uri, t.at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 AS t(uri, cid, creator, subject, at)
               JOIN actor_block o ON o.creator = t.creator AND o."subjectDid" = t.subject
                 AND o.uri <> t.uri
               ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid,
                 "duplicateOf" = excluded."duplicateOf", "indexedAt" = excluded."indexedAt""#,
            "inserting actor_block rows",
        )
    } else {
        (
            r#"INSERT INTO follow (uri, cid, creator, "subjectDid", "createdAt", "indexedAt")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[])
               ON CONFLICT DO NOTHING RETURNING uri, creator, "subjectDid""#,
            r#"INSERT INTO duplicate_record (uri, cid, "duplicateOf", "indexedAt")
               SELECT t.uri, t.cid, o.uri, t.at
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
                 AS t(uri, cid, creator, subject, at)
               JOIN follow o ON o.creator = t.creator AND o."subjectDid" = t.subject
                 AND o.uri <> t.uri
               ON CONFLICT (uri) DO UPDATE SET cid = excluded.cid,
                 "duplicateOf" = excluded."duplicateOf", "indexedAt" = excluded."indexedAt""#,
            "inserting follow rows",
        )
    };
    let done: Vec<(String, String, String)> = bind(
        sqlx::query_as(sql),
        vec![
            col(rows, |r| &r.uri),
            col(rows, |r| &r.cid),
            col(rows, |r| &r.creator),
            col(rows, |r| &r.subject_did),
            col(rows, |r| &r.created_at),
            col(rows, |r| &r.indexed_at),
        ],
    )
    .fetch_all(&mut *conn)
    .await
    .step(step)?;
    let went_in: HashSet<&str> = done.iter().map(|(u, _, _)| u.as_str()).collect();
    let dups: Vec<&FollowRow> = rows
        .iter()
        .copied()
        .filter(|r| !went_in.contains(r.uri.as_str()))
        .collect();
    run(
        conn,
        dup_sql,
        vec![
            col(&dups, |r| &r.uri),
            col(&dups, |r| &r.cid),
            col(&dups, |r| &r.creator),
            col(&dups, |r| &r.subject_did),
            col(&dups, |r| &r.indexed_at),
        ],
        "recording duplicates",
    )
    .await?;
    for (uri, creator, subject) in done {
        if !block {
            touched.profile(&creator, ProfileCount::Follows, 1);
            touched.profile(&subject, ProfileCount::Followers, 1);
        }
        inserted.insert(uri);
    }
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[], $7::text[])
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[])
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
             $11::text[], $12::text[])
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
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[])
               ON CONFLICT DO NOTHING RETURNING uri"#,
            "inserting thread_gate rows",
        ),
        (
            &t.post_gates,
            r#"INSERT INTO post_gate (uri, cid, creator, "postUri", "createdAt", "indexedAt")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                 $6::text[])
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[])
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[])
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
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
             $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
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
