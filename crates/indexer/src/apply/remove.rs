//! Removes the typed rows of records (before an update replaces them, on a delete, on an account
//! deletion), noting the aggregate keys whose counted rows went away.
//!
//! One statement per table, for all URIs of the round at once; only the tables of the
//! collections present are visited.

use std::collections::BTreeSet;

use sqlx::PgConnection;

use super::error::{ApplyError, Step};
use super::touched::{PostCount, ProfileCount, Touched};

/// The collection of an `at://did/collection/rkey` URI.
pub(crate) fn collection_of(uri: &str) -> Option<&str> {
    uri.strip_prefix("at://")?.split('/').nth(1)
}

/// Tables keyed by `uri` that need nothing but a delete, by collection.
fn plain_table_delete(collection: &str) -> Option<&'static str> {
    Some(match collection {
        "app.bsky.graph.block" => "DELETE FROM actor_block WHERE uri = ANY($1)",
        "app.bsky.graph.list" => "DELETE FROM list WHERE uri = ANY($1)",
        "app.bsky.graph.listitem" => "DELETE FROM list_item WHERE uri = ANY($1)",
        "app.bsky.graph.listblock" => "DELETE FROM list_block WHERE uri = ANY($1)",
        "app.bsky.feed.generator" => "DELETE FROM feed_generator WHERE uri = ANY($1)",
        "app.bsky.actor.profile" => "DELETE FROM profile WHERE uri = ANY($1)",
        "app.bsky.feed.threadgate" => "DELETE FROM thread_gate WHERE uri = ANY($1)",
        "app.bsky.feed.postgate" => "DELETE FROM post_gate WHERE uri = ANY($1)",
        "app.bsky.graph.starterpack" => "DELETE FROM starter_pack WHERE uri = ANY($1)",
        "app.bsky.labeler.service" => "DELETE FROM labeler WHERE uri = ANY($1)",
        "app.bsky.graph.verification" => "DELETE FROM verification WHERE uri = ANY($1)",
        _ => return None,
    })
}

/// Deletes every typed row (and `duplicate_record` row) of `uris`.
pub(crate) async fn remove(
    conn: &mut PgConnection,
    uris: &[String],
    touched: &mut Touched,
) -> Result<(), ApplyError> {
    if uris.is_empty() {
        return Ok(());
    }
    let collections: BTreeSet<&str> = uris.iter().filter_map(|u| collection_of(u)).collect();
    for collection in &collections {
        let of_collection: Vec<String> = uris
            .iter()
            .filter(|u| collection_of(u) == Some(collection))
            .cloned()
            .collect();
        match *collection {
            "app.bsky.feed.post" => remove_posts(conn, &of_collection, touched).await?,
            "app.bsky.feed.like" => {
                let subjects: Vec<(String,)> =
                    sqlx::query_as(r#"DELETE FROM "like" WHERE uri = ANY($1) RETURNING subject"#)
                        .bind(&of_collection)
                        .fetch_all(&mut *conn)
                        .await
                        .step("deleting like rows")?;
                subjects
                    .iter()
                    .for_each(|(s,)| touched.post(Some(s), PostCount::Like, -1));
            }
            "app.bsky.feed.repost" => {
                let subjects: Vec<(String,)> =
                    sqlx::query_as("DELETE FROM repost WHERE uri = ANY($1) RETURNING subject")
                        .bind(&of_collection)
                        .fetch_all(&mut *conn)
                        .await
                        .step("deleting repost rows")?;
                subjects
                    .iter()
                    .for_each(|(s,)| touched.post(Some(s), PostCount::Repost, -1));
                sqlx::query("DELETE FROM feed_item WHERE uri = ANY($1)")
                    .bind(&of_collection)
                    .execute(&mut *conn)
                    .await
                    .step("deleting repost feed items")?;
            }
            "app.bsky.graph.follow" => {
                let pairs: Vec<(String, String)> = sqlx::query_as(
                    r#"DELETE FROM follow WHERE uri = ANY($1) RETURNING creator, "subjectDid""#,
                )
                .bind(&of_collection)
                .fetch_all(&mut *conn)
                .await
                .step("deleting follow rows")?;
                for (creator, subject) in &pairs {
                    touched.profile(creator, ProfileCount::Follows, -1);
                    touched.profile(subject, ProfileCount::Followers, -1);
                }
            }
            other => {
                if let Some(sql) = plain_table_delete(other) {
                    sqlx::query(sql)
                        .bind(&of_collection)
                        .execute(&mut *conn)
                        .await
                        .step("deleting typed rows")?;
                }
            }
        }
    }
    sqlx::query("DELETE FROM duplicate_record WHERE uri = ANY($1)")
        .bind(uris)
        .execute(&mut *conn)
        .await
        .step("deleting duplicate_record rows")?;
    Ok(())
}

async fn remove_posts(
    conn: &mut PgConnection,
    uris: &[String],
    touched: &mut Touched,
) -> Result<(), ApplyError> {
    let posts: Vec<(String, Option<String>)> =
        sqlx::query_as(r#"DELETE FROM post WHERE uri = ANY($1) RETURNING creator, "replyParent""#)
            .bind(uris)
            .fetch_all(&mut *conn)
            .await
            .step("deleting post rows")?;
    for (creator, parent) in &posts {
        touched.profile(creator, ProfileCount::Posts, -1);
        touched.post(parent.as_deref(), PostCount::Reply, -1);
    }
    let quoted: Vec<(String,)> =
        sqlx::query_as("DELETE FROM quote WHERE uri = ANY($1) RETURNING subject")
            .bind(uris)
            .fetch_all(&mut *conn)
            .await
            .step("deleting quote rows")?;
    quoted
        .iter()
        .for_each(|(s,)| touched.post(Some(s), PostCount::Quote, -1));
    for sql in [
        // Reposts' feed items go with the post, as the reference's post deleteFn does.
        r#"DELETE FROM feed_item WHERE "postUri" = ANY($1)"#,
        r#"DELETE FROM post_embed_image WHERE "postUri" = ANY($1)"#,
        r#"DELETE FROM post_embed_external WHERE "postUri" = ANY($1)"#,
        r#"DELETE FROM post_embed_record WHERE "postUri" = ANY($1)"#,
        r#"DELETE FROM post_embed_video WHERE "postUri" = ANY($1)"#,
    ] {
        sqlx::query(sql)
            .bind(uris)
            .execute(&mut *conn)
            .await
            .step("deleting post embeds and feed items")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_is_the_second_path_segment() {
        assert_eq!(
            collection_of("at://did:plc:a/app.bsky.feed.like/3k"),
            Some("app.bsky.feed.like")
        );
        assert_eq!(collection_of("did:plc:a"), None);
        assert_eq!(collection_of("at://did:plc:a"), None);
    }
}
