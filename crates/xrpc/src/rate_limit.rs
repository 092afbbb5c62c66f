//! Rate-limit headers, parsed from every response so callers can pace themselves per host.
//!
//! atproto services send `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (an absolute
//! unix time in seconds) and `RateLimit-Policy` (`3000;w=300`); a 429 adds `Retry-After` (seconds,
//! or an HTTP date). Malformed values are ignored rather than failing the response: they are
//! advice, not data.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;

/// Values of `RateLimit-Reset` below this are taken as seconds from now rather than a unix time:
/// the IETF draft uses a delta, atproto uses an absolute time, and no real reset lies before 2001.
const DELTA_SECONDS_BELOW: u64 = 1_000_000_000;

/// Longest `Retry-After` or reset distance honoured; a stranger cannot park a worker for a year.
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);

/// What a response said about the caller's rate limit. Every field is optional: most servers
/// send none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RateLimitInfo {
    /// Requests allowed in the window (`RateLimit-Limit`).
    pub limit: Option<u64>,
    /// Requests left in the window (`RateLimit-Remaining`).
    pub remaining: Option<u64>,
    /// When the window resets (`RateLimit-Reset`).
    pub reset: Option<SystemTime>,
    /// The policy text, e.g. `3000;w=300` (`RateLimit-Policy`).
    pub policy: Option<String>,
}

impl RateLimitInfo {
    /// Parses the `RateLimit-*` headers; absent or malformed values are `None`.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        RateLimitInfo {
            limit: header_u64(headers, "ratelimit-limit"),
            remaining: header_u64(headers, "ratelimit-remaining"),
            reset: header_u64(headers, "ratelimit-reset").and_then(reset_time),
            policy: header_str(headers, "ratelimit-policy").map(str::to_owned),
        }
    }

    /// Whether the server said the window is used up.
    pub fn is_exhausted(&self) -> bool {
        self.remaining == Some(0)
    }

    /// How long until the window resets, if known and in the future.
    pub fn reset_in(&self) -> Option<Duration> {
        self.reset?.duration_since(SystemTime::now()).ok()
    }
}

/// Parses `Retry-After`: delay seconds, or an HTTP date (RFC 7231 IMF-fixdate).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = header_str(headers, "retry-after")?;
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(MAX_WAIT));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let at = SystemTime::from(date);
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
            .min(MAX_WAIT),
    )
}

fn reset_time(value: u64) -> Option<SystemTime> {
    if value < DELTA_SECONDS_BELOW {
        SystemTime::now().checked_add(Duration::from_secs(value).min(MAX_WAIT))
    } else {
        UNIX_EPOCH.checked_add(Duration::from_secs(value))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name)?.to_str().ok().map(str::trim)
}

fn header_u64(headers: &HeaderMap, name: &str) -> Option<u64> {
    header_str(headers, name)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn parses_atproto_headers() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("RateLimit-Limit", "3000"),
            ("RateLimit-Remaining", "0"),
            ("RateLimit-Reset", "1795765764"),
            ("RateLimit-Policy", "3000;w=300"),
        ]));
        assert_eq!(info.limit, Some(3000));
        assert!(info.is_exhausted());
        assert_eq!(
            info.reset,
            Some(UNIX_EPOCH + Duration::from_secs(1_795_765_764))
        );
        assert_eq!(info.policy.as_deref(), Some("3000;w=300"));
    }

    #[test]
    fn malformed_headers_are_ignored() {
        let info = RateLimitInfo::from_headers(&headers(&[
            ("RateLimit-Limit", "lots"),
            ("RateLimit-Remaining", "-1"),
        ]));
        assert_eq!(info, RateLimitInfo::default());
        assert_eq!(retry_after(&headers(&[("Retry-After", "soon")])), None);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(
            retry_after(&headers(&[("Retry-After", "120")])),
            Some(Duration::from_secs(120))
        );
        // A date in the past means "now".
        assert_eq!(
            retry_after(&headers(&[(
                "Retry-After",
                "Sun, 06 Nov 1994 08:49:37 GMT"
            )])),
            Some(Duration::ZERO)
        );
        // Absurd waits are capped.
        assert_eq!(
            retry_after(&headers(&[("Retry-After", "999999999")])),
            Some(MAX_WAIT)
        );
    }
}
