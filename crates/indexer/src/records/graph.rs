//! Social-graph records: follows, blocks, list membership, list blocks and verifications, each
//! an edge from the author to a subject.

use super::Source;
use super::error::{InvalidReason, InvalidRecord};
use super::fields::{Len, Object};

/// A row of `follow`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `subjectDid`: the followed account.
    pub subject_did: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// A row of `actor_block` (same columns as a follow's).
pub type BlockRow = FollowRow;

/// A row of `list_item`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListItemRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `subjectDid`: the listed account.
    pub subject_did: String,
    /// `listUri`: the list, which must be the author's own.
    pub list_uri: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// A row of `list_block`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListBlockRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `subjectUri`: the blocked list.
    pub subject_uri: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// A row of `verification`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `rkey`.
    pub rkey: String,
    /// `creator`: the verifier.
    pub creator: String,
    /// `subject`: the verified account's DID.
    pub subject: String,
    /// `handle`: the handle verified, as written.
    pub handle: String,
    /// `displayName`: the display name verified.
    pub display_name: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

fn edge(source: &Source<'_>, obj: &Object<'_>) -> Result<FollowRow, InvalidRecord> {
    Ok(FollowRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        subject_did: obj.req_did("subject")?,
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn follow(source: &Source<'_>, obj: &Object<'_>) -> Result<FollowRow, InvalidRecord> {
    edge(source, obj)
}

pub(crate) fn block(source: &Source<'_>, obj: &Object<'_>) -> Result<BlockRow, InvalidRecord> {
    edge(source, obj)
}

pub(crate) fn list_item(
    source: &Source<'_>,
    obj: &Object<'_>,
) -> Result<ListItemRow, InvalidRecord> {
    let list = obj.req_at_uri("list")?;
    // The reference refuses to index an item placed in someone else's list.
    if list.authority().as_str() != source.did {
        return Err(InvalidRecord::new(
            InvalidReason::Mismatch,
            obj.at("list"),
            "the list belongs to another repo",
        ));
    }
    Ok(ListItemRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        subject_did: obj.req_did("subject")?,
        list_uri: list.as_str().to_owned(),
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn list_block(
    source: &Source<'_>,
    obj: &Object<'_>,
) -> Result<ListBlockRow, InvalidRecord> {
    Ok(ListBlockRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        subject_uri: obj.req_at_uri("subject")?.as_str().to_owned(),
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn verification(
    source: &Source<'_>,
    obj: &Object<'_>,
) -> Result<VerificationRow, InvalidRecord> {
    Ok(VerificationRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        rkey: source.rkey.to_owned(),
        creator: source.did.to_owned(),
        subject: obj.req_did("subject")?,
        handle: obj.req_handle("handle")?,
        display_name: obj.req_text("displayName", Len::ANY)?,
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
    use serde_json::json;

    #[test]
    fn follow_and_block() {
        let row = FollowRow {
            uri: format!("at://{DID}/app.bsky.graph.follow/3k2a"),
            cid: CID.into(),
            creator: DID.into(),
            subject_did: OTHER.into(),
            created_at: "2024-01-01T00:00:00.000Z".into(),
            indexed_at: INDEXED_AT.into(),
        };
        let follow =
            json!({"$type": "app.bsky.graph.follow", "subject": OTHER, "createdAt": CREATED});
        assert_eq!(
            map("app.bsky.graph.follow", follow),
            Ok(Rows::Follow(row.clone()))
        );
        let block =
            json!({"$type": "app.bsky.graph.block", "subject": OTHER, "createdAt": CREATED});
        let Ok(Rows::Block(b)) = map("app.bsky.graph.block", block) else {
            panic!("not a block");
        };
        assert_eq!(
            (b.subject_did, b.uri.ends_with("app.bsky.graph.block/3k2a")),
            (row.subject_did, true)
        );
    }

    #[test]
    fn invalid_follows() {
        let c = "app.bsky.graph.follow";
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "subject": "alice.test", "createdAt": CREATED})
            ),
            Some((InvalidReason::BadFormat, "subject".into()))
        );
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "subject": {"did": OTHER}, "createdAt": CREATED})
            ),
            Some((InvalidReason::WrongType, "subject".into()))
        );
        assert_eq!(
            reason(c, json!({"$type": c, "subject": OTHER})),
            Some((InvalidReason::MissingField, "createdAt".into()))
        );
    }

    #[test]
    fn list_item_must_be_in_own_list() {
        let c = "app.bsky.graph.listitem";
        let own = format!("at://{DID}/app.bsky.graph.list/3jaa");
        let Ok(Rows::ListItem(row)) = map(
            c,
            json!({"$type": c, "subject": OTHER, "list": own, "createdAt": CREATED}),
        ) else {
            panic!("not a list item");
        };
        assert_eq!((row.list_uri, row.subject_did), (own, OTHER.to_owned()));
        let foreign = other_uri("app.bsky.graph.list", "3jaa");
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "subject": OTHER, "list": foreign, "createdAt": CREATED})
            ),
            Some((InvalidReason::Mismatch, "list".into()))
        );
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "subject": OTHER, "createdAt": CREATED})
            ),
            Some((InvalidReason::MissingField, "list".into()))
        );
    }

    #[test]
    fn list_block() {
        let c = "app.bsky.graph.listblock";
        let list = other_uri("app.bsky.graph.list", "3jaa");
        let Ok(Rows::ListBlock(row)) = map(
            c,
            json!({"$type": c, "subject": list, "createdAt": CREATED}),
        ) else {
            panic!("not a list block");
        };
        assert_eq!(row.subject_uri, list);
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "subject": "https://x", "createdAt": CREATED})
            ),
            Some((InvalidReason::BadFormat, "subject".into()))
        );
    }

    #[test]
    fn verification() {
        let c = "app.bsky.graph.verification";
        let ok = json!({"$type": c, "subject": OTHER, "handle": "Alice.Test",
                        "displayName": "Alice\u{0}", "createdAt": CREATED});
        let Ok(Rows::Verification(row)) = map(c, ok) else {
            panic!("not a verification");
        };
        assert_eq!(
            (
                row.rkey.as_str(),
                row.handle.as_str(),
                row.display_name.as_str()
            ),
            ("3k2a", "Alice.Test", "Alice")
        );
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "subject": OTHER, "handle": "not a handle",
                             "displayName": "A", "createdAt": CREATED})
            ),
            Some((InvalidReason::BadFormat, "handle".into()))
        );
        assert_eq!(
            reason(
                c,
                json!({"$type": c, "subject": OTHER, "handle": "a.test", "createdAt": CREATED})
            ),
            Some((InvalidReason::MissingField, "displayName".into()))
        );
    }
}
