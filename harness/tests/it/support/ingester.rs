//! Shared pieces of the ingester tests: a private Redis, the real-PDS frames, the events they must
//! become, subscriptions run in-process, a scripted WebSocket server for exact control over what a
//! connection sees, and the checks "nothing lost, duplicates only as replays".

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use harness::services::wait_until;
use ingester::live::{CollectionFilter, Feed, LiveOptions, Subscription};
use protocol::frames::{ErrorFrame, Frame, InfoFrame};
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use streams::{ProducerOptions, ServiceHost};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_util::sync::CancellationToken;

pub use super::{DEADLINE, conn, redis};

/// The reference PDS's firehose: `(seq, frame bytes)`, 1130 frames with gaps in the seqs.
pub fn real_frames() -> Vec<(i64, Vec<u8>)> {
    let path = testkit::realpds("firehose.frames");
    let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = Vec::new();
    let mut rest = data.as_slice();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let (frame, tail) = tail.split_at(u32::from_be_bytes(*len) as usize);
        let seq = Frame::decode(frame)
            .expect("real frame")
            .seq()
            .expect("seq");
        frames.push((seq, frame.to_vec()));
        rest = tail;
    }
    frames
}

/// The entries each seq must become in `firehose_live`.
pub fn expected_entries(frames: &[(i64, Vec<u8>)]) -> BTreeMap<i64, Vec<String>> {
    let feed = repos_feed();
    frames
        .iter()
        .map(|(seq, bytes)| {
            let frame = Frame::decode(bytes).expect("frame");
            (*seq, feed.entries(&frame).expect("entries"))
        })
        .collect()
}

/// The firehose feed without a filter.
pub fn repos_feed() -> Feed {
    Feed::Repos {
        filter: CollectionFilter::default(),
    }
}

/// Test-sized subscription settings.
pub fn live_options() -> LiveOptions {
    LiveOptions {
        batch_size: 50,
        stall_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        reconnect_base: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        producer: ProducerOptions {
            high_water_mark: 1_000_000,
            min_backoff: Duration::from_millis(5),
            max_backoff: Duration::from_millis(50),
        },
        ..LiveOptions::default()
    }
}

/// A subscription running in this process.
pub struct Running {
    pub cancel: CancellationToken,
    pub reader: JoinHandle<Result<(), ingester::live::ReaderError>>,
    pub writer: JoinHandle<Result<(), ingester::live::WriteError>>,
}

impl Running {
    /// Starts `feed` on `host`.
    pub async fn start(
        feed: Feed,
        host: &str,
        options: LiveOptions,
        client: &redis::Client,
    ) -> Running {
        let host = ServiceHost::parse(host).expect("host");
        let cancel = CancellationToken::new();
        let sub = Subscription::open(feed, host, options, client, cancel.clone())
            .await
            .expect("open subscription");
        Running {
            cancel,
            reader: tokio::spawn(sub.reader.run()),
            writer: tokio::spawn(sub.writer.run()),
        }
    }

    /// Asks both tasks to stop and checks they end cleanly.
    pub async fn stop(self) {
        self.cancel.cancel();
        let reader = tokio::time::timeout(DEADLINE, self.reader).await;
        let writer = tokio::time::timeout(DEADLINE, self.writer).await;
        reader
            .expect("reader stops")
            .expect("join")
            .expect("reader ok");
        writer
            .expect("writer stops")
            .expect("join")
            .expect("writer ok");
    }

    /// Fails if either task has ended (they run until stopped).
    pub fn assert_running(&self) {
        assert!(!self.reader.is_finished(), "the reader ended early");
        assert!(!self.writer.is_finished(), "the writer ended early");
    }
}

/// Every entry of `stream` (field `field`), oldest first.
pub async fn stream_entries(
    c: &mut MultiplexedConnection,
    stream: &str,
    field: &str,
) -> Vec<String> {
    let reply: redis::streams::StreamRangeReply = c.xrange_all(stream).await.expect("XRANGE");
    reply
        .ids
        .iter()
        .map(|id| id.get::<String>(field).expect("field"))
        .collect()
}

/// The integer value of a key.
pub async fn get_i64(c: &mut MultiplexedConnection, key: &str) -> Option<i64> {
    let value: Option<String> = c.get(key).await.expect("GET");
    value.map(|v| v.parse().expect("integer cursor"))
}

/// Waits until `key` holds `want`.
pub async fn wait_for_value(c: &MultiplexedConnection, key: &str, want: &str) {
    let probe = c.clone();
    wait_until(&format!("{key} = {want}"), DEADLINE, || {
        let mut probe = probe.clone();
        let key = key.to_owned();
        let want = want.to_owned();
        async move {
            let value: Option<String> = probe.get(&key).await?;
            Ok((value.as_deref() == Some(want.as_str())).then_some(()))
        }
    })
    .await
    .expect("wait for key");
}

/// Checks that `actual` holds every expected entry, nothing else, seqs first seen in increasing
/// order, and that any repetition is a replay of a whole seq (never a partial or altered one).
pub fn assert_lossless(actual: &[String], expected: &BTreeMap<i64, Vec<String>>) {
    let mut by_seq: BTreeMap<i64, Vec<&String>> = BTreeMap::new();
    let mut first_seen = Vec::new();
    for entry in actual {
        let value: serde_json::Value = serde_json::from_str(entry).expect("JSON entry");
        let seq = value["seq"].as_i64().expect("seq");
        if !by_seq.contains_key(&seq) {
            first_seen.push(seq);
        }
        by_seq.entry(seq).or_default().push(entry);
    }
    let mut sorted = first_seen.clone();
    sorted.sort_unstable();
    assert_eq!(first_seen, sorted, "seqs first appear out of order");
    for (seq, want) in expected {
        if want.is_empty() {
            continue;
        }
        let got = by_seq
            .get(seq)
            .unwrap_or_else(|| panic!("seq {seq} is missing ({} entries expected)", want.len()));
        assert_eq!(got.len() % want.len(), 0, "seq {seq}: a partial replay");
        for chunk in got.chunks(want.len()) {
            let chunk: Vec<&str> = chunk.iter().map(|s| s.as_str()).collect();
            let want: Vec<&str> = want.iter().map(String::as_str).collect();
            assert_eq!(chunk, want, "seq {seq}: entries differ");
        }
    }
    let extra: BTreeSet<i64> = by_seq
        .keys()
        .filter(|seq| !expected.contains_key(seq))
        .copied()
        .collect();
    assert!(extra.is_empty(), "unexpected seqs {extra:?}");
}

/// Milliseconds since the Unix epoch (what Redis stream entry IDs count).
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// What a scripted connection does, in order.
#[derive(Debug, Clone)]
pub enum Act {
    /// Send these frames.
    Frames(Vec<Vec<u8>>),
    /// Send raw bytes as one binary message.
    Raw(Vec<u8>),
    /// Send an `#info` frame.
    Info(&'static str),
    /// Send an error frame, then close.
    Error(&'static str),
    /// Send these frames at `per_sec` frames a second, noting when each was sent (Unix ms) in
    /// `sent`, in order.
    Paced {
        frames: Vec<Vec<u8>>,
        per_sec: f64,
        sent: Arc<Mutex<Vec<u64>>>,
    },
}

/// A WebSocket server whose every connection runs a script chosen from its index and cursor,
/// recording each connection's `cursor` parameter.
pub struct ScriptedServer {
    pub port: u16,
    cursors: Arc<Mutex<Vec<Option<i64>>>>,
    task: JoinHandle<()>,
}

/// Picks a connection's script from its index (0-based) and its cursor.
pub type Script = Arc<dyn Fn(usize, Option<i64>) -> Vec<Act> + Send + Sync>;

impl ScriptedServer {
    /// Serves on a free port of 127.0.0.1.
    pub async fn start(script: Script) -> ScriptedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let cursors = Arc::new(Mutex::new(Vec::new()));
        let seen = cursors.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                let script = script.clone();
                tokio::spawn(async move {
                    let mut cursor = None;
                    // The handshake callback's signature is tungstenite's, large error type and all.
                    #[allow(clippy::result_large_err)]
                    let callback = |request: &Request, response: Response| {
                        cursor = request.uri().query().and_then(|q| {
                            url::form_urlencoded::parse(q.as_bytes())
                                .find(|(k, _)| k == "cursor")
                                .and_then(|(_, v)| v.parse::<i64>().ok())
                        });
                        Ok(response)
                    };
                    let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await
                    else {
                        return;
                    };
                    let index = {
                        let mut seen = seen.lock().expect("lock");
                        seen.push(cursor);
                        seen.len() - 1
                    };
                    for act in script(index, cursor) {
                        let sent = match act {
                            Act::Frames(frames) => {
                                let mut ok = true;
                                for frame in frames {
                                    if ws.send(Message::Binary(frame.into())).await.is_err() {
                                        ok = false;
                                        break;
                                    }
                                }
                                ok
                            }
                            Act::Raw(bytes) => ws.send(Message::Binary(bytes.into())).await.is_ok(),
                            Act::Info(name) => {
                                let frame = Frame::Info(InfoFrame {
                                    name: name.into(),
                                    message: None,
                                });
                                let bytes = frame.encode().expect("encode");
                                ws.send(Message::Binary(bytes.into())).await.is_ok()
                            }
                            Act::Error(name) => {
                                let frame = Frame::Error(ErrorFrame {
                                    error: name.into(),
                                    message: None,
                                });
                                let bytes = frame.encode().expect("encode");
                                let _ = ws.send(Message::Binary(bytes.into())).await;
                                let _ = ws.close(None).await;
                                false
                            }
                            Act::Paced {
                                frames,
                                per_sec,
                                sent,
                            } => {
                                let start = tokio::time::Instant::now();
                                let mut ok = true;
                                for (k, frame) in frames.into_iter().enumerate() {
                                    let due = Duration::from_secs_f64(k as f64 / per_sec);
                                    tokio::time::sleep_until(start + due).await;
                                    if ws.send(Message::Binary(frame.into())).await.is_err() {
                                        ok = false;
                                        break;
                                    }
                                    sent.lock().expect("lock").push(unix_ms());
                                }
                                ok
                            }
                        };
                        if !sent {
                            return;
                        }
                    }
                    // Script done: hang until the client leaves.
                    while let Some(Ok(_)) = ws.next().await {}
                });
            }
        });
        ScriptedServer {
            port,
            cursors,
            task,
        }
    }

    /// `http://127.0.0.1:PORT`, as a configured host.
    pub fn host(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The cursor of every connection so far, in order.
    pub fn cursors(&self) -> Vec<Option<i64>> {
        self.cursors.lock().expect("lock").clone()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
