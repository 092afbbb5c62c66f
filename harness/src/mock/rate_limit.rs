//! The mock PDS's rate limiter (per client IP, sliding window) and its request log.
//!
//! Like the reference PDS, every answer carries `RateLimit-Limit`, `RateLimit-Remaining`,
//! `RateLimit-Reset` (absolute unix seconds) and `RateLimit-Policy` (`limit;w=seconds`), and a
//! request over the limit gets a 429 with `Retry-After`. The window slides (a request is refused
//! when `limit` requests were accepted in the last `window_secs`), so "the limit was never
//! exceeded" means the same thing here as in [`RateLimiter::max_in_window`].
//!
//! Every request is logged (time, host, client, endpoint, refused or not) so that tests can
//! assert how a client paced itself against one host.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::fault_layer::request_target;
use super::listener::ConnMeta;
use super::respond::rate_limited;

/// A limit of `limit` requests per `window_secs` seconds per client IP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Requests accepted per window.
    pub limit: u32,
    /// The window, in seconds (at least 1).
    pub window_secs: u64,
}

/// One request the server received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: Instant,
    /// The `Host` it was sent to.
    pub host: String,
    /// The client's IP address.
    pub client: IpAddr,
    /// The XRPC method or path.
    pub endpoint: String,
    /// True if it was refused with a 429 by the rate limiter.
    pub limited: bool,
}

#[derive(Debug, Default)]
struct Inner {
    limit: Option<RateLimit>,
    accepted: HashMap<IpAddr, VecDeque<Instant>>,
    log: Vec<RequestRecord>,
}

/// The limiter and request log of one server; cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct RateLimiter {
    inner: Arc<Mutex<Inner>>,
}

/// The limiter's verdict on one request.
struct Verdict {
    allowed: bool,
    limit: RateLimit,
    remaining: u32,
    /// When the oldest request in the window leaves it.
    frees_at: Instant,
}

impl RateLimiter {
    /// A limiter enforcing `limit` (`None`: log only, no limit, no headers).
    pub fn new(limit: Option<RateLimit>) -> Self {
        let limiter = Self::default();
        limiter.set_limit(limit);
        limiter
    }

    /// Changes the limit; the accounting of past requests is kept.
    pub fn set_limit(&self, limit: Option<RateLimit>) {
        self.lock().limit = limit.map(|l| RateLimit {
            limit: l.limit,
            window_secs: l.window_secs.max(1),
        });
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().log.clone()
    }

    /// Requests refused with a 429 so far.
    pub fn limited_count(&self) -> usize {
        self.lock().log.iter().filter(|r| r.limited).count()
    }

    /// The most requests received (accepted or not) within any `window`, counting only those
    /// sent to `host` when given: a client that respects a rate of `n` per `window` keeps this
    /// at most `n`.
    pub fn max_in_window(&self, host: Option<&str>, window: Duration) -> usize {
        let inner = self.lock();
        let times: Vec<Instant> = inner
            .log
            .iter()
            .filter(|r| host.is_none_or(|h| r.host.eq_ignore_ascii_case(h)))
            .map(|r| r.at)
            .collect();
        let mut best = 0;
        let mut start = 0;
        for (end, at) in times.iter().enumerate() {
            while times
                .get(start)
                .is_some_and(|first| at.duration_since(*first) >= window)
            {
                start += 1;
            }
            best = best.max(end + 1 - start);
        }
        best
    }

    fn check(&self, record: RequestRecord) -> Option<Verdict> {
        let mut inner = self.lock();
        let Some(limit) = inner.limit else {
            inner.log.push(record);
            return None;
        };
        let window = Duration::from_secs(limit.window_secs);
        let now = record.at;
        let accepted = inner.accepted.entry(record.client).or_default();
        while accepted
            .front()
            .is_some_and(|first| now.duration_since(*first) >= window)
        {
            accepted.pop_front();
        }
        let allowed = accepted.len() < limit.limit as usize;
        if allowed {
            accepted.push_back(now);
        }
        let remaining = (limit.limit as usize).saturating_sub(accepted.len()) as u32;
        let frees_at = accepted.front().map_or(now, |first| *first + window);
        inner.log.push(RequestRecord {
            limited: !allowed,
            ..record
        });
        Some(Verdict {
            allowed,
            limit,
            remaining,
            frees_at,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every update is a plain assignment or push: a poisoned lock still holds sound data.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The middleware (`axum::middleware::from_fn_with_state` with the server's [`RateLimiter`]).
pub(crate) async fn enforce(
    State(limiter): State<RateLimiter>,
    ConnectInfo(conn): ConnectInfo<ConnMeta>,
    request: Request,
    next: Next,
) -> Response {
    let target = request_target(request.headers(), request.uri());
    let now = Instant::now();
    let record = RequestRecord {
        at: now,
        host: target.host,
        client: conn.remote.ip(),
        endpoint: target.endpoint,
        limited: false,
    };
    let Some(verdict) = limiter.check(record) else {
        return next.run(request).await;
    };
    let wait = verdict.frees_at.saturating_duration_since(now);
    // Whole seconds, rounded up: a client that waits this long is sure to get through.
    let wait_secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let unix_now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut response = if verdict.allowed {
        next.run(request).await
    } else {
        rate_limited(wait_secs.max(1), unix_now)
    };
    let headers = response.headers_mut();
    let policy = format!("{};w={}", verdict.limit.limit, verdict.limit.window_secs);
    let values = [
        ("ratelimit-limit", HeaderValue::from(verdict.limit.limit)),
        ("ratelimit-remaining", HeaderValue::from(verdict.remaining)),
        ("ratelimit-reset", HeaderValue::from(unix_now + wait_secs)),
        (
            "ratelimit-policy",
            HeaderValue::from_str(&policy).unwrap_or(HeaderValue::from_static("0;w=1")),
        ),
    ];
    for (name, value) in values {
        if verdict.allowed {
            // A 429 from the fault plan already carries its own (exhausted) values.
            headers.entry(name).or_insert(value);
        } else {
            headers.insert(name, value);
        }
    }
    response
}
