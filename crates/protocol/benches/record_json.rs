//! How fast records become atproto JSON (the backfiller's hot path), and back.
//!
//! Records: a realistic post (text, two facets, an image embed with a blob, a reply ref, langs)
//! and a like. Reported per record (records/s) and per byte (MB/s of DAG-CBOR). For comparison,
//! `ipld_decode_only` decodes the same bytes into an `Ipld` tree without converting it to JSON: a
//! lower bound for any path that goes through `Ipld` first.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ipld_core::ipld::Ipld;
use protocol::data_model::{cbor_to_json, json_to_cbor};
use serde_json::{Value, json};
use std::hint::black_box;

fn post() -> Value {
    json!({
        "$type": "app.bsky.feed.post",
        "text": "Reading the atproto sync spec tonight 📚 thanks @alice.bsky.social — notes at https://example.com/notes #atproto",
        "createdAt": "2026-11-27T12:34:56.789Z",
        "langs": ["en"],
        "facets": [
            {
                "index": {"byteStart": 48, "byteEnd": 67},
                "features": [{"$type": "app.bsky.richtext.facet#mention", "did": "did:plc:ewvi7nxzyoun6zhxrhs64oiz"}]
            },
            {
                "index": {"byteStart": 79, "byteEnd": 104},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": "https://example.com/notes"}]
            }
        ],
        "reply": {
            "root": {"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l3qo2vuowo2b", "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"},
            "parent": {"uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l3qo2vuowo2b", "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"}
        },
        "embed": {
            "$type": "app.bsky.embed.images",
            "images": [{
                "alt": "A page of the spec with handwritten notes in the margin",
                "aspectRatio": {"width": 2000, "height": 1500},
                "image": {
                    "$type": "blob",
                    "ref": {"$link": "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity"},
                    "mimeType": "image/jpeg",
                    "size": 734912
                }
            }]
        }
    })
}

fn like() -> Value {
    json!({
        "$type": "app.bsky.feed.like",
        "subject": {
            "uri": "at://did:plc:ewvi7nxzyoun6zhxrhs64oiz/app.bsky.feed.post/3l3qo2vuowo2b",
            "cid": "bafyreidfayvfuwqa7qlnopdjiqrxzs6blmoeu4rujcjtnci5beludirz2a"
        },
        "createdAt": "2026-11-27T12:34:56.789Z"
    })
}

fn bench(c: &mut Criterion) {
    for (name, record) in [("post", post()), ("like", like())] {
        let bytes = json_to_cbor(&record).expect("bench records are valid");
        assert_eq!(cbor_to_json(&bytes).expect("round trip"), record);

        let mut per_record = c.benchmark_group(format!("records/{name}"));
        per_record.throughput(Throughput::Elements(1));
        per_record.bench_function("cbor_to_json", |b| {
            b.iter(|| cbor_to_json(black_box(&bytes)))
        });
        per_record.bench_function("ipld_decode_only", |b| {
            b.iter(|| serde_ipld_dagcbor::from_slice::<Ipld>(black_box(&bytes)))
        });
        per_record.bench_function("json_to_cbor", |b| {
            b.iter(|| json_to_cbor(black_box(&record)))
        });
        per_record.finish();

        let mut per_byte = c.benchmark_group(format!("bytes/{name}"));
        per_byte.throughput(Throughput::Bytes(bytes.len() as u64));
        per_byte.bench_function("cbor_to_json", |b| {
            b.iter(|| cbor_to_json(black_box(&bytes)))
        });
        per_byte.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
