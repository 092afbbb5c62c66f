//! A post's embed: images, a video, an external link card, a quoted record, or a quoted record
//! with media (which the reference splits into its record part and its media part).
//!
//! The embed is an open union: an object whose `$type` names none of the known embeds yields no
//! rows, as in the reference; a known one must be well-formed or the whole post is invalid.

use super::error::{InvalidReason, InvalidRecord};
use protocol::syntax::AtUri;

use super::fields::{Len, Object};

const IMAGES: &str = "app.bsky.embed.images";
const VIDEO: &str = "app.bsky.embed.video";
const EXTERNAL: &str = "app.bsky.embed.external";
const RECORD: &str = "app.bsky.embed.record";
const RECORD_WITH_MEDIA: &str = "app.bsky.embed.recordWithMedia";
const POST: &str = "app.bsky.feed.post";

/// The embed rows of one post (at most one of each kind but images).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Embeds {
    /// `post_embed_image` rows, in order.
    pub images: Vec<EmbedImageRow>,
    /// The `post_embed_external` row.
    pub external: Option<EmbedExternalRow>,
    /// The `post_embed_record` row.
    pub record: Option<EmbedRecordRow>,
    /// The `post_embed_video` row.
    pub video: Option<EmbedVideoRow>,
}

/// A row of `post_embed_image`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedImageRow {
    /// `postUri`.
    pub post_uri: String,
    /// `position`: the index in the images array, as text (the column is varchar).
    pub position: String,
    /// `imageCid`: the image blob's CID.
    pub image_cid: String,
    /// `alt`.
    pub alt: String,
}

/// A row of `post_embed_external`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedExternalRow {
    /// `postUri`.
    pub post_uri: String,
    /// `uri`: the linked page.
    pub uri: String,
    /// `title`.
    pub title: String,
    /// `description`.
    pub description: String,
    /// `thumbCid`: the thumbnail blob's CID.
    pub thumb_cid: Option<String>,
}

/// A row of `post_embed_record`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedRecordRow {
    /// `postUri`.
    pub post_uri: String,
    /// `embedUri`: the quoted record.
    pub embed_uri: String,
    /// `embedCid`.
    pub embed_cid: String,
}

/// A row of `post_embed_video`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedVideoRow {
    /// `postUri`.
    pub post_uri: String,
    /// `videoCid`: the video blob's CID.
    pub video_cid: String,
    /// `alt` (optional for videos, unlike images).
    pub alt: Option<String>,
}

/// The embed rows of the post at `post_uri`, from its record.
pub(crate) fn parse(post_uri: &str, post: &Object<'_>) -> Result<Embeds, InvalidRecord> {
    let mut embeds = Embeds::default();
    let Some(embed) = post.object("embed")? else {
        return Ok(embeds);
    };
    let kind = embed.need(embed.type_name()?, "$type")?;
    match kind {
        RECORD_WITH_MEDIA => {
            let record = embed.need(embed.object("record")?, "record")?;
            embeds.record = Some(record_row(post_uri, &record)?);
            let media = embed.need(embed.object("media")?, "media")?;
            let media_kind = media.need(media.type_name()?, "$type")?;
            media_rows(post_uri, media_kind, &media, &mut embeds)?;
        }
        RECORD => embeds.record = Some(record_row(post_uri, &embed)?),
        other => media_rows(post_uri, other, &embed, &mut embeds)?,
    }
    Ok(embeds)
}

/// The record embed, if it quotes a post (a quote of a list or a feed is not a `quote`).
pub(crate) fn quoted_post(embeds: &Embeds) -> Option<&EmbedRecordRow> {
    let row = embeds.record.as_ref()?;
    let uri: AtUri = row.embed_uri.parse().ok()?;
    (uri.collection()?.as_str() == POST).then_some(row)
}

fn record_row(post_uri: &str, embed: &Object<'_>) -> Result<EmbedRecordRow, InvalidRecord> {
    let target = embed.req_strong_ref("record")?;
    Ok(EmbedRecordRow {
        post_uri: post_uri.to_owned(),
        embed_uri: target.uri.as_str().to_owned(),
        embed_cid: target.cid,
    })
}

fn media_rows(
    post_uri: &str,
    kind: &str,
    media: &Object<'_>,
    embeds: &mut Embeds,
) -> Result<(), InvalidRecord> {
    match kind {
        IMAGES => {
            let images = media.need(media.array("images", Len::max(4))?, "images")?;
            for (i, image) in images.iter().enumerate() {
                let image = Object::new(image, format!("{}[{i}]", media.at("images")))?;
                embeds.images.push(EmbedImageRow {
                    post_uri: post_uri.to_owned(),
                    position: i.to_string(),
                    image_cid: image.need(image.blob_cid("image")?, "image")?,
                    alt: image.req_text("alt", Len::ANY)?,
                });
            }
        }
        VIDEO => {
            embeds.video = Some(EmbedVideoRow {
                post_uri: post_uri.to_owned(),
                video_cid: media.need(media.blob_cid("video")?, "video")?,
                alt: media.text("alt", Len::max(10_000))?,
            });
        }
        EXTERNAL => {
            let external = media.need(media.object("external")?, "external")?;
            let uri = external.req_text("uri", Len::ANY)?;
            if uri.is_empty() {
                return Err(InvalidRecord::new(
                    InvalidReason::BadFormat,
                    external.at("uri"),
                    "not a URI",
                ));
            }
            embeds.external = Some(EmbedExternalRow {
                post_uri: post_uri.to_owned(),
                uri,
                title: external.req_text("title", Len::ANY)?,
                description: external.req_text("description", Len::ANY)?,
                thumb_cid: external.blob_cid("thumb")?,
            });
        }
        // An embed type this system does not know: the union is open, nothing to index.
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{CID, OTHER};
    use serde_json::{Value, json};

    const POST_URI: &str = "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3k2a";

    fn blob() -> Value {
        json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/jpeg", "size": 10})
    }

    fn embeds_of(embed: Value) -> Result<Embeds, InvalidRecord> {
        let post = json!({ "embed": embed });
        parse(POST_URI, &Object::new(&post, "$")?)
    }

    fn quote_ref() -> Value {
        json!({"uri": format!("at://{OTHER}/app.bsky.feed.post/3k2b"), "cid": CID})
    }

    #[test]
    fn images_keep_their_positions() -> Result<(), InvalidRecord> {
        let e = embeds_of(json!({"$type": IMAGES, "images": [
            {"image": blob(), "alt": "one"},
            {"image": blob(), "alt": "two\u{0}"},
        ]}))?;
        let rows: Vec<(&str, &str)> = e
            .images
            .iter()
            .map(|r| (r.position.as_str(), r.alt.as_str()))
            .collect();
        assert_eq!(rows, vec![("0", "one"), ("1", "two")]);
        assert_eq!(e.images[0].image_cid, CID);
        Ok(())
    }

    #[test]
    fn external_video_and_record_embeds() -> Result<(), InvalidRecord> {
        let e = embeds_of(json!({"$type": EXTERNAL, "external":
            {"uri": "https://example.com", "title": "t", "description": "d", "thumb": blob()}}))?;
        assert_eq!(
            e.external.map(|x| (x.uri, x.thumb_cid)),
            Some(("https://example.com".into(), Some(CID.into())))
        );

        let e = embeds_of(json!({"$type": VIDEO, "video": blob()}))?;
        assert_eq!(
            e.video.map(|v| (v.video_cid, v.alt)),
            Some((CID.into(), None))
        );

        let e = embeds_of(json!({"$type": RECORD, "record": quote_ref()}))?;
        assert_eq!(e.record.as_ref().map(|r| r.embed_cid.as_str()), Some(CID));
        assert!(quoted_post(&e).is_some());
        let e = embeds_of(json!({"$type": RECORD, "record":
            {"uri": format!("at://{OTHER}/app.bsky.graph.list/3k2b"), "cid": CID}}))?;
        assert!(e.record.is_some() && quoted_post(&e).is_none());
        Ok(())
    }

    #[test]
    fn record_with_media_yields_both_parts() -> Result<(), InvalidRecord> {
        let e = embeds_of(json!({"$type": RECORD_WITH_MEDIA,
            "record": {"$type": RECORD, "record": quote_ref()},
            "media": {"$type": IMAGES, "images": [{"image": blob(), "alt": ""}]}}))?;
        assert!(e.record.is_some());
        assert_eq!(e.images.len(), 1);
        Ok(())
    }

    #[test]
    fn unknown_embed_types_yield_nothing() -> Result<(), InvalidRecord> {
        assert_eq!(
            embeds_of(json!({"$type": "com.example.embed", "x": 1}))?,
            Embeds::default()
        );
        Ok(())
    }

    #[test]
    fn malformed_embeds_are_invalid() {
        let reason = |v: Value| embeds_of(v).err().map(|e| (e.reason, e.path));
        assert_eq!(
            reason(json!({"images": []})),
            Some((InvalidReason::MissingField, "embed.$type".into()))
        );
        assert_eq!(
            reason(json!({"$type": IMAGES, "images": [{"image": blob()}]})),
            Some((InvalidReason::MissingField, "embed.images[0].alt".into()))
        );
        let five = vec![json!({"image": blob(), "alt": ""}); 5];
        assert_eq!(
            reason(json!({"$type": IMAGES, "images": five})).map(|r| r.0),
            Some(InvalidReason::BadLength)
        );
        assert_eq!(
            reason(json!({"$type": RECORD, "record": {"uri": "not-a-uri", "cid": CID}})),
            Some((InvalidReason::BadFormat, "embed.record.uri".into()))
        );
        assert_eq!(
            reason(json!({"$type": VIDEO, "video": {"$type": "blob", "ref": {"$link": "x"}, "mimeType": "video/mp4"}})).map(|r| r.0),
            Some(InvalidReason::BadFormat)
        );
        assert_eq!(
            reason(json!("x")).map(|r| r.0),
            Some(InvalidReason::NotAnObject)
        );
    }
}
