//! Inserts the typed rows of a round's records: one `INSERT … SELECT FROM unnest(…)` per table,
//! `ON CONFLICT DO NOTHING`, with `RETURNING` saying which rows really went in.
//!
//! A like, repost, follow or block that did not go in because its author already has one for
//! the same subject is recorded in `duplicate_record`, pointing at the original, as the
//! reference does. Aggregate keys are noted only for rows that went in.

use std::collections::HashSet;

use sqlx::PgConnection;

use super::error::{ApplyError, Step};
use super::touched::{PostCount, ProfileCount, Touched};
use crate::records::{
    BlockRow, FeedGeneratorRow, FeedItemRow, FollowRow, LabelerRow, LikeRow, ListBlockRow,
    ListItemRow, ListRow, PostGateRow, PostRows, ProfileRow, Rows, StarterPackRow, ThreadGateRow,
    VerificationRow,
};

/// One column of a bulk insert.
fn col<T>(rows: &[&T], f: impl Fn(&T) -> &str) -> Vec<String> {
    rows.iter().map(|r| f(r).to_owned()).collect()
}

/// One nullable column of a bulk insert.
fn ocol<T>(rows: &[&T], f: impl Fn(&T) -> Option<&str>) -> Vec<Option<String>> {
    rows.iter().map(|r| f(r).map(str::to_owned)).collect()
}

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
    let done: Vec<(String, String, Option<String>)> = sqlx::query_as(
        r#"INSERT INTO post (uri, cid, creator, text, "replyRoot", "replyRootCid", "replyParent",
             "replyParentCid", "createdAt", "indexedAt", langs, tags)
           SELECT uri, cid, creator, text, rr, rrc, rp, rpc, ca, ia, l::jsonb, t::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                       $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
             AS x(uri, cid, creator, text, rr, rrc, rp, rpc, ca, ia, l, t)
           ON CONFLICT DO NOTHING RETURNING uri, creator, "replyParent""#,
    )
    .bind(col(&p, |r| &r.uri))
    .bind(col(&p, |r| &r.cid))
    .bind(col(&p, |r| &r.creator))
    .bind(col(&p, |r| &r.text))
    .bind(ocol(&p, |r| r.reply_root.as_deref()))
    .bind(ocol(&p, |r| r.reply_root_cid.as_deref()))
    .bind(ocol(&p, |r| r.reply_parent.as_deref()))
    .bind(ocol(&p, |r| r.reply_parent_cid.as_deref()))
    .bind(col(&p, |r| &r.created_at))
    .bind(col(&p, |r| &r.indexed_at))
    .bind(p.iter().map(|r| json(&r.langs)).collect::<Vec<_>>())
    .bind(p.iter().map(|r| json(&r.tags)).collect::<Vec<_>>())
    .fetch_all(&mut *conn)
    .await
    .step("inserting post rows")?;
    for (uri, creator, parent) in done {
        touched.profile(&creator, ProfileCount::Posts, 1);
        touched.post(parent.as_deref(), PostCount::Reply, 1);
        inserted.insert(uri);
    }

    let images: Vec<_> = rows.iter().flat_map(|r| &r.embeds.images).collect();
    if !images.is_empty() {
        sqlx::query(
            r#"INSERT INTO post_embed_image ("postUri", "position", "imageCid", alt)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
               ON CONFLICT DO NOTHING"#,
        )
        .bind(col(&images, |r| &r.post_uri))
        .bind(col(&images, |r| &r.position))
        .bind(col(&images, |r| &r.image_cid))
        .bind(col(&images, |r| &r.alt))
        .execute(&mut *conn)
        .await
        .step("inserting post_embed_image rows")?;
    }
    let external: Vec<_> = rows
        .iter()
        .filter_map(|r| r.embeds.external.as_ref())
        .collect();
    if !external.is_empty() {
        sqlx::query(
            r#"INSERT INTO post_embed_external ("postUri", uri, title, description, "thumbCid")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
               ON CONFLICT DO NOTHING"#,
        )
        .bind(col(&external, |r| &r.post_uri))
        .bind(col(&external, |r| &r.uri))
        .bind(col(&external, |r| &r.title))
        .bind(col(&external, |r| &r.description))
        .bind(ocol(&external, |r| r.thumb_cid.as_deref()))
        .execute(&mut *conn)
        .await
        .step("inserting post_embed_external rows")?;
    }
    let records: Vec<_> = rows
        .iter()
        .filter_map(|r| r.embeds.record.as_ref())
        .collect();
    if !records.is_empty() {
        sqlx::query(
            r#"INSERT INTO post_embed_record ("postUri", "embedUri", "embedCid")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
               ON CONFLICT DO NOTHING"#,
        )
        .bind(col(&records, |r| &r.post_uri))
        .bind(col(&records, |r| &r.embed_uri))
        .bind(col(&records, |r| &r.embed_cid))
        .execute(&mut *conn)
        .await
        .step("inserting post_embed_record rows")?;
    }
    let videos: Vec<_> = rows
        .iter()
        .filter_map(|r| r.embeds.video.as_ref())
        .collect();
    if !videos.is_empty() {
        sqlx::query(
            r#"INSERT INTO post_embed_video ("postUri", "videoCid", alt)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
               ON CONFLICT DO NOTHING"#,
        )
        .bind(col(&videos, |r| &r.post_uri))
        .bind(col(&videos, |r| &r.video_cid))
        .bind(ocol(&videos, |r| r.alt.as_deref()))
        .execute(&mut *conn)
        .await
        .step("inserting post_embed_video rows")?;
    }
    let quotes: Vec<_> = rows.iter().filter_map(|r| r.quote.as_ref()).collect();
    if !quotes.is_empty() {
        let done: Vec<(String,)> = sqlx::query_as(
            r#"INSERT INTO quote (uri, cid, subject, "subjectCid", "createdAt", "indexedAt")
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                    $6::text[])
               ON CONFLICT DO NOTHING RETURNING subject"#,
        )
        .bind(col(&quotes, |r| &r.uri))
        .bind(col(&quotes, |r| &r.cid))
        .bind(col(&quotes, |r| &r.subject))
        .bind(col(&quotes, |r| &r.subject_cid))
        .bind(col(&quotes, |r| &r.created_at))
        .bind(col(&quotes, |r| &r.indexed_at))
        .fetch_all(&mut *conn)
        .await
        .step("inserting quote rows")?;
        done.iter()
            .for_each(|(s,)| touched.post(Some(s), PostCount::Quote, 1));
    }
    Ok(())
}

async fn feed_items(conn: &mut PgConnection, rows: &[&FeedItemRow]) -> Result<(), ApplyError> {
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        r#"INSERT INTO feed_item (uri, cid, type, "postUri", "originatorDid", "sortAt")
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                $6::text[])
           ON CONFLICT DO NOTHING"#,
    )
    .bind(col(rows, |r| &r.uri))
    .bind(col(rows, |r| &r.cid))
    .bind(col(rows, |r| r.kind))
    .bind(col(rows, |r| &r.post_uri))
    .bind(col(rows, |r| &r.originator_did))
    .bind(col(rows, |r| &r.sort_at))
    .execute(&mut *conn)
    .await
    .step("inserting feed_item rows")?;
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
    let done: Vec<(String, String)> = sqlx::query_as(sql)
        .bind(col(rows, |r| &r.uri))
        .bind(col(rows, |r| &r.cid))
        .bind(col(rows, |r| &r.creator))
        .bind(col(rows, |r| &r.subject))
        .bind(col(rows, |r| &r.subject_cid))
        .bind(ocol(rows, |r| r.via.as_deref()))
        .bind(ocol(rows, |r| r.via_cid.as_deref()))
        .bind(col(rows, |r| &r.created_at))
        .bind(col(rows, |r| &r.indexed_at))
        .fetch_all(&mut *conn)
        .await
        .step(step)?;
    let went_in: HashSet<&str> = done.iter().map(|(u, _)| u.as_str()).collect();
    let dups: Vec<&LikeRow> = rows
        .iter()
        .copied()
        .filter(|r| !went_in.contains(r.uri.as_str()))
        .collect();
    if !dups.is_empty() {
        sqlx::query(dup_sql)
            .bind(col(&dups, |r| &r.uri))
            .bind(col(&dups, |r| &r.cid))
            .bind(col(&dups, |r| &r.creator))
            .bind(col(&dups, |r| &r.subject))
            .bind(col(&dups, |r| &r.indexed_at))
            .execute(&mut *conn)
            .await
            .step("recording duplicates")?;
    }
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
    let done: Vec<(String, String, String)> = sqlx::query_as(sql)
        .bind(col(rows, |r| &r.uri))
        .bind(col(rows, |r| &r.cid))
        .bind(col(rows, |r| &r.creator))
        .bind(col(rows, |r| &r.subject_did))
        .bind(col(rows, |r| &r.created_at))
        .bind(col(rows, |r| &r.indexed_at))
        .fetch_all(&mut *conn)
        .await
        .step(step)?;
    let went_in: HashSet<&str> = done.iter().map(|(u, _, _)| u.as_str()).collect();
    let dups: Vec<&FollowRow> = rows
        .iter()
        .copied()
        .filter(|r| !went_in.contains(r.uri.as_str()))
        .collect();
    if !dups.is_empty() {
        sqlx::query(dup_sql)
            .bind(col(&dups, |r| &r.uri))
            .bind(col(&dups, |r| &r.cid))
            .bind(col(&dups, |r| &r.creator))
            .bind(col(&dups, |r| &r.subject_did))
            .bind(col(&dups, |r| &r.indexed_at))
            .execute(&mut *conn)
            .await
            .step("recording duplicates")?;
    }
    for (uri, creator, subject) in done {
        if !block {
            touched.profile(&creator, ProfileCount::Follows, 1);
            touched.profile(&subject, ProfileCount::Followers, 1);
        }
        inserted.insert(uri);
    }
    Ok(())
}

/// Every table without aggregates or duplicates.
async fn others(
    conn: &mut PgConnection,
    t: &ByTable<'_>,
    inserted: &mut Inserted,
) -> Result<(), ApplyError> {
    let mut done: Vec<(String,)> = Vec::new();
    if !t.lists.is_empty() {
        let r = &t.lists;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO list (uri, cid, creator, name, purpose, description,
                     "descriptionFacets", "avatarCid", "createdAt", "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.creator))
            .bind(col(r, |r| &r.name))
            .bind(col(r, |r| &r.purpose))
            .bind(ocol(r, |r| r.description.as_deref()))
            .bind(ocol(r, |r| r.description_facets.as_deref()))
            .bind(ocol(r, |r| r.avatar_cid.as_deref()))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting list rows")?,
        );
    }
    if !t.list_items.is_empty() {
        let r = &t.list_items;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO list_item (uri, cid, creator, "subjectDid", "listUri", "createdAt",
                     "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[], $7::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.creator))
            .bind(col(r, |r| &r.subject_did))
            .bind(col(r, |r| &r.list_uri))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting list_item rows")?,
        );
    }
    if !t.list_blocks.is_empty() {
        let r = &t.list_blocks;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO list_block (uri, cid, creator, "subjectUri", "createdAt",
                     "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.creator))
            .bind(col(r, |r| &r.subject_uri))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting list_block rows")?,
        );
    }
    if !t.generators.is_empty() {
        let r = &t.generators;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO feed_generator (uri, cid, creator, "feedDid", "displayName",
                     description, "descriptionFacets", "avatarCid", "createdAt", "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.creator))
            .bind(col(r, |r| &r.feed_did))
            .bind(col(r, |r| &r.display_name))
            .bind(ocol(r, |r| r.description.as_deref()))
            .bind(ocol(r, |r| r.description_facets.as_deref()))
            .bind(ocol(r, |r| r.avatar_cid.as_deref()))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting feed_generator rows")?,
        );
    }
    if !t.profiles.is_empty() {
        let r = &t.profiles;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO profile (uri, cid, creator, "displayName", description,
                     "avatarCid", "bannerCid", "joinedViaStarterPackUri", "pinnedPost",
                     "pinnedPostCid", "createdAt", "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                     $11::text[], $12::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.creator))
            .bind(ocol(r, |r| r.display_name.as_deref()))
            .bind(ocol(r, |r| r.description.as_deref()))
            .bind(ocol(r, |r| r.avatar_cid.as_deref()))
            .bind(ocol(r, |r| r.banner_cid.as_deref()))
            .bind(ocol(r, |r| r.joined_via_starter_pack_uri.as_deref()))
            .bind(ocol(r, |r| r.pinned_post.as_deref()))
            .bind(ocol(r, |r| r.pinned_post_cid.as_deref()))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting profile rows")?,
        );
    }
    for (gates, sql, step) in [
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
        if gates.is_empty() {
            continue;
        }
        done.extend(
            sqlx::query_as(sql)
                .bind(col(gates, |r| &r.uri))
                .bind(col(gates, |r| &r.cid))
                .bind(col(gates, |r| &r.creator))
                .bind(col(gates, |r| &r.post_uri))
                .bind(col(gates, |r| &r.created_at))
                .bind(col(gates, |r| &r.indexed_at))
                .fetch_all(&mut *conn)
                .await
                .step(step)?,
        );
    }
    if !t.starter_packs.is_empty() {
        let r = &t.starter_packs;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO starter_pack (uri, cid, creator, name, "createdAt", "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.creator))
            .bind(col(r, |r| &r.name))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting starter_pack rows")?,
        );
    }
    if !t.labelers.is_empty() {
        let r = &t.labelers;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO labeler (uri, cid, creator, "createdAt", "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.creator))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting labeler rows")?,
        );
    }
    if !t.verifications.is_empty() {
        let r = &t.verifications;
        done.extend(
            sqlx::query_as(
                r#"INSERT INTO verification (uri, cid, rkey, creator, subject, handle,
                     "displayName", "createdAt", "indexedAt")
                   SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                     $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
                   ON CONFLICT DO NOTHING RETURNING uri"#,
            )
            .bind(col(r, |r| &r.uri))
            .bind(col(r, |r| &r.cid))
            .bind(col(r, |r| &r.rkey))
            .bind(col(r, |r| &r.creator))
            .bind(col(r, |r| &r.subject))
            .bind(col(r, |r| &r.handle))
            .bind(col(r, |r| &r.display_name))
            .bind(col(r, |r| &r.created_at))
            .bind(col(r, |r| &r.indexed_at))
            .fetch_all(&mut *conn)
            .await
            .step("inserting verification rows")?,
        );
    }
    inserted.extend(done.into_iter().map(|(u,)| u));
    Ok(())
}
