//! Rule 8 against a real Redis: with two groups on a stream, trimming removes only what both have
//! acknowledged.

use crate::support::streams::{conn, create_group, entries, produce, read_group, redis};
use redis::aio::MultiplexedConnection;
use streams::trim::trim_stream;

async fn read(c: &mut MultiplexedConnection, group: &str, count: usize) -> Vec<String> {
    read_group(c, "s", group, count).await
}

async fn ack(c: &mut MultiplexedConnection, group: &str, ids: &[String]) {
    let _: u64 = redis::cmd("XACK")
        .arg("s")
        .arg(group)
        .arg(ids)
        .query_async(c)
        .await
        .unwrap();
}

async fn first_id(c: &mut MultiplexedConnection) -> String {
    entries(c, "s")
        .await
        .first()
        .map(|(id, _)| id.clone())
        .unwrap()
}

#[tokio::test]
async fn trimming_never_removes_what_a_group_has_not_acknowledged() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    let payloads: Vec<String> = (0..1000).map(|i| i.to_string()).collect();
    let ids = produce(&client, "s", &payloads).await;
    let mut cm = streams::connection::command_connection(&client)
        .await
        .unwrap();

    // No group: nobody has said what they need, so nothing goes.
    let report = trim_stream(&mut cm, "s", true).await.unwrap();
    assert_eq!(report.removed, 0);

    for g in ["a", "b"] {
        create_group(&mut c, "s", g).await;
    }
    // Group a has everything acknowledged; group b got 600, acknowledged the first 300 but not #50.
    let a = read(&mut c, "a", 1000).await;
    ack(&mut c, "a", &a).await;
    let b = read(&mut c, "b", 600).await;
    let mut acked: Vec<String> = b[..300].to_vec();
    acked.remove(50);
    ack(&mut c, "b", &acked).await;

    let report = trim_stream(&mut cm, "s", true).await.unwrap();
    assert_eq!(report.removed, 50);
    assert_eq!(
        first_id(&mut c).await,
        ids[50],
        "b's oldest pending entry stays"
    );

    ack(&mut c, "b", &b[50..51]).await;
    let report = trim_stream(&mut cm, "s", true).await.unwrap();
    assert_eq!(report.removed, 250);
    assert_eq!(first_id(&mut c).await, ids[300]);

    ack(&mut c, "b", &b[300..]).await;
    let report = trim_stream(&mut cm, "s", true).await.unwrap();
    assert_eq!(report.removed, 300);
    assert_eq!(
        first_id(&mut c).await,
        ids[600],
        "entries b was never given stay"
    );

    // A group ahead of its stream (to be healed) blocks trimming rather than emptying the stream.
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg("s")
        .arg("a")
        .arg("99999999999999-0")
        .query_async(&mut c)
        .await
        .unwrap();
    let rest = read(&mut c, "b", 1000).await;
    ack(&mut c, "b", &rest).await;
    let report = trim_stream(&mut cm, "s", false).await.unwrap();
    assert_eq!(report.blocked_by.as_deref(), Some("a"));
    assert_eq!(entries(&mut c, "s").await.len(), 400);

    // Approximate trimming never goes past the bound either.
    let _: () = redis::cmd("XGROUP")
        .arg("SETID")
        .arg("s")
        .arg("a")
        .arg(&ids[700])
        .query_async(&mut c)
        .await
        .unwrap();
    trim_stream(&mut cm, "s", false).await.unwrap();
    let left = entries(&mut c, "s").await;
    assert!(
        left.iter().any(|(id, _)| *id == ids[701]),
        "entry after a's position kept"
    );
    assert_eq!(left.last().map(|(id, _)| id.clone()), ids.last().cloned());
}

/// One approximate trim removes everything handled, however much: Redis's default `LIMIT` for
/// `MINID ~` (100 nodes' worth) would let a consumer faster than that outrun its trimming.
#[tokio::test]
async fn one_trim_removes_everything_handled_however_much() {
    let (_server, client) = redis().await;
    let mut c = conn(&client).await;
    let payloads: Vec<String> = (0..30_000).map(|i| i.to_string()).collect();
    produce(&client, "s", &payloads).await;
    create_group(&mut c, "s", "g").await;
    let mut read_all = Vec::new();
    loop {
        let ids = read(&mut c, "g", 10_000).await;
        if ids.is_empty() {
            break;
        }
        ack(&mut c, "g", &ids).await;
        read_all.extend(ids);
    }
    assert_eq!(read_all.len(), 30_000);
    let mut cm = streams::connection::command_connection(&client)
        .await
        .unwrap();
    let report = trim_stream(&mut cm, "s", false).await.unwrap();
    let left: u64 = redis::cmd("XLEN")
        .arg("s")
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(
        left < 200 && report.removed >= 29_800,
        "one trim left {left} of 30,000 handled entries (removed {})",
        report.removed
    );
}
