//! [`XrpcError`]: what can go wrong calling an XRPC endpoint, and how callers should react.
//!
//! Every variant names the call (`com.atproto.sync.getRepo`, `did-document`, …) and the origin it
//! was made to, so a log line or dead-letter reason stands on its own. The classification helpers
//! decide retry policy: [`XrpcError::is_permanent`] errors (a repo that is gone, taken down,
//! deactivated or suspended; a body over the caller's cap; a refused destination) are not worth
//! retrying, everything else is.

use std::time::{Duration, SystemTime};

/// Error names for a repo that does not exist (or no longer exists) at that host.
const NOT_FOUND_NAMES: &[&str] = &["RepoNotFound"];
/// Error names for an account taken down by its host (the lexicon spells it `Takendown`).
const TAKEN_DOWN_NAMES: &[&str] = &["RepoTakendown", "RepoTakenDown", "AccountTakedown"];
/// Error names for an account its owner deactivated.
const DEACTIVATED_NAMES: &[&str] = &["RepoDeactivated", "AccountDeactivated"];
/// Error names for a suspended account.
const SUSPENDED_NAMES: &[&str] = &["RepoSuspended"];

/// A failed XRPC (or plain HTTP) call.
#[derive(Debug, thiserror::Error)]
pub enum XrpcError {
    /// The server answered with a named XRPC error: `{"error": name, "message": …}`.
    #[error("{call} at {origin}: HTTP {status} {error}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Xrpc {
        /// The call, e.g. `com.atproto.sync.getRepo`.
        call: &'static str,
        /// Origin of the request, e.g. `https://bsky.network`.
        origin: String,
        /// HTTP status.
        status: u16,
        /// The error name, e.g. `RepoNotFound`.
        error: String,
        /// The server's message, if any.
        message: Option<String>,
    },
    /// A non-success status whose body is not an XRPC error (HTML from a proxy, plain text, …).
    #[error("{call} at {origin}: HTTP {status}, body {snippet:?}")]
    Status {
        /// The call.
        call: &'static str,
        /// Origin of the request.
        origin: String,
        /// HTTP status.
        status: u16,
        /// The start of the body, whitespace collapsed, for the log.
        snippet: String,
    },
    /// 429: the host asks us to slow down. Back-pressure, not a failure of the request itself.
    #[error("{call} at {origin}: rate limited (retry after {retry_after:?})")]
    RateLimited {
        /// The call.
        call: &'static str,
        /// Origin of the request.
        origin: String,
        /// From `Retry-After`.
        retry_after: Option<Duration>,
        /// From `RateLimit-Reset`.
        reset: Option<SystemTime>,
    },
    /// Connecting, or waiting for the next bytes, took longer than the configured timeout.
    #[error("{call} at {origin}: timed out")]
    Timeout {
        /// The call.
        call: &'static str,
        /// Origin of the request.
        origin: String,
    },
    /// Connection, TLS, HTTP protocol or redirect failure.
    #[error("{call} at {origin}: {source}")]
    Transport {
        /// The call.
        call: &'static str,
        /// Origin of the request.
        origin: String,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
    /// A success status whose body is not the JSON the call promises.
    #[error("{call} at {origin}: bad JSON response: {source}")]
    BadJson {
        /// The call.
        call: &'static str,
        /// Origin of the request.
        origin: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The body is larger than the cap for this call.
    #[error("{call} at {origin}: response larger than {limit} bytes")]
    TooLarge {
        /// The call.
        call: &'static str,
        /// Origin of the request.
        origin: String,
        /// The cap, in bytes.
        limit: u64,
    },
    /// The destination (or a redirect target) is on a private network and those are not allowed.
    #[error("{call}: refusing private destination {url}")]
    PrivateHost {
        /// The call.
        call: &'static str,
        /// The refused URL.
        url: String,
    },
    /// The base URL cannot carry an XRPC call (no host, not http or https).
    #[error("{call}: unusable base URL {url}: {reason}")]
    BadUrl {
        /// The call.
        call: &'static str,
        /// The offending URL.
        url: String,
        /// Why it is unusable.
        reason: &'static str,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("building the HTTP client: {0}")]
    Build(#[source] reqwest::Error),
}

impl XrpcError {
    /// The XRPC error name (`RepoNotFound`, …), for [`XrpcError::Xrpc`].
    pub fn error_name(&self) -> Option<&str> {
        match self {
            XrpcError::Xrpc { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            XrpcError::Xrpc { status, .. } | XrpcError::Status { status, .. } => Some(*status),
            XrpcError::RateLimited { .. } => Some(429),
            _ => None,
        }
    }

    fn name_in(&self, names: &[&str]) -> bool {
        self.error_name().is_some_and(|name| names.contains(&name))
    }

    /// The repo does not exist at that host (`RepoNotFound`).
    pub fn is_repo_not_found(&self) -> bool {
        self.name_in(NOT_FOUND_NAMES)
    }

    /// The account was taken down (`RepoTakendown`).
    pub fn is_taken_down(&self) -> bool {
        self.name_in(TAKEN_DOWN_NAMES)
    }

    /// The account was deactivated (`RepoDeactivated`).
    pub fn is_deactivated(&self) -> bool {
        self.name_in(DEACTIVATED_NAMES)
    }

    /// The account was suspended (`RepoSuspended`).
    pub fn is_suspended(&self) -> bool {
        self.name_in(SUSPENDED_NAMES)
    }

    /// A 429.
    pub fn is_rate_limited(&self) -> bool {
        matches!(self, XrpcError::RateLimited { .. })
    }

    /// A timeout (connect or read).
    pub fn is_timeout(&self) -> bool {
        matches!(self, XrpcError::Timeout { .. })
    }

    /// Retrying the same request cannot succeed: the repo is gone or barred, the body is over the
    /// cap, or the destination is refused. Everything else (5xx, timeouts, transport, 429, odd
    /// bodies from proxies) is worth retrying with backoff.
    pub fn is_permanent(&self) -> bool {
        self.is_repo_not_found()
            || self.is_taken_down()
            || self.is_deactivated()
            || self.is_suspended()
            || matches!(
                self,
                XrpcError::TooLarge { .. }
                    | XrpcError::PrivateHost { .. }
                    | XrpcError::BadUrl { .. }
            )
    }

    /// Maps a reqwest error, recognising timeouts and refused private redirects.
    pub(crate) fn from_reqwest(call: &'static str, origin: String, source: reqwest::Error) -> Self {
        if let Some(refused) = find_private_destination(&source) {
            return XrpcError::PrivateHost {
                call,
                url: refused.url.clone(),
            };
        }
        if source.is_timeout() {
            XrpcError::Timeout { call, origin }
        } else {
            XrpcError::Transport {
                call,
                origin,
                source,
            }
        }
    }
}

/// Raised inside the client (redirect policy, resolver) when a destination is private; carried
/// through reqwest's error chain and turned into [`XrpcError::PrivateHost`].
#[derive(Debug, thiserror::Error)]
#[error("refusing private destination {url}")]
pub(crate) struct PrivateDestination {
    /// The refused URL or host name.
    pub(crate) url: String,
}

fn find_private_destination(error: &reqwest::Error) -> Option<&PrivateDestination> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(err) = current {
        if let Some(found) = err.downcast_ref::<PrivateDestination>() {
            return Some(found);
        }
        current = err.source();
    }
    None
}
