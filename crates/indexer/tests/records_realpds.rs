//! Every record the reference PDS wrote for the seeded test network (`fixtures/realpds/`)
//! maps to its typed rows: none is rejected, each collection yields as many rows as the PDS says
//! it holds, and the seed's replies, quotes, images, links and mentions all come through.

use std::collections::BTreeMap;
use std::path::PathBuf;

use indexer::records::{INDEXED_COLLECTIONS, Rows, Source, map_record};
use protocol::data_model::cbor_to_json;
use protocol::repo::{LoadOptions, load_repo};

const INDEXED_AT: &str = "2026-11-27T10:00:00.000Z";

fn fixtures() -> PathBuf {
    testkit::fixture("realpds")
}

/// What the seeded records produced, over all repos.
#[derive(Debug, Default)]
struct Tally {
    /// Records mapped to typed rows, per collection.
    mapped: BTreeMap<String, u64>,
    /// Records of other collections (record-only).
    record_only: BTreeMap<String, u64>,
    /// Rejections: (collection, rkey, error).
    rejected: Vec<(String, String, String)>,
    replies: u64,
    quotes: u64,
    images: u64,
    externals: u64,
    mentions: u64,
}

#[tokio::test]
async fn every_seeded_record_maps_to_its_rows() -> anyhow::Result<()> {
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("expected.json"))?)?;
    let mut tally = Tally::default();
    let mut repos = 0;
    for entry in std::fs::read_dir(fixtures().join("repos"))? {
        let path = entry?.path();
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let did = stem.replace('_', ":");
        let file = tokio::io::BufReader::new(tokio::fs::File::open(&path).await?);
        let repo = load_repo(file, &did, None, &LoadOptions::default()).await?;
        repos += 1;
        for record in repo.records() {
            let record = record?;
            let json = cbor_to_json(&record.bytes)?;
            let cid = record.cid.to_string();
            let source = Source {
                did: &did,
                collection: &record.collection,
                rkey: &record.rkey,
                cid: &cid,
                indexed_at: INDEXED_AT,
            };
            match map_record(&source, &json) {
                Ok(Rows::RecordOnly) => {
                    *tally
                        .record_only
                        .entry(record.collection.clone())
                        .or_default() += 1;
                }
                Ok(rows) => {
                    if let Rows::Post(post) = &rows {
                        tally.replies += u64::from(post.post.reply_parent.is_some());
                        tally.quotes += u64::from(post.quote.is_some());
                        tally.images += post.embeds.images.len() as u64;
                        tally.externals += u64::from(post.embeds.external.is_some());
                        tally.mentions += post.mentions.len() as u64;
                    }
                    *tally.mapped.entry(record.collection.clone()).or_default() += 1;
                }
                Err(e) => tally.rejected.push((
                    record.collection.clone(),
                    record.rkey.clone(),
                    e.to_string(),
                )),
            }
        }
    }

    assert_eq!(Some(repos), expected["activeRepoCount"].as_u64());
    assert!(tally.rejected.is_empty(), "rejected: {:#?}", tally.rejected);
    let by_collection = expected["byCollection"]
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("expected.json has no byCollection"))?;
    for (collection, count) in by_collection {
        let got = if INDEXED_COLLECTIONS.contains(&collection.as_str()) {
            tally.mapped.get(collection)
        } else {
            tally.record_only.get(collection)
        };
        assert_eq!(got.copied(), count.as_u64(), "{collection}");
    }
    let total: u64 = tally
        .mapped
        .values()
        .chain(tally.record_only.values())
        .sum();
    assert_eq!(Some(total), expected["totalRecords"].as_u64());
    // The seed has each of these; a mapping that silently dropped them would show zero.
    for (what, n) in [
        ("replies", tally.replies),
        ("quotes", tally.quotes),
        ("images", tally.images),
        ("external links", tally.externals),
        ("mentions", tally.mentions),
    ] {
        assert!(n > 0, "no {what} among the seeded posts: {tally:?}");
    }
    Ok(())
}
