//! Post text with rich-text facets. Facet ranges are UTF-8 byte offsets, so the word list mixes
//! ASCII with accented letters, CJK and emoji to make byte and character offsets differ.

use rand::Rng;
use serde_json::{Value, json};

/// Words posts are made of.
const WORDS: &[&str] = &[
    "the",
    "sky",
    "is",
    "blue",
    "today",
    "and",
    "I",
    "posted",
    "a",
    "thought",
    "about",
    "café",
    "naïve",
    "日本語",
    "テスト",
    "🦋",
    "✨",
    "protocol",
    "relay",
    "firehose",
    "repo",
    "garden",
    "coffee",
    "rain",
    "über",
    "señor",
    "quiet",
    "morning",
    "tiny",
    "robot",
    "moon",
    "—",
];

/// Someone a post may mention.
pub(crate) struct Mention<'a> {
    /// Their handle.
    pub handle: &'a str,
    /// Their DID.
    pub did: &'a str,
}

/// A post's text and its facets (`app.bsky.richtext.facet` objects).
pub(crate) fn post_text(rng: &mut impl Rng, mention: Option<Mention<'_>>) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut facets = Vec::new();
    let words = rng.gen_range(3..20);
    for i in 0..words {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    if let Some(mention) = mention {
        text.push(' ');
        let start = text.len();
        text.push('@');
        text.push_str(mention.handle);
        facets.push(facet(
            start,
            text.len(),
            json!({"$type": "app.bsky.richtext.facet#mention", "did": mention.did}),
        ));
    }
    if rng.gen_bool(0.1) {
        let uri = format!("https://example.test/p/{}", rng.gen_range(0..100_000u32));
        text.push(' ');
        let start = text.len();
        text.push_str(&uri);
        facets.push(facet(
            start,
            text.len(),
            json!({"$type": "app.bsky.richtext.facet#link", "uri": uri}),
        ));
    }
    if rng.gen_bool(0.1) {
        let tag = ["atproto", "日常", "café", "art"][rng.gen_range(0..4)];
        text.push(' ');
        let start = text.len();
        text.push('#');
        text.push_str(tag);
        facets.push(facet(
            start,
            text.len(),
            json!({"$type": "app.bsky.richtext.facet#tag", "tag": tag}),
        ));
    }
    (text, facets)
}

/// Plain text of a few words (names, descriptions, edits).
pub(crate) fn words(rng: &mut impl Rng, count: usize) -> String {
    let mut out = String::new();
    for i in 0..count {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(WORDS[rng.gen_range(0..WORDS.len())]);
    }
    out
}

fn facet(start: usize, end: usize, feature: Value) -> Value {
    json!({"index": {"byteStart": start, "byteEnd": end}, "features": [feature]})
}
