//! Shared pieces of the streams tests: a private Redis, fast consumer options, a handler built from a
//! closure, and small Redis probes.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use streams::{Consumer, ConsumerOptions, Delivery, Handler, Outcome, Producer, ProducerOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use super::{DEADLINE, conn, redis};

/// Consumer options with test-sized timings.
pub fn options(group: &str, consumer: &str, streams: &[&str]) -> ConsumerOptions {
    let mut o = ConsumerOptions::new(group, consumer, streams.iter().copied());
    o.block = Duration::from_millis(200);
    o.claim_interval = Duration::from_millis(100);
    o.heal_interval = Duration::from_millis(200);
    o.trim_interval = Duration::from_millis(20);
    o.retry_delay = Duration::from_millis(5);
    o.max_retry_delay = Duration::from_millis(50);
    o
}

type Behaviour =
    Arc<dyn Fn(Delivery) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// A handler that runs an async closure on each entry of a batch, in order.
pub struct FnHandler(Behaviour);

impl Handler for FnHandler {
    async fn handle(&self, batch: Vec<Delivery>) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(batch.len());
        for d in batch {
            out.push((self.0)(d).await);
        }
        out
    }
}

/// Wraps an async closure as a [`Handler`].
pub fn handler<F, Fut>(f: F) -> FnHandler
where
    F: Fn(Delivery) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    FnHandler(Arc::new(move |d| Box::pin(f(d))))
}

/// A handler that records each entry's payload, parsed as a number, in the order handled.
pub fn collector() -> (Arc<Mutex<Vec<usize>>>, FnHandler) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let handler = handler(move |d| {
        let sink = sink.clone();
        async move {
            let n = d.payload().expect("payload").parse().expect("a number");
            sink.lock().unwrap().push(n);
            Outcome::Done
        }
    });
    (got, handler)
}

/// Creates `group` on `stream` at its start (the stream must exist).
pub async fn create_group(conn: &mut MultiplexedConnection, stream: &str, group: &str) {
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(stream)
        .arg(group)
        .arg("0")
        .query_async(conn)
        .await
        .expect("XGROUP CREATE");
}

/// Reads up to `count` new entries of `stream` as consumer `c` of `group`; returns their ids.
pub async fn read_group(
    conn: &mut MultiplexedConnection,
    stream: &str,
    group: &str,
    count: usize,
) -> Vec<String> {
    let reply: redis::streams::StreamReadReply = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg(group)
        .arg("c")
        .arg("COUNT")
        .arg(count)
        .arg("STREAMS")
        .arg(stream)
        .arg(">")
        .query_async(conn)
        .await
        .expect("XREADGROUP");
    reply
        .keys
        .into_iter()
        .flat_map(|k| k.ids)
        .map(|e| e.id)
        .collect()
}

/// Starts a consumer runner in a task.
pub fn spawn<H: Handler>(
    consumer: Consumer<H>,
) -> (JoinHandle<streams::Result<()>>, CancellationToken) {
    let cancel = CancellationToken::new();
    let task = tokio::spawn(consumer.run(cancel.clone()));
    (task, cancel)
}

/// Cancels a runner and waits for it; it must end cleanly.
pub async fn stop(task: JoinHandle<streams::Result<()>>, cancel: CancellationToken) {
    cancel.cancel();
    tokio::time::timeout(DEADLINE, task)
        .await
        .expect("runner stops after cancel")
        .expect("runner task")
        .expect("runner ends without error");
}

/// Writes `payloads` to `stream` (field `f`) in batches of 1000.
pub async fn produce(client: &redis::Client, stream: &str, payloads: &[String]) -> Vec<String> {
    let producer = Producer::connect(client, ProducerOptions::default(), CancellationToken::new())
        .await
        .expect("producer");
    let mut ids = Vec::with_capacity(payloads.len());
    for chunk in payloads.chunks(1000) {
        ids.extend(
            producer
                .write_batch(stream, "f", chunk, None)
                .await
                .expect("write"),
        );
    }
    ids
}

/// Number of entries pending in `group` of `stream`.
pub async fn pending(conn: &mut MultiplexedConnection, stream: &str, group: &str) -> u64 {
    let reply: redis::Value = redis::cmd("XPENDING")
        .arg(stream)
        .arg(group)
        .query_async(conn)
        .await
        .expect("XPENDING");
    match reply {
        redis::Value::Array(parts) => match parts.first() {
            Some(redis::Value::Int(n)) => *n as u64,
            _ => panic!("bad XPENDING reply"),
        },
        _ => panic!("bad XPENDING reply"),
    }
}

/// All entries of a stream as (id, fields).
pub async fn entries(
    conn: &mut MultiplexedConnection,
    stream: &str,
) -> Vec<(String, Vec<(String, String)>)> {
    let reply: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
        .arg(stream)
        .arg("-")
        .arg("+")
        .query_async(conn)
        .await
        .expect("XRANGE");
    reply
        .ids
        .into_iter()
        .map(|e| {
            let mut fields: Vec<(String, String)> = e
                .map
                .iter()
                .map(|(k, v)| {
                    let v: String = redis::from_redis_value_ref(v).expect("string field");
                    (k.clone(), v)
                })
                .collect();
            fields.sort();
            (e.id, fields)
        })
        .collect()
}
