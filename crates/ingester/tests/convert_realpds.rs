//! Every frame the reference PDS sent (`fixtures/realpds/firehose.frames`) converts into
//! stream events: one per op, records as atproto JSON, times in the contract's format, and the
//! collection filter keeps exactly the collections it names.

use ingester::live::{CollectionFilter, ConvertError, Feed};
use protocol::frames::Frame;
use serde_json::Value;
use streams::payloads::StreamEvent;

/// The captured frames: a 4-byte big-endian length, then the frame.
fn frames() -> Vec<Vec<u8>> {
    let path = testkit::realpds("firehose.frames");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    let mut rest = data.as_slice();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        let (frame, tail) = tail.split_at(len);
        frames.push(frame.to_vec());
        rest = tail;
    }
    frames
}

fn has_integer_array(value: &Value) -> bool {
    match value {
        Value::Array(items) => {
            (!items.is_empty() && items.iter().all(Value::is_number))
                || items.iter().any(has_integer_array)
        }
        Value::Object(map) => map.values().any(has_integer_array),
        _ => false,
    }
}

#[test]
fn every_real_frame_converts_one_event_per_op() {
    let frames = frames();
    assert_eq!(frames.len(), 1130);
    let feed = Feed::Repos {
        filter: CollectionFilter::default(),
    };
    let (mut ops, mut events, mut records) = (0usize, 0usize, 0usize);
    let mut kinds = std::collections::BTreeMap::<&str, usize>::new();
    for bytes in &frames {
        let frame = Frame::decode(bytes).unwrap();
        if let Frame::Commit(commit) = &frame {
            ops += commit.ops.len();
        } else {
            ops += 1;
        }
        let entries = feed.entries(&frame).unwrap();
        for entry in entries {
            let event: StreamEvent = serde_json::from_str(&entry).unwrap();
            assert_eq!(Some(event.seq()), frame.seq());
            *kinds.entry(event.kind()).or_default() += 1;
            let json: Value = serde_json::from_str(&entry).unwrap();
            let time = json["time"].as_str().unwrap();
            assert_eq!(time.len(), 24, "{time}");
            assert!(time.ends_with('Z'), "{time}");
            if let StreamEvent::Create(write) | StreamEvent::Update(write) = &event {
                records += 1;
                assert!(!has_integer_array(&write.record), "{entry}");
                assert_eq!(write.record["$type"], write.collection.as_str());
            }
            events += 1;
        }
    }
    assert_eq!(events, ops, "{kinds:?}");
    assert!(records > 800, "{kinds:?}");
    for kind in ["create", "update", "delete", "identity", "account", "sync"] {
        assert!(kinds.contains_key(kind), "no {kind} in {kinds:?}");
    }
}

#[test]
fn the_filter_keeps_only_named_collections() {
    let feed = Feed::Repos {
        filter: CollectionFilter::new(["app.bsky.feed.".to_owned()]),
    };
    let mut kept = 0;
    for bytes in frames() {
        let frame = Frame::decode(&bytes).unwrap();
        for entry in feed.entries(&frame).unwrap() {
            let event: Value = serde_json::from_str(&entry).unwrap();
            if let Some(collection) = event["collection"].as_str() {
                assert!(collection.starts_with("app.bsky.feed."), "{entry}");
                kept += 1;
            }
        }
    }
    assert!(kept > 500, "{kept}");
}

#[test]
fn a_commit_whose_op_names_a_record_it_lacks_is_refused() {
    let feed = Feed::Repos {
        filter: CollectionFilter::default(),
    };
    let original = frames()
        .iter()
        .find_map(|bytes| match Frame::decode(bytes).unwrap() {
            Frame::Commit(c) if c.ops.iter().any(|op| op.cid.is_some()) => Some(c),
            _ => None,
        })
        .unwrap();
    let mut commit = original.clone();
    // Point the first create/update at a record the frame does not carry.
    let wrong = protocol::data_model::cid_for_cbor(&[0xa1, 0x61, 0x78, 0x01]);
    let op = commit.ops.iter_mut().find(|op| op.cid.is_some()).unwrap();
    op.cid = Some(wrong);
    let seq = commit.seq;
    let err = feed.entries(&Frame::Commit(commit.clone())).unwrap_err();
    assert!(matches!(err, ConvertError::Frame(_)), "{err}");
    assert!(err.to_string().contains(&seq.to_string()), "{err}");
    // A block whose bytes do not hash to its CID breaks the whole CAR slice.
    let mut commit = original;
    let last = commit.blocks.len() - 1;
    commit.blocks[last] ^= 0xff;
    let err = feed.entries(&Frame::Commit(commit)).unwrap_err();
    assert!(err.to_string().contains("blocks"), "{err}");
    assert!(err.to_string().contains(&seq.to_string()), "{err}");
    // A labels feed does not carry commits.
    let frame = Frame::decode(&frames()[0]).unwrap();
    assert!(matches!(
        Feed::Labels.entries(&frame),
        Err(ConvertError::Unexpected { .. })
    ));
}
