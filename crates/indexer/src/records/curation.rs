//! Records that curate other accounts or feeds: lists, starter packs and feed generators.

use super::Source;
use super::error::InvalidRecord;
use super::fields::{Len, Object, clean_json};

/// A row of `list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `name`.
    pub name: String,
    /// `purpose`: e.g. `app.bsky.graph.defs#modlist`, as written.
    pub purpose: String,
    /// `description`.
    pub description: Option<String>,
    /// `descriptionFacets`: the facets array as JSON text.
    pub description_facets: Option<String>,
    /// `avatarCid`.
    pub avatar_cid: Option<String>,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// A row of `starter_pack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StarterPackRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `name`.
    pub name: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// A row of `feed_generator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedGeneratorRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `feedDid`: the service that generates the feed.
    pub feed_did: String,
    /// `displayName` (required by the lexicon, nullable in the table).
    pub display_name: String,
    /// `description`.
    pub description: Option<String>,
    /// `descriptionFacets`: the facets array as JSON text.
    pub description_facets: Option<String>,
    /// `avatarCid`.
    pub avatar_cid: Option<String>,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// The facets array as the reference stores it (`JSON.stringify`), without `\u0000`.
fn facets_json(obj: &Object<'_>) -> Result<Option<String>, InvalidRecord> {
    Ok(obj.array("descriptionFacets", Len::ANY)?.map(|facets| {
        serde_json::Value::Array(facets.iter().map(clean_json).collect()).to_string()
    }))
}

pub(crate) fn list(source: &Source<'_>, obj: &Object<'_>) -> Result<ListRow, InvalidRecord> {
    Ok(ListRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        name: obj.req_text("name", Len::between(1, 64))?,
        purpose: obj.req_text("purpose", Len::ANY)?,
        description: obj.text("description", Len::max(3000))?,
        description_facets: facets_json(obj)?,
        avatar_cid: obj.blob_cid("avatar")?,
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn starter_pack(
    source: &Source<'_>,
    obj: &Object<'_>,
) -> Result<StarterPackRow, InvalidRecord> {
    // Not stored, but required: a pack without a list is not a starter pack.
    obj.req_at_uri("list")?;
    Ok(StarterPackRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        name: obj.req_text("name", Len::between(1, 500))?,
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn feed_generator(
    source: &Source<'_>,
    obj: &Object<'_>,
) -> Result<FeedGeneratorRow, InvalidRecord> {
    Ok(FeedGeneratorRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        feed_did: obj.req_did("did")?,
        display_name: obj.req_text("displayName", Len::max(240))?,
        description: obj.text("description", Len::max(3000))?,
        description_facets: facets_json(obj)?,
        avatar_cid: obj.blob_cid("avatar")?,
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{
        CID, CREATED, DID, INDEXED_AT, OTHER, map, other_uri, reason,
    };
    use crate::records::{InvalidReason, Rows};
    use serde_json::{Value, json};

    #[test]
    fn list_with_facets_and_avatar() {
        let c = "app.bsky.graph.list";
        let facets = json!([{"index": {"byteStart": 0, "byteEnd": 1},
                             "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": "x\u{0}"}]}]);
        let record = json!({"$type": c, "name": "Mods", "purpose": "app.bsky.graph.defs#modlist",
            "description": "d", "descriptionFacets": facets,
            "avatar": {"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 1},
            "createdAt": CREATED});
        assert_eq!(
            map(c, record),
            Ok(Rows::List(ListRow {
                uri: format!("at://{DID}/{c}/3k2a"),
                cid: CID.into(),
                creator: DID.into(),
                name: "Mods".into(),
                purpose: "app.bsky.graph.defs#modlist".into(),
                description: Some("d".into()),
                description_facets: Some(
                    r#"[{"index":{"byteStart":0,"byteEnd":1},"features":[{"$type":"app.bsky.richtext.facet#tag","tag":"x"}]}]"#
                        .into()
                ),
                avatar_cid: Some(CID.into()),
                created_at: "2024-01-01T00:00:00.000Z".into(),
                indexed_at: INDEXED_AT.into(),
            }))
        );
    }

    #[test]
    fn invalid_lists() {
        let c = "app.bsky.graph.list";
        let base = |name: Value| {
            json!({"$type": c, "name": name,
            "purpose": "app.bsky.graph.defs#curatelist", "createdAt": CREATED})
        };
        assert_eq!(
            reason(c, base(json!(""))),
            Some((InvalidReason::BadLength, "name".into()))
        );
        assert_eq!(
            reason(c, base(json!("x".repeat(65)))),
            Some((InvalidReason::BadLength, "name".into()))
        );
        assert_eq!(
            reason(c, base(json!(["x"]))),
            Some((InvalidReason::WrongType, "name".into()))
        );
        assert_eq!(
            reason(c, json!({"$type": c, "name": "x", "createdAt": CREATED})),
            Some((InvalidReason::MissingField, "purpose".into()))
        );
    }

    #[test]
    fn starter_pack() {
        let c = "app.bsky.graph.starterpack";
        let list = format!("at://{DID}/app.bsky.graph.list/3jaa");
        let Ok(Rows::StarterPack(row)) = map(
            c,
            json!({"$type": c, "name": "Pack", "list": list, "createdAt": CREATED}),
        ) else {
            panic!("not a starter pack");
        };
        assert_eq!(
            (row.name.as_str(), row.created_at.as_str()),
            ("Pack", "2024-01-01T00:00:00.000Z")
        );
        assert_eq!(
            reason(c, json!({"$type": c, "name": "Pack", "createdAt": CREATED})),
            Some((InvalidReason::MissingField, "list".into()))
        );
    }

    #[test]
    fn feed_generator() {
        let c = "app.bsky.feed.generator";
        let Ok(Rows::FeedGenerator(row)) = map(
            c,
            json!({"$type": c, "did": "did:web:feed.example.com", "displayName": "Feed",
                          "createdAt": CREATED}),
        ) else {
            panic!("not a feed generator");
        };
        assert_eq!(row.feed_did, "did:web:feed.example.com");
        assert_eq!(
            (row.description, row.description_facets, row.avatar_cid),
            (None, None, None)
        );
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "did": other_uri("x.y.z", "a"), "displayName": "F",
                             "createdAt": CREATED})
            ),
            Some((InvalidReason::BadFormat, "did".into()))
        );
        assert_eq!(
            reason(c, json!({"$type": c, "did": OTHER, "createdAt": CREATED})),
            Some((InvalidReason::MissingField, "displayName".into()))
        );
    }
}
