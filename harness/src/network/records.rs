//! The lexicon record builders: each returns a record's collection, key and atproto JSON.
//!
//! Records are shaped like the reference PDS's (`fixtures/realpds/`): `$type` first-class,
//! `createdAt` in the canonical format, strong references (`{uri, cid}`) pointing at posts that
//! really exist (anchor posts), blobs as `{"$type": "blob", "ref": {"$link"}, …}`.

use std::time::{Duration, UNIX_EPOCH};

use protocol::data_model::cid_for_raw;
use protocol::syntax::{Tid, format_millis_z};
use rand::Rng;
use serde_json::{Value, json};

use super::text::{Mention, post_text, words};
use super::{Account, Network, Slot, StrongRef};

/// A record before encoding: where it goes and what it says.
#[derive(Debug, Clone)]
pub struct RecordDraft {
    /// The collection NSID.
    pub collection: String,
    /// The record key.
    pub rkey: String,
    /// The record, in the atproto JSON data model.
    pub value: Value,
}

/// What a record may point at while it is built.
pub(crate) struct Context<'a> {
    /// The network (accounts, anchors, lists).
    pub net: &'a Network,
    /// The author.
    pub account: &'a Account,
    /// When the record is written, Unix microseconds.
    pub micros: u64,
    /// Anchor posts may only point at their own account's anchor 0, never at other accounts.
    pub anchor0: Option<&'a StrongRef>,
}

impl Context<'_> {
    fn created_at(&self) -> String {
        format_millis_z(UNIX_EPOCH + Duration::from_micros(self.micros))
    }

    fn tid(&self) -> String {
        Tid::new(self.micros, self.account.clock_id).into_string()
    }

    fn random_did(&self, rng: &mut impl Rng) -> String {
        let accounts = self.net.accounts();
        let pick = rng.gen_range(0..accounts.len());
        accounts
            .get(pick)
            .map_or_else(|| self.account.did.clone(), |a| a.did.clone())
    }
}

/// The record of structural slot `slot` (`Slot::Mixed` draws from the mix).
pub(crate) fn slot_record(ctx: &Context<'_>, slot: Slot, rng: &mut impl Rng) -> RecordDraft {
    let created_at = ctx.created_at();
    let draft = |collection: &str, rkey: String, value: Value| RecordDraft {
        collection: collection.to_owned(),
        rkey,
        value,
    };
    match slot {
        Slot::Profile => {
            let mut value = json!({
                "$type": "app.bsky.actor.profile",
                "displayName": words(rng, 2),
                "description": words(rng, 8),
                "createdAt": created_at,
            });
            if rng.gen_bool(0.6) {
                value["avatar"] = blob(rng, "image/jpeg");
            }
            draft("app.bsky.actor.profile", "self".into(), value)
        }
        Slot::Declaration => draft(
            "chat.bsky.actor.declaration",
            "self".into(),
            json!({"$type": "chat.bsky.actor.declaration", "allowIncoming": "following"}),
        ),
        Slot::LabelerService => draft(
            "app.bsky.labeler.service",
            "self".into(),
            json!({
                "$type": "app.bsky.labeler.service",
                "policies": {"labelValues": ["spam", "rude", "!warn"]},
                "createdAt": created_at,
            }),
        ),
        Slot::Anchor(j) => {
            let reply = match ctx.anchor0 {
                Some(root) if j % 2 == 1 => Some((root.clone(), root.clone())),
                _ => None,
            };
            draft(
                "app.bsky.feed.post",
                ctx.tid(),
                post(ctx, rng, reply, false),
            )
        }
        Slot::List => {
            let purpose = if rng.gen_bool(0.7) {
                "app.bsky.graph.defs#curatelist"
            } else {
                "app.bsky.graph.defs#modlist"
            };
            draft(
                "app.bsky.graph.list",
                ctx.tid(),
                json!({
                    "$type": "app.bsky.graph.list",
                    "purpose": purpose,
                    "name": words(rng, 2),
                    "description": words(rng, 6),
                    "createdAt": created_at,
                }),
            )
        }
        Slot::Generator => draft(
            "app.bsky.feed.generator",
            ctx.tid(),
            json!({
                "$type": "app.bsky.feed.generator",
                "did": "did:web:feeds.test",
                "displayName": words(rng, 2),
                "description": words(rng, 6),
                "createdAt": created_at,
            }),
        ),
        Slot::StarterPack => {
            let mut value = json!({
                "$type": "app.bsky.graph.starterpack",
                "name": words(rng, 3),
                "createdAt": created_at,
            });
            if let Some(list) = ctx.net.list_uri(ctx.account.index) {
                value["list"] = Value::String(list);
            }
            if let Some(feed) = ctx.net.generator_uri(ctx.account.index) {
                value["feeds"] = json!([{"uri": feed}]);
            }
            draft("app.bsky.graph.starterpack", ctx.tid(), value)
        }
        Slot::Threadgate | Slot::Postgate => gate(ctx, slot, created_at),
        Slot::ListBlock => match ctx.net.random_list_uri(rng) {
            Some(list) => draft(
                "app.bsky.graph.listblock",
                ctx.tid(),
                json!({
                    "$type": "app.bsky.graph.listblock",
                    "subject": list,
                    "createdAt": created_at,
                }),
            ),
            None => mixed(ctx, rng),
        },
        Slot::Mixed => mixed(ctx, rng),
    }
}

/// A record drawn from the network-wide mix: likes most, then posts, follows and reposts.
pub(crate) fn mixed(ctx: &Context<'_>, rng: &mut impl Rng) -> RecordDraft {
    let created_at = ctx.created_at();
    let rkey = ctx.tid();
    let roll: f64 = rng.r#gen();
    let subject = ctx.net.random_anchor(rng);
    let (collection, value) = match (roll, subject) {
        (r, Some(subject)) if r < 0.42 => (
            "app.bsky.feed.like",
            json!({"$type": "app.bsky.feed.like", "subject": subject.to_json(), "createdAt": created_at}),
        ),
        (r, _) if r < 0.67 => {
            let reply = if rng.gen_bool(0.2) {
                ctx.net.random_thread(rng)
            } else {
                None
            };
            ("app.bsky.feed.post", post(ctx, rng, reply, true))
        }
        (r, _) if r < 0.83 => (
            "app.bsky.graph.follow",
            json!({"$type": "app.bsky.graph.follow", "subject": ctx.random_did(rng), "createdAt": created_at}),
        ),
        (r, Some(subject)) if r < 0.92 => (
            "app.bsky.feed.repost",
            json!({"$type": "app.bsky.feed.repost", "subject": subject.to_json(), "createdAt": created_at}),
        ),
        (r, _) if r < 0.94 => (
            "app.bsky.graph.block",
            json!({"$type": "app.bsky.graph.block", "subject": ctx.random_did(rng), "createdAt": created_at}),
        ),
        (r, _) if r < 0.98 => match ctx.net.list_uri(ctx.account.index) {
            Some(list) => (
                "app.bsky.graph.listitem",
                json!({
                    "$type": "app.bsky.graph.listitem",
                    "subject": ctx.random_did(rng),
                    "list": list,
                    "createdAt": created_at,
                }),
            ),
            None => (
                "app.bsky.graph.follow",
                json!({"$type": "app.bsky.graph.follow", "subject": ctx.random_did(rng), "createdAt": created_at}),
            ),
        },
        _ => (
            // A third-party collection: the indexer keeps it in `record` only.
            "xyz.statusphere.status",
            json!({"$type": "xyz.statusphere.status", "status": "🦋", "createdAt": created_at}),
        ),
    };
    RecordDraft {
        collection: collection.to_owned(),
        rkey,
        value,
    }
}

/// A post. `refs` allows embeds of other posts; anchor posts are built without, so that their
/// CIDs can be computed before any other record exists.
fn post(
    ctx: &Context<'_>,
    rng: &mut impl Rng,
    reply: Option<(StrongRef, StrongRef)>,
    refs: bool,
) -> Value {
    let mention = if rng.gen_bool(0.2) {
        let accounts = ctx.net.accounts();
        accounts
            .get(rng.gen_range(0..accounts.len()))
            .map(|a| Mention {
                handle: &a.handle,
                did: &a.did,
            })
    } else {
        None
    };
    let (text, facets) = post_text(rng, mention);
    let langs = match rng.gen_range(0..10) {
        0 => json!(["ja"]),
        1 => json!(["pt", "en"]),
        _ => json!(["en"]),
    };
    let mut value = json!({
        "$type": "app.bsky.feed.post",
        "text": text,
        "langs": langs,
        "createdAt": ctx.created_at(),
    });
    if !facets.is_empty() {
        value["facets"] = Value::Array(facets);
    }
    if let Some((root, parent)) = reply {
        value["reply"] = json!({"root": root.to_json(), "parent": parent.to_json()});
    }
    let roll: f64 = rng.r#gen();
    let quoted = if refs {
        ctx.net.random_anchor(rng)
    } else {
        None
    };
    let embed = match (roll, quoted) {
        (r, _) if r < 0.10 => Some(images(rng)),
        (r, _) if r < 0.15 => Some(external(rng)),
        (r, Some(quoted)) if r < 0.22 => Some(json!({
            "$type": "app.bsky.embed.record",
            "record": quoted.to_json(),
        })),
        (r, Some(quoted)) if r < 0.25 => Some(json!({
            "$type": "app.bsky.embed.recordWithMedia",
            "record": {"$type": "app.bsky.embed.record", "record": quoted.to_json()},
            "media": images(rng),
        })),
        _ => None,
    };
    if let Some(embed) = embed {
        value["embed"] = embed;
    }
    value
}

/// A thread gate or post gate on the account's anchor 0 (same rkey as the post).
fn gate(ctx: &Context<'_>, slot: Slot, created_at: String) -> RecordDraft {
    let Some(post) = ctx.anchor0 else {
        // Plans put gates only after anchor 0; without it the slot is a profile-less follow.
        return RecordDraft {
            collection: "app.bsky.graph.follow".into(),
            rkey: ctx.tid(),
            value: json!({"$type": "app.bsky.graph.follow", "subject": ctx.account.did, "createdAt": created_at}),
        };
    };
    let rkey = post.uri.rsplit('/').next().unwrap_or_default().to_owned();
    if slot == Slot::Threadgate {
        RecordDraft {
            collection: "app.bsky.feed.threadgate".into(),
            rkey,
            value: json!({
                "$type": "app.bsky.feed.threadgate",
                "post": post.uri,
                "allow": [
                    {"$type": "app.bsky.feed.threadgate#mentionRule"},
                    {"$type": "app.bsky.feed.threadgate#followingRule"},
                ],
                "createdAt": created_at,
            }),
        }
    } else {
        RecordDraft {
            collection: "app.bsky.feed.postgate".into(),
            rkey,
            value: json!({
                "$type": "app.bsky.feed.postgate",
                "post": post.uri,
                "embeddingRules": [{"$type": "app.bsky.feed.postgate#disableRule"}],
                "createdAt": created_at,
            }),
        }
    }
}

/// An `app.bsky.embed.images` with one to four images.
fn images(rng: &mut impl Rng) -> Value {
    let count = rng.gen_range(1..=4);
    let images: Vec<Value> = (0..count)
        .map(|_| {
            json!({
                "alt": words(rng, 3),
                "image": blob(rng, "image/jpeg"),
                "aspectRatio": {"width": rng.gen_range(100..4000), "height": rng.gen_range(100..4000)},
            })
        })
        .collect();
    json!({"$type": "app.bsky.embed.images", "images": images})
}

/// An `app.bsky.embed.external` link card, sometimes with a thumbnail.
fn external(rng: &mut impl Rng) -> Value {
    let mut external = json!({
        "uri": format!("https://example.test/article/{}", rng.gen_range(0..100_000u32)),
        "title": words(rng, 4),
        "description": words(rng, 10),
    });
    if rng.gen_bool(0.5) {
        external["thumb"] = blob(rng, "image/png");
    }
    json!({"$type": "app.bsky.embed.external", "external": external})
}

/// A blob reference: a raw CID of seeded bytes, a MIME type and a size.
fn blob(rng: &mut impl Rng, mime: &str) -> Value {
    let seed: [u8; 16] = rng.r#gen();
    json!({
        "$type": "blob",
        "ref": {"$link": cid_for_raw(&seed).to_string()},
        "mimeType": mime,
        "size": rng.gen_range(1_000..2_000_000),
    })
}

/// A new version of `old` for an update: its text, names or status replaced (facets dropped, as
/// their offsets would no longer match). `None` when the record has nothing editable.
pub fn edited(old: &Value, rng: &mut impl Rng) -> Option<Value> {
    let mut value = old.clone();
    let object = value.as_object_mut()?;
    let mut changed = false;
    for field in ["text", "displayName", "name", "description", "status"] {
        if object.contains_key(field) {
            object.insert(field.to_owned(), Value::String(words(rng, 5)));
            changed = true;
        }
    }
    object.remove("facets");
    changed.then_some(value)
}
