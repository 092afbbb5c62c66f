//! A deterministic synthetic repository shaped like a heavy real one: mostly likes, then posts,
//! reposts and follows, with TID record keys and realistic record sizes. Shared by the `big_repo`
//! example and the `repo_load` benchmark.

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::crypto::{KeyKind, Keypair};
use protocol::repo::{BuiltRepo, RepoBuilder};

/// The synthetic account.
pub const DID: &str = "did:plc:synthsynthsynthsynthsynt";

/// The key that signs synthetic repositories.
pub fn keypair() -> Keypair {
    // A fixed secret: the output must be byte-identical run after run.
    Keypair::from_secret_bytes(KeyKind::K256, &[0x5a; 32]).unwrap_or_else(|e| panic!("{e}"))
}

/// A 13-character base32-sortable TID for a counter.
fn tid(n: u64) -> String {
    const ALPHABET: &[u8; 32] = b"234567abcdefghijklmnopqrstuvwxyz";
    let value = (1_700_000_000_000_000u64 + n * 1_000) << 10;
    (0..13)
        .rev()
        .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

fn encode(map: &BTreeMap<&str, ipld_core::ipld::Ipld>) -> Bytes {
    Bytes::from(serde_ipld_dagcbor::to_vec(map).unwrap_or_else(|e| panic!("{e}")))
}

/// The `i`-th record: `(collection, rkey, DAG-CBOR bytes)`.
pub fn record(i: u64) -> (&'static str, String, Bytes) {
    use ipld_core::ipld::Ipld;
    let created = Ipld::String(format!(
        "2026-01-01T00:{:02}:{:02}.{:03}Z",
        i / 60 % 60,
        i % 60,
        i % 1000
    ));
    let subject = || {
        Ipld::Map(
            [
                (
                    "cid".to_owned(),
                    Ipld::String(format!("bafyreih{:051}", i * 7919 % 1_000_003)),
                ),
                (
                    "uri".to_owned(),
                    Ipld::String(format!(
                        "at://did:plc:{:024}/app.bsky.feed.post/{}",
                        i % 9973,
                        tid(i * 31)
                    )),
                ),
            ]
            .into_iter()
            .collect(),
        )
    };
    let mut map = BTreeMap::new();
    map.insert("createdAt", created);
    let collection = match i % 20 {
        0..=9 => {
            map.insert("subject", subject());
            "app.bsky.feed.like"
        }
        10..=14 => {
            let words = [
                "river", "the", "sky", "is", "blue", "again", "today", "and", "we", "post",
            ];
            let text: Vec<&str> = (0..(8 + i % 24))
                .map(|w| words[((i + w) % 10) as usize])
                .collect();
            map.insert("text", Ipld::String(text.join(" ")));
            map.insert("langs", Ipld::List(vec![Ipld::String("en".to_owned())]));
            "app.bsky.feed.post"
        }
        15..=17 => {
            map.insert("subject", subject());
            "app.bsky.feed.repost"
        }
        _ => {
            map.insert(
                "subject",
                Ipld::String(format!("did:plc:{:024}", i % 99_991)),
            );
            "app.bsky.graph.follow"
        }
    };
    map.insert("$type", Ipld::String(collection.to_owned()));
    (collection, tid(i), encode(&map))
}

/// A signed repository of `count` records.
pub fn build(count: u64) -> BuiltRepo {
    let mut builder = RepoBuilder::new(DID, tid(count + 1));
    for i in 0..count {
        let (collection, rkey, bytes) = record(i);
        builder.add(collection, &rkey, bytes);
    }
    builder.build(&keypair()).unwrap_or_else(|e| panic!("{e}"))
}
