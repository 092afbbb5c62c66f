//! Size-capped body reading and the translation of error responses into [`XrpcError`].
//!
//! A stranger's server decides how many bytes it sends; nothing here reads more than its cap.

use bytes::BytesMut;
use reqwest::{Response, StatusCode};
use serde::Deserialize;

use crate::error::XrpcError;
use crate::rate_limit::{RateLimitInfo, retry_after};

/// How much of an error body is read: enough for any XRPC error JSON, and for a snippet of HTML.
const ERROR_BODY_CAP: usize = 64 * 1024;

/// How many characters of a non-XRPC error body are kept for the log.
const SNIPPET_CHARS: usize = 200;

/// Why a capped read stopped.
pub(crate) enum CappedReadError {
    /// The body passed the cap.
    TooLarge,
    /// The connection failed or timed out.
    Http(reqwest::Error),
}

/// Reads the whole body, failing as soon as it passes `cap` bytes.
pub(crate) async fn read_capped(
    response: &mut Response,
    cap: usize,
) -> Result<bytes::Bytes, CappedReadError> {
    if response
        .content_length()
        .is_some_and(|len| len > cap as u64)
    {
        return Err(CappedReadError::TooLarge);
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(CappedReadError::Http)? {
        if buf.len() + chunk.len() > cap {
            return Err(CappedReadError::TooLarge);
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Reads at most `cap` bytes of the body and drops the rest; read errors end the prefix early.
async fn read_prefix(response: &mut Response, cap: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = cap.saturating_sub(buf.len());
        buf.extend_from_slice(chunk.get(..room.min(chunk.len())).unwrap_or_default());
        if buf.len() >= cap {
            break;
        }
    }
    buf
}

/// The XRPC error body shape.
#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
    message: Option<String>,
}

/// Turns a non-success response into the matching [`XrpcError`].
pub(crate) async fn error_from_response(
    call: &'static str,
    origin: String,
    mut response: Response,
) -> XrpcError {
    let status = response.status();
    if status == StatusCode::TOO_MANY_REQUESTS {
        let headers = response.headers();
        return XrpcError::RateLimited {
            call,
            origin,
            retry_after: retry_after(headers),
            reset: RateLimitInfo::from_headers(headers).reset,
        };
    }
    let body = read_prefix(&mut response, ERROR_BODY_CAP).await;
    if let Ok(ErrorBody {
        error: Some(error),
        message,
    }) = serde_json::from_slice::<ErrorBody>(&body)
    {
        return XrpcError::Xrpc {
            call,
            origin,
            status: status.as_u16(),
            error,
            message,
        };
    }
    XrpcError::Status {
        call,
        origin,
        status: status.as_u16(),
        snippet: snippet(&body),
    }
}

/// The start of a body as one line of text, for logs and dead-letter reasons.
pub(crate) fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out = String::new();
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.chars().count() >= SNIPPET_CHARS {
            break;
        }
    }
    if out.chars().count() > SNIPPET_CHARS {
        out = out.chars().take(SNIPPET_CHARS).collect();
        out.push('…');
    }
    out
}
