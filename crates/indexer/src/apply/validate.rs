//! Checks that an event is well-formed before any of it reaches PostgreSQL, so a malformed event
//! is isolated (dead-lettered with a reason) instead of failing, or half-writing, its batch.
//!
//! Only the envelope is checked here (identifiers, revs, CIDs, times); a record's content is
//! judged later by [`crate::records::map_record`], and a bad record is still stored in `record`.

use std::str::FromStr;

use protocol::syntax::{AtUri, Did, Nsid, RecordKey, Tid, normalize_datetime};
use streams::payloads::{Label, StreamEvent};

use super::Change;

/// Longest label value accepted (the lexicon's limit is 128 bytes).
const MAX_LABEL_VAL: usize = 128;

/// Why `change` cannot be applied, or `None` when it is well-formed.
pub(crate) fn problem(change: &Change) -> Option<String> {
    match change {
        Change::Event(event) => event_problem(event),
        Change::Handle(h) => did_problem(&h.did).or_else(|| time_problem(&h.time)),
        Change::Labels(entry) => entry
            .labels
            .iter()
            .enumerate()
            .find_map(|(i, l)| label_problem(l).map(|p| format!("labels[{i}]: {p}"))),
    }
}

fn event_problem(event: &StreamEvent) -> Option<String> {
    let common = did_problem(event.did());
    match event {
        StreamEvent::Create(w) | StreamEvent::Update(w) => common
            .or_else(|| time_problem(&w.time))
            .or_else(|| path_problem(&w.collection, &w.rkey))
            .or_else(|| tid_problem("rev", &w.rev))
            .or_else(|| cid_problem("cid", &w.cid))
            .or_else(|| cid_problem("commit", &w.commit)),
        StreamEvent::Delete(d) => common
            .or_else(|| time_problem(&d.time))
            .or_else(|| path_problem(&d.collection, &d.rkey))
            .or_else(|| tid_problem("rev", &d.rev))
            .or_else(|| cid_problem("commit", &d.commit)),
        StreamEvent::Identity(e) => common.or_else(|| time_problem(&e.time)),
        StreamEvent::Account(e) => common.or_else(|| time_problem(&e.time)),
        StreamEvent::Sync(m) | StreamEvent::Repo(m) => common
            .or_else(|| time_problem(&m.time))
            .or_else(|| tid_problem("rev", &m.rev))
            .or_else(|| cid_problem("commit", &m.commit)),
    }
}

fn did_problem(did: &str) -> Option<String> {
    Did::from_str(did).err().map(|e| format!("did: {e}"))
}

fn time_problem(time: &str) -> Option<String> {
    normalize_datetime(time)
        .is_none()
        .then(|| "time: not an atproto datetime".to_owned())
}

fn path_problem(collection: &str, rkey: &str) -> Option<String> {
    Nsid::from_str(collection)
        .err()
        .map(|e| format!("collection: {e}"))
        .or_else(|| {
            RecordKey::from_str(rkey)
                .err()
                .map(|e| format!("rkey: {e}"))
        })
}

fn tid_problem(field: &str, rev: &str) -> Option<String> {
    Tid::from_str(rev).err().map(|e| format!("{field}: {e}"))
}

fn cid_problem(field: &str, cid: &str) -> Option<String> {
    cid::Cid::from_str(cid)
        .err()
        .map(|e| format!("{field}: not a CID ({e})"))
}

fn label_problem(label: &Label) -> Option<String> {
    if label.val.is_empty() || label.val.len() > MAX_LABEL_VAL {
        return Some(format!("val: must be 1 to {MAX_LABEL_VAL} bytes"));
    }
    let subject_ok = if label.uri.starts_with("at://") {
        AtUri::from_str(&label.uri).is_ok()
    } else {
        Did::from_str(&label.uri).is_ok()
    };
    if !subject_ok {
        return Some("uri: neither an AT-URI nor a DID".to_owned());
    }
    did_problem(&label.src)
        .or_else(|| label.cid.as_deref().and_then(|c| cid_problem("cid", c)))
        .or_else(|| {
            normalize_datetime(&label.cts)
                .is_none()
                .then(|| "cts: not a datetime".into())
        })
        .or_else(|| {
            label
                .exp
                .as_deref()
                .filter(|exp| normalize_datetime(exp).is_none())
                .map(|_| "exp: not a datetime".to_owned())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use streams::payloads::{RecordDelete, RecordWrite};

    const CID: &str = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";

    fn write() -> RecordWrite {
        RecordWrite {
            seq: 1,
            time: "2024-01-01T00:00:00.000Z".into(),
            did: "did:plc:abc".into(),
            commit: CID.into(),
            rev: "3l3qo2vutsw2b".into(),
            collection: "app.bsky.feed.like".into(),
            rkey: "3l3qo2vutsw2b".into(),
            cid: CID.into(),
            record: serde_json::json!({}),
        }
    }

    #[test]
    fn well_formed_events_pass() {
        assert_eq!(problem(&Change::Event(StreamEvent::Create(write()))), None);
        let w = write();
        let d = RecordDelete {
            seq: -1,
            time: w.time,
            did: w.did,
            commit: w.commit,
            rev: w.rev,
            collection: w.collection,
            rkey: w.rkey,
        };
        assert_eq!(problem(&Change::Event(StreamEvent::Delete(d))), None);
    }

    /// Spoils one field of a write.
    type Spoil = fn(&mut RecordWrite);

    #[test]
    fn each_bad_envelope_field_is_named() {
        let cases: [(Spoil, &str); 6] = [
            (|w| w.did = "bob".into(), "did"),
            (|w| w.time = "yesterday".into(), "time"),
            (|w| w.collection = "no".into(), "collection"),
            (|w| w.rkey = "a/b".into(), "rkey"),
            (|w| w.rev = "1".into(), "rev"),
            (|w| w.cid = "[1,2,3]".into(), "cid"),
        ];
        for (spoil, field) in cases {
            let mut w = write();
            spoil(&mut w);
            let p = problem(&Change::Event(StreamEvent::Update(w)));
            assert!(
                p.as_deref().is_some_and(|p| p.starts_with(field)),
                "{field}: {p:?}"
            );
        }
    }

    #[test]
    fn labels_are_checked_one_by_one() {
        let good = Label {
            ver: 1,
            src: "did:plc:labeler".into(),
            uri: "did:plc:abc".into(),
            cid: None,
            val: "spam".into(),
            neg: None,
            cts: "2024-01-01T00:00:00.000Z".into(),
            exp: None,
            sig: None,
        };
        let mut bad = good.clone();
        bad.uri = "https://example.com".into();
        let entry = |labels| Change::Labels(streams::payloads::LabelsEntry { seq: 1, labels });
        assert_eq!(problem(&entry(vec![good.clone()])), None);
        let p = problem(&entry(vec![good, bad]));
        assert!(p.is_some_and(|p| p.starts_with("labels[1]: uri")));
    }
}
