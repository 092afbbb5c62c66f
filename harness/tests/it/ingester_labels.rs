//! The labeler ingester reading two labelers at once: every `#labels` frame of each becomes one
//! `label_live` entry `{"seq", "labels": [...]}` with signatures as `{"$bytes": …}`, and each
//! labeler keeps its own cursor, so a dropped connection resumes where that labeler left off.

use crate::support::ingester::{
    Running, conn, get_i64, live_options, redis, stream_entries, wait_for_value,
};
use harness::faults::{Fault, FaultPlan, FaultRule, Faults, Matcher};
use harness::mock::{MockLabeler, MockOptions};
use ingester::live::Feed;
use protocol::frames::{Frame, Label, LabelsFrame};
use redis::AsyncCommands;
use serde_json::{Value, json};
use streams::ServiceHost;
use streams::names::{FIELD_LABELS, LABEL_LIVE, cursor_key};

const FRAMES: i64 = 40;

fn labels_frame(labeler: &str, seq: i64) -> LabelsFrame {
    LabelsFrame {
        seq,
        labels: vec![Label {
            ver: Some(1),
            src: labeler.parse().unwrap(),
            uri: format!("at://did:plc:subject{seq}/app.bsky.feed.post/3l3qo2vuowo2b"),
            cid: None,
            val: if seq % 2 == 0 { "spam" } else { "!hide" }.into(),
            neg: (seq % 5 == 0).then_some(true),
            cts: "2026-11-27T12:34:56.789Z".into(),
            exp: None,
            sig: Some(vec![seq as u8, 0xfb, 0xff]),
        }],
    }
}

async fn labeler(did: &str, faults: Faults) -> MockLabeler {
    let options = MockOptions {
        faults,
        ..MockOptions::default()
    };
    let labeler = MockLabeler::start(options).await.unwrap();
    for seq in 1..=FRAMES {
        // Gaps in the seqs, as real streams have.
        let seq = seq * 3;
        labeler
            .events()
            .append_frame(&Frame::Labels(labels_frame(did, seq)))
            .unwrap();
    }
    labeler
}

#[tokio::test]
async fn labels_from_two_labelers_each_with_its_own_cursor() {
    let (_redis, client) = redis().await;
    let mut c = conn(&client).await;
    let drop_once = FaultPlan::none().with(FaultRule::first(
        1,
        Matcher {
            frame: Some(17),
            ..Matcher::default()
        },
        Fault::DropStream,
    ));
    let faults_a = Faults::new(drop_once).unwrap();
    let a = labeler("did:plc:labelera", faults_a.clone()).await;
    let b = labeler("did:plc:labelerb", Faults::none()).await;
    let mut running = Vec::new();
    let mut keys = Vec::new();
    for server in [&a, &b] {
        let host = server.url().to_string();
        let key = cursor_key(LABEL_LIVE, &ServiceHost::parse(&host).unwrap());
        let _: () = c.set(&key, 0).await.unwrap();
        keys.push(key);
        running.push(Running::start(Feed::Labels, &host, live_options(), &client).await);
    }
    for key in &keys {
        wait_for_value(&c, key, &(FRAMES * 3).to_string()).await;
    }
    assert_eq!(faults_a.fired_count(0), 1);

    let entries = stream_entries(&mut c, LABEL_LIVE, FIELD_LABELS).await;
    let mut seen: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for entry in &entries {
        let value: Value = serde_json::from_str(entry).unwrap();
        let seq = value["seq"].as_i64().unwrap();
        let label = &value["labels"][0];
        let src = label["src"].as_str().unwrap().to_owned();
        let want = labels_frame(&src, seq).to_atproto_json().unwrap();
        assert_eq!(value, want);
        assert_eq!(
            label["sig"],
            json!({"$bytes": want["labels"][0]["sig"]["$bytes"]})
        );
        assert!(label["sig"]["$bytes"].is_string());
        seen.entry(src).or_default().push(seq);
    }
    let all: Vec<i64> = (1..=FRAMES).map(|s| s * 3).collect();
    for src in ["did:plc:labelera", "did:plc:labelerb"] {
        let mut seqs = seen.remove(src).unwrap_or_default();
        seqs.dedup();
        assert_eq!(seqs, all, "{src}");
    }
    for key in &keys {
        assert_eq!(get_i64(&mut c, key).await, Some(FRAMES * 3));
    }
    for r in running {
        r.stop().await;
    }
}
