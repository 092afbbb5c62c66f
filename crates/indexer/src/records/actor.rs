//! Per-account singleton records (record key `self`): the profile and the labeler declaration.
//! A record of these collections under any other key is not indexed, as in the reference.

use super::Source;
use super::error::{InvalidReason, InvalidRecord};
use super::fields::{Len, Object};

/// A row of `profile`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `displayName`.
    pub display_name: Option<String>,
    /// `description`.
    pub description: Option<String>,
    /// `avatarCid`.
    pub avatar_cid: Option<String>,
    /// `bannerCid`.
    pub banner_cid: Option<String>,
    /// `joinedViaStarterPackUri`.
    pub joined_via_starter_pack_uri: Option<String>,
    /// `pinnedPost`.
    pub pinned_post: Option<String>,
    /// `pinnedPostCid`.
    pub pinned_post_cid: Option<String>,
    /// `createdAt`, normalised; `indexedAt` when the record has none (the reference uses the
    /// wall clock, which would make a replay write a different row).
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

/// A row of `labeler`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelerRow {
    /// `uri`.
    pub uri: String,
    /// `cid`.
    pub cid: String,
    /// `creator`.
    pub creator: String,
    /// `createdAt`, normalised.
    pub created_at: String,
    /// `indexedAt`.
    pub indexed_at: String,
}

fn require_self(source: &Source<'_>) -> Result<(), InvalidRecord> {
    if source.rkey == "self" {
        Ok(())
    } else {
        Err(InvalidRecord::new(
            InvalidReason::Mismatch,
            "$",
            "this collection's only record key is `self`",
        ))
    }
}

pub(crate) fn profile(source: &Source<'_>, obj: &Object<'_>) -> Result<ProfileRow, InvalidRecord> {
    require_self(source)?;
    let joined = obj.strong_ref("joinedViaStarterPack")?;
    let pinned = obj.strong_ref("pinnedPost")?;
    Ok(ProfileRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        display_name: obj.text("displayName", Len::max(640))?,
        description: obj.text("description", Len::max(2560))?,
        avatar_cid: obj.blob_cid("avatar")?,
        banner_cid: obj.blob_cid("banner")?,
        joined_via_starter_pack_uri: joined.map(|j| j.uri.as_str().to_owned()),
        pinned_post: pinned.as_ref().map(|p| p.uri.as_str().to_owned()),
        pinned_post_cid: pinned.map(|p| p.cid),
        created_at: obj
            .datetime("createdAt")?
            .unwrap_or_else(|| source.indexed_at.to_owned()),
        indexed_at: source.indexed_at.to_owned(),
    })
}

pub(crate) fn labeler(source: &Source<'_>, obj: &Object<'_>) -> Result<LabelerRow, InvalidRecord> {
    require_self(source)?;
    let policies = obj.need(obj.object("policies")?, "policies")?;
    policies.need(policies.array("labelValues", Len::ANY)?, "labelValues")?;
    Ok(LabelerRow {
        uri: source.uri(),
        cid: source.cid.to_owned(),
        creator: source.did.to_owned(),
        created_at: obj.req_datetime("createdAt")?,
        indexed_at: source.indexed_at.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::test_support::{CID, DID, INDEXED_AT, other_uri, source};
    use crate::records::{Rows, map_record};
    use serde_json::{Value, json};

    const PROFILE: &str = "app.bsky.actor.profile";
    const LABELER: &str = "app.bsky.labeler.service";

    fn map(collection: &str, rkey: &str, record: Value) -> Result<Rows, InvalidRecord> {
        map_record(&source(collection, rkey), &record)
    }

    #[test]
    fn full_profile() {
        let pack = other_uri("app.bsky.graph.starterpack", "3jaa");
        let pinned = format!("at://{DID}/app.bsky.feed.post/3jab");
        let blob =
            json!({"$type": "blob", "ref": {"$link": CID}, "mimeType": "image/png", "size": 1});
        let record = json!({"$type": PROFILE, "displayName": "Al\u{0}ice", "description": "hi",
            "avatar": blob, "banner": {"cid": CID, "mimeType": "image/jpeg"},
            "joinedViaStarterPack": {"uri": pack, "cid": CID},
            "pinnedPost": {"uri": pinned, "cid": CID},
            "createdAt": "2024-01-01T00:00:00.1Z"});
        assert_eq!(
            map(PROFILE, "self", record),
            Ok(Rows::Profile(ProfileRow {
                uri: format!("at://{DID}/{PROFILE}/self"),
                cid: CID.into(),
                creator: DID.into(),
                display_name: Some("Alice".into()),
                description: Some("hi".into()),
                avatar_cid: Some(CID.into()),
                banner_cid: Some(CID.into()),
                joined_via_starter_pack_uri: Some(pack),
                pinned_post: Some(pinned),
                pinned_post_cid: Some(CID.into()),
                created_at: "2024-01-01T00:00:00.100Z".into(),
                indexed_at: INDEXED_AT.into(),
            }))
        );
    }

    #[test]
    fn empty_profile_takes_indexed_at() {
        let Ok(Rows::Profile(row)) = map(PROFILE, "self", json!({"$type": PROFILE})) else {
            panic!("not a profile");
        };
        assert_eq!(row.created_at, INDEXED_AT);
        assert_eq!((row.display_name, row.avatar_cid), (None, None));
    }

    #[test]
    fn invalid_profiles() {
        let reason = |rkey: &str, v: Value| map(PROFILE, rkey, v).err().map(|e| (e.reason, e.path));
        assert_eq!(
            reason("3k2a", json!({"$type": PROFILE})),
            Some((InvalidReason::Mismatch, "$".into()))
        );
        assert_eq!(
            reason(
                "self",
                json!({"$type": PROFILE, "displayName": "x".repeat(641)})
            ),
            Some((InvalidReason::BadLength, "displayName".into()))
        );
        assert_eq!(
            reason("self", json!({"$type": PROFILE, "avatar": "bafy"})),
            Some((InvalidReason::NotAnObject, "avatar".into()))
        );
        assert_eq!(
            reason(
                "self",
                json!({"$type": PROFILE, "createdAt": "2024-13-01T00:00:00Z"})
            ),
            Some((InvalidReason::BadDatetime, "createdAt".into()))
        );
    }

    #[test]
    fn labeler() {
        let record = json!({"$type": LABELER, "policies": {"labelValues": ["spam"]},
                            "createdAt": "2024-01-01T00:00:00Z"});
        let Ok(Rows::Labeler(row)) = map(LABELER, "self", record.clone()) else {
            panic!("not a labeler");
        };
        assert_eq!(row.created_at, "2024-01-01T00:00:00.000Z");
        assert_eq!(
            map(LABELER, "3k2a", record).err().map(|e| e.reason),
            Some(InvalidReason::Mismatch)
        );
        assert_eq!(
            map(
                LABELER,
                "self",
                json!({"$type": LABELER, "policies": {},
                                        "createdAt": "2024-01-01T00:00:00Z"})
            )
            .err()
            .map(|e| (e.reason, e.path)),
            Some((InvalidReason::MissingField, "policies.labelValues".into()))
        );
    }
}
