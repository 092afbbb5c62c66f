//! The middleware that inflicts a fault plan on HTTP requests, and the body shaping it needs.
//!
//! Every matching rule fires, but at most one that replaces the answer (a status, a 429, an HTML
//! page, a reset; see [`Faults::take`]). Delays are served first, in plan order; then the
//! replacing answer, if any; otherwise the request is served and its body trickled and/or
//! truncated. A broken-repo fault is handed to the `getRepo`
//! handler through a request extension, since only it knows the account's key. Stream faults
//! (dropped connections, stalls) are consulted per frame by the stream handler, not here.

use std::time::Duration;

use axum::body::{Body, BodyDataStream};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;

use super::listener::ConnMeta;
use super::respond::{html_error, rate_limited, status_error, unix_now, xrpc_error};
use crate::faults::{Checkpoint, Fault, Faults, RepoDefect, Target};

/// A broken-repo fault that fired on this request, for the `getRepo` handler.
#[derive(Debug, Clone)]
pub(crate) struct BrokenRepo(pub(crate) RepoDefect);

/// What a request is, as fault matchers see it.
pub(crate) fn request_target(headers: &HeaderMap, uri: &Uri) -> Target {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.to_string()))
        .unwrap_or_default()
        .to_ascii_lowercase();
    let path = uri.path();
    let endpoint = path.strip_prefix("/xrpc/").unwrap_or(path).to_owned();
    let mut did = None;
    let mut cursor = None;
    for (key, value) in url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "did" => did = Some(value.into_owned()),
            "cursor" => cursor = Some(value.into_owned()),
            _ => {}
        }
    }
    // The PLC directory names the DID in the path.
    if did.is_none()
        && let Some(rest) = path.strip_prefix('/')
        && rest.starts_with("did:")
    {
        did = Some(rest.to_owned());
    }
    Target {
        host,
        endpoint,
        did,
        cursor,
        frame: None,
    }
}

/// The middleware (`axum::middleware::from_fn_with_state` with the server's [`Faults`]).
pub(crate) async fn apply_faults(
    State(faults): State<Faults>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    mut request: Request,
    next: Next,
) -> Response {
    let target = request_target(request.headers(), request.uri());
    let fired = faults.take(Checkpoint::Request, &target);
    let mut answer: Option<Response> = None;
    let mut shape = BodyShape::default();
    for fault in fired {
        let replacement = match fault {
            Fault::Delay { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                None
            }
            Fault::Status { status } => Some(status_error(status)),
            Fault::RateLimited { retry_after_secs } => {
                Some(rate_limited(retry_after_secs, unix_now()))
            }
            Fault::XrpcError {
                status,
                error,
                message,
            } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                Some(xrpc_error(status, &error, message.as_deref().unwrap_or("")))
            }
            Fault::HtmlError { status } => Some(html_error(status)),
            Fault::Reset => {
                conn.reset();
                Some(StatusCode::INTERNAL_SERVER_ERROR.into_response())
            }
            Fault::Trickle {
                chunk_bytes,
                interval_ms,
            } => {
                shape.chunk_bytes = Some(chunk_bytes.max(1));
                shape.interval = Duration::from_millis(interval_ms);
                None
            }
            Fault::Truncate { at_byte } => {
                shape.truncate_at = Some(at_byte);
                None
            }
            Fault::BrokenRepo { defect } => {
                request.extensions_mut().insert(BrokenRepo(defect));
                None
            }
            Fault::DropStream | Fault::Stall { .. } => None,
        };
        if answer.is_none() {
            answer = replacement;
        }
    }
    if let Some(answer) = answer {
        return answer;
    }
    let response = next.run(request).await;
    if shape.is_plain() || response.status() == StatusCode::SWITCHING_PROTOCOLS {
        response
    } else {
        shape.apply(response)
    }
}

/// How a served body is reshaped.
#[derive(Debug, Default, Clone)]
struct BodyShape {
    chunk_bytes: Option<usize>,
    interval: Duration,
    truncate_at: Option<u64>,
}

impl BodyShape {
    fn is_plain(&self) -> bool {
        self.chunk_bytes.is_none() && self.truncate_at.is_none()
    }

    fn apply(self, response: Response) -> Response {
        let (mut parts, body) = response.into_parts();
        // A truncated body must not announce its full length (the cut would then be an error
        // the client sees at once instead of a silently short body).
        parts.headers.remove(header::CONTENT_LENGTH);
        let shaper = Shaper {
            inner: body.into_data_stream(),
            pending: Bytes::new(),
            remaining: self.truncate_at,
            chunk_bytes: self.chunk_bytes,
            interval: self.interval,
            started: false,
        };
        let stream = futures::stream::unfold(shaper, Shaper::next_piece);
        Response::from_parts(parts, Body::from_stream(stream))
    }
}

/// The state of a reshaped body.
struct Shaper {
    inner: BodyDataStream,
    pending: Bytes,
    remaining: Option<u64>,
    chunk_bytes: Option<usize>,
    interval: Duration,
    started: bool,
}

impl Shaper {
    async fn next_piece(mut self) -> Option<(Result<Bytes, axum::Error>, Self)> {
        loop {
            if self.remaining == Some(0) {
                return None;
            }
            if self.pending.is_empty() {
                match self.inner.next().await? {
                    Ok(bytes) => self.pending = bytes,
                    Err(error) => return Some((Err(error), self)),
                }
                continue;
            }
            let mut take = self.pending.len();
            if let Some(chunk) = self.chunk_bytes {
                take = take.min(chunk);
                if self.started {
                    tokio::time::sleep(self.interval).await;
                }
            }
            if let Some(remaining) = self.remaining {
                take = take.min(usize::try_from(remaining).unwrap_or(usize::MAX));
            }
            self.started = true;
            let piece = self.pending.split_to(take);
            if let Some(remaining) = self.remaining.as_mut() {
                *remaining -= piece.len() as u64;
            }
            return Some((Ok(piece), self));
        }
    }
}
