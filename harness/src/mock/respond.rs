//! The answers every mock shares: XRPC error bodies, proxy HTML pages, streamed CAR bodies.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

/// Pieces a streamed body is cut into; real PDSes flush as they write the CAR.
const STREAM_CHUNK_BYTES: usize = 16 * 1024;

/// `{"error": name, "message": message}` with `status`.
pub(crate) fn xrpc_error(status: StatusCode, error: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": error, "message": message})),
    )
        .into_response()
}

/// A 400 `InvalidRequest`, the XRPC answer to bad parameters.
pub(crate) fn invalid_request(message: &str) -> Response {
    xrpc_error(StatusCode::BAD_REQUEST, "InvalidRequest", message)
}

/// An XRPC error named after the status (`InternalServerError`, `BadGateway`, …).
pub(crate) fn status_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let name: String = reason.split_whitespace().collect();
    xrpc_error(status, &name, reason)
}

/// A 429 with `Retry-After` and exhausted rate-limit headers, as the reference PDS sends.
pub(crate) fn rate_limited(retry_after_secs: u64, unix_now: u64) -> Response {
    let mut response = xrpc_error(
        StatusCode::TOO_MANY_REQUESTS,
        "RateLimitExceeded",
        "Rate Limit Exceeded",
    );
    let headers = response.headers_mut();
    headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    headers.insert("ratelimit-limit", HeaderValue::from(3000u32));
    headers.insert("ratelimit-remaining", HeaderValue::from(0u32));
    headers.insert(
        "ratelimit-reset",
        HeaderValue::from(unix_now + retry_after_secs),
    );
    headers.insert("ratelimit-policy", HeaderValue::from_static("3000;w=300"));
    response
}

/// The page an nginx in front of a dead service shows.
pub(crate) fn html_error(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let page = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// A CAR streamed in pieces, without `Content-Length`, as `getRepo` answers.
pub(crate) fn car_stream(car: Bytes) -> Response {
    let pieces: Vec<Result<Bytes, std::io::Error>> = (0..car.len())
        .step_by(STREAM_CHUNK_BYTES)
        .map(|start| Ok(car.slice(start..car.len().min(start + STREAM_CHUNK_BYTES))))
        .collect();
    let body = Body::from_stream(futures::stream::iter(pieces));
    ([(header::CONTENT_TYPE, "application/vnd.ipld.car")], body).into_response()
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
