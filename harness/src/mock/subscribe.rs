//! The stream endpoints (`subscribeRepos`, `subscribeLabels`): replay from a cursor, then live.
//!
//! Behaviour, as the reference servers:
//! - `cursor=N`: every retained event with seq > N, then live events as they are appended;
//!   no cursor: live events only.
//! - a cursor above the newest seq: the error frame `FutureCursor` ("Cursor in the future."),
//!   then a close with code 1008 and reason `FutureCursor`;
//! - a cursor older than the retained window: an `#info` frame `OutdatedCursor`, then replay from
//!   the oldest retained event;
//! - a consumer that falls more than `max_lag` live events behind (or whose next event was
//!   evicted): the error frame `ConsumerTooSlow`, then a close (1008).
//!
//! Before each event frame the fault plan is consulted with the frame's number on this connection
//! (0-based, counting event frames only): a `drop_stream` fault drops the socket without a close
//! frame, a `stall` pauses the connection.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use futures::stream::SplitSink;
use futures::{SinkExt, StreamExt};
use protocol::frames::{ErrorFrame, Frame, InfoFrame};
use tokio_util::sync::CancellationToken;

use super::events::EventLog;
use super::fault_layer::request_target;
use super::respond::invalid_request;
use crate::faults::{Checkpoint, Fault, Faults, Target};

/// Events fetched from the log per step.
const BATCH: usize = 64;

/// Close code for policy violations, which the reference servers use after an error frame.
const CLOSE_POLICY: u16 = 1008;

/// How long the farewell (error frame and close) may take before the socket is simply dropped.
const FAREWELL_TIMEOUT: Duration = Duration::from_secs(5);

/// What a stream endpoint serves from.
#[derive(Debug, Clone)]
pub(crate) struct StreamContext {
    /// The events.
    pub(crate) log: EventLog,
    /// The server's fault plan.
    pub(crate) faults: Faults,
    /// Live events a consumer may fall behind before it is cut off.
    pub(crate) max_lag: usize,
    /// Cancelled when the server stops.
    pub(crate) shutdown: CancellationToken,
}

/// A router serving the stream at `path` (`/xrpc/com.atproto.sync.subscribeRepos`).
pub(crate) fn stream_router(path: &str, ctx: StreamContext) -> Router {
    Router::new().route(path, get(subscribe)).with_state(ctx)
}

async fn subscribe(
    State(ctx): State<StreamContext>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: WebSocketUpgrade,
) -> Response {
    let target = request_target(&headers, &uri);
    let cursor = match target.cursor.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(cursor)) if cursor >= 0 => Some(cursor),
        Some(_) => return invalid_request("cursor must be a non-negative integer"),
    };
    upgrade.on_upgrade(move |socket| serve(socket, ctx, target, cursor))
}

type Sink = SplitSink<WebSocket, Message>;

async fn serve(socket: WebSocket, ctx: StreamContext, target: Target, cursor: Option<i64>) {
    let (mut sink, mut incoming) = socket.split();
    let closed = ctx.shutdown.child_token();
    // Reading is needed to notice the client leaving (and lets the library answer pings).
    let reader_closed = closed.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = reader_closed.cancelled() => break,
                message = incoming.next() => match message {
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        reader_closed.cancel();
    });
    let _stop_reader = closed.clone().drop_guard();

    let live_from = ctx.log.head_seq();
    let mut last = match cursor {
        None => live_from,
        Some(cursor) if cursor > live_from => {
            farewell(&mut sink, "FutureCursor", "Cursor in the future.").await;
            return;
        }
        Some(cursor) => cursor,
    };
    if cursor.is_some() && ctx.log.after(last, 0).gap {
        let info = Frame::Info(InfoFrame {
            name: "OutdatedCursor".into(),
            message: Some("Requested cursor exceeded limit. Possibly missing events".into()),
        });
        if !send_frame(&mut sink, &info, &closed).await {
            return;
        }
        last = ctx.log.oldest_seq().map_or(last, |oldest| oldest - 1);
    }

    let mut wake = ctx.log.watch();
    let mut frame_no: u64 = 0;
    loop {
        wake.borrow_and_update();
        let batch = ctx.log.after(last, BATCH);
        if batch.gap || ctx.log.count_after(last.max(live_from)) > ctx.max_lag {
            farewell(&mut sink, "ConsumerTooSlow", "Stream consumer too slow").await;
            return;
        }
        if batch.events.is_empty() {
            tokio::select! {
                _ = closed.cancelled() => return,
                changed = wake.changed() => if changed.is_err() { return },
            }
            continue;
        }
        for (seq, bytes) in batch.events {
            let mut at = target.clone();
            at.frame = Some(frame_no);
            for fault in ctx.faults.take(Checkpoint::Frame, &at) {
                match fault {
                    // Dropping the sink (and the reader, through the guard) closes the TCP
                    // connection without a WebSocket close frame.
                    Fault::DropStream => return,
                    Fault::Stall { ms } => {
                        tokio::select! {
                            _ = closed.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                        }
                    }
                    _ => {}
                }
            }
            tokio::select! {
                _ = closed.cancelled() => return,
                sent = sink.send(Message::Binary(bytes)) => if sent.is_err() { return },
            }
            frame_no += 1;
            last = seq;
        }
    }
}

/// Sends one synthesized frame; false if the connection is gone.
async fn send_frame(sink: &mut Sink, frame: &Frame, closed: &CancellationToken) -> bool {
    let Ok(bytes) = frame.encode() else {
        return false;
    };
    tokio::select! {
        _ = closed.cancelled() => false,
        sent = sink.send(Message::Binary(bytes.into())) => sent.is_ok(),
    }
}

/// Sends an error frame and closes with 1008 and the error's name as the reason.
async fn farewell(sink: &mut Sink, error: &str, message: &str) {
    let frame = Frame::Error(ErrorFrame {
        error: error.into(),
        message: Some(message.into()),
    });
    let Ok(bytes) = frame.encode() else {
        return;
    };
    let goodbye = async {
        sink.send(Message::Binary(bytes.into())).await?;
        sink.send(Message::Close(Some(CloseFrame {
            code: CLOSE_POLICY,
            reason: error.into(),
        })))
        .await
    };
    // A consumer that does not read cannot take the farewell either; drop it after a while.
    let _ = tokio::time::timeout(FAREWELL_TIMEOUT, goodbye).await;
}
