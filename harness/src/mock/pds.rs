//! [`MockPds`]: a PDS as `@atproto/pds` runs one (compare `fixtures/realpds/`).
//!
//! - `com.atproto.sync.listRepos`: accounts in creation order, cursor `"<createdAt ms>::<did>"`
//!   on every non-empty page (so the listing ends with an empty page), inactive accounts listed
//!   with `active: false` and their `status`; deleted accounts are gone.
//! - `com.atproto.sync.getRepo?did=&since=`: the CAR, streamed without `Content-Length`, or the
//!   named 400s `RepoNotFound`, `RepoTakendown`, `RepoDeactivated`, `RepoSuspended`. `since` is
//!   accepted and the whole repository served (a superset of the diff, which clients must
//!   accept).
//! - `com.atproto.identity.resolveHandle` for its accounts' handles.
//! - `com.atproto.sync.subscribeRepos`: its own event stream.
//! - Rate limits per client IP with the `RateLimit-*` headers and 429s (see [`RateLimiter`]).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use protocol::car::{CarLimits, parse_slice};
use protocol::crypto::Keypair;
use protocol::repo::Commit;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::fault_layer::{BrokenRepo, apply_faults};
use super::params::Params;
use super::rate_limit::{RateLimit, RateLimiter, enforce};
use super::respond::{car_stream, invalid_request, xrpc_error};
use super::subscribe::{StreamContext, stream_router};
use super::{EventLog, MockError, MockOptions, MockServer, Shared};
use crate::faults::{FaultError, Faults, corrupt_repo};

/// An account's hosting status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Served.
    Active,
    /// Deactivated by its owner: listed, not served (`RepoDeactivated`).
    Deactivated,
    /// Taken down by the host: listed, not served (`RepoTakendown`).
    Takendown,
    /// Suspended: listed, not served (`RepoSuspended`).
    Suspended,
    /// Deleted: neither listed nor served (`RepoNotFound`).
    Deleted,
}

impl AccountStatus {
    /// The lexicon's name of the status.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Deactivated => "deactivated",
            AccountStatus::Takendown => "takendown",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Deleted => "deleted",
        }
    }

    /// The `status` string of `#account` frames and `listRepos`, `None` when active.
    pub fn as_status(self) -> Option<&'static str> {
        (!self.is_active()).then(|| self.as_str())
    }

    /// True when the repository is served.
    pub fn is_active(self) -> bool {
        self == AccountStatus::Active
    }

    /// The XRPC error a PDS answers `getRepo` with, `None` when active.
    pub fn get_repo_error(self) -> Option<&'static str> {
        match self {
            AccountStatus::Active => None,
            AccountStatus::Deactivated => Some("RepoDeactivated"),
            AccountStatus::Takendown => Some("RepoTakendown"),
            AccountStatus::Suspended => Some("RepoSuspended"),
            AccountStatus::Deleted => Some("RepoNotFound"),
        }
    }
}

/// One account hosted by the PDS.
#[derive(Clone)]
pub struct PdsAccount {
    /// The DID.
    pub did: String,
    /// The handle, for `resolveHandle`.
    pub handle: Option<String>,
    /// Creation time in milliseconds since the epoch: the listing order and the cursor.
    pub created_at_ms: i64,
    /// Hosting status.
    pub status: AccountStatus,
    /// CID of the newest commit (the CAR's root).
    pub head: String,
    /// Its rev.
    pub rev: String,
    /// The repository as `getRepo` serves it.
    pub car: Bytes,
    /// The account's signing key, for broken-repo faults that re-sign the commit.
    pub signing_key: Option<Keypair>,
}

impl std::fmt::Debug for PdsAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PdsAccount")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("created_at_ms", &self.created_at_ms)
            .field("status", &self.status)
            .field("head", &self.head)
            .field("rev", &self.rev)
            .field("car_bytes", &self.car.len())
            .field("signing_key", &self.signing_key.as_ref().map(|_| "…"))
            .finish()
    }
}

impl PdsAccount {
    /// An active account serving `car`; `head` and `rev` are read from the CAR's commit.
    pub fn from_car(did: &str, created_at_ms: i64, car: Bytes) -> Result<Self, MockError> {
        let bad = |source: FaultError| MockError::BadRepo {
            did: did.to_owned(),
            source: Box::new(source),
        };
        let slice = parse_slice(&car, &CarLimits::default()).map_err(|e| bad(e.into()))?;
        let root = slice.roots.first().copied().ok_or_else(|| {
            bad(FaultError::NotApplicable {
                defect: "none",
                reason: "the CAR has no root".into(),
            })
        })?;
        let commit_bytes = slice.blocks.get(&root).ok_or_else(|| {
            bad(FaultError::NotApplicable {
                defect: "none",
                reason: format!("the commit block {root} is missing"),
            })
        })?;
        let commit = Commit::decode(&root, commit_bytes).map_err(|e| bad(e.into()))?;
        Ok(Self {
            did: did.to_owned(),
            handle: None,
            created_at_ms,
            status: AccountStatus::Active,
            head: root.to_string(),
            rev: commit.rev,
            car,
            signing_key: None,
        })
    }
}

/// What the PDS serves (events are in its [`EventLog`]).
#[derive(Debug, Clone, Default)]
pub struct PdsState {
    /// Accounts; listed by `(created_at_ms, did)` whatever their order here.
    pub accounts: Vec<PdsAccount>,
}

/// Settings of a mock PDS beyond [`MockOptions`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PdsOptions {
    /// Per-client-IP rate limit (`None`: unlimited, and no `RateLimit-*` headers).
    pub rate_limit: Option<RateLimit>,
}

/// A running mock PDS.
#[derive(Debug)]
pub struct MockPds {
    server: MockServer,
    state: Shared<PdsState>,
    events: EventLog,
    faults: Faults,
    limiter: RateLimiter,
}

impl MockPds {
    /// Starts a PDS serving `state`.
    pub async fn start(
        state: PdsState,
        options: MockOptions,
        pds: PdsOptions,
    ) -> Result<Self, MockError> {
        let state = Shared::new(state);
        let events = EventLog::new(options.retained_events);
        let limiter = RateLimiter::new(pds.rate_limit);
        let shutdown = CancellationToken::new();
        let stream = StreamContext {
            log: events.clone(),
            faults: options.faults.clone(),
            max_lag: options.max_consumer_lag,
            shutdown: shutdown.clone(),
        };
        let router = Router::new()
            .route("/xrpc/com.atproto.sync.listRepos", get(list_repos))
            .route("/xrpc/com.atproto.sync.getRepo", get(get_repo))
            .route(
                "/xrpc/com.atproto.identity.resolveHandle",
                get(resolve_handle),
            )
            .with_state(state.clone())
            .merge(stream_router(
                "/xrpc/com.atproto.sync.subscribeRepos",
                stream,
            ))
            .layer(axum::middleware::from_fn_with_state(
                options.faults.clone(),
                apply_faults,
            ))
            .layer(axum::middleware::from_fn_with_state(
                limiter.clone(),
                enforce,
            ));
        let server = MockServer::start("pds", router, shutdown).await?;
        Ok(Self {
            server,
            state,
            events,
            faults: options.faults,
            limiter,
        })
    }

    /// The HTTP server (address, URLs, stop).
    pub fn server(&self) -> &MockServer {
        &self.server
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> Url {
        self.server.url()
    }

    /// The served state; change it at any time.
    pub fn state(&self) -> &Shared<PdsState> {
        &self.state
    }

    /// The PDS's own event stream.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// The fault plan in force.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The rate limiter and request log.
    pub fn limiter(&self) -> &RateLimiter {
        &self.limiter
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// A listing position: `(createdAt ms, did)`.
type Position = (i64, String);

fn parse_cursor(text: &str) -> Option<Position> {
    let (ms, did) = text.split_once("::")?;
    Some((ms.parse().ok()?, did.to_owned()))
}

async fn list_repos(State(state): State<Shared<PdsState>>, uri: Uri) -> Response {
    let params = Params::from_uri(&uri);
    let limit = match params.limit() {
        Ok(limit) => limit,
        Err(bad) => return bad,
    };
    let after = match params.get("cursor").map(parse_cursor) {
        None => None,
        Some(Some(position)) => Some(position),
        Some(None) => return invalid_request("Malformed cursor"),
    };
    let mut listed: Vec<(Position, serde_json::Value)> = state.read(|s| {
        s.accounts
            .iter()
            .filter(|a| a.status != AccountStatus::Deleted)
            .map(|a| {
                let repo = if a.status == AccountStatus::Active {
                    json!({"did": a.did, "head": a.head, "rev": a.rev, "active": true})
                } else {
                    json!({"did": a.did, "head": a.head, "rev": a.rev, "active": false,
                           "status": a.status.as_str()})
                };
                ((a.created_at_ms, a.did.clone()), repo)
            })
            .collect()
    });
    listed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let page: Vec<(Position, serde_json::Value)> = listed
        .into_iter()
        .filter(|(position, _)| after.as_ref().is_none_or(|after| position > after))
        .take(limit)
        .collect();
    let cursor = page.last().map(|((ms, did), _)| format!("{ms}::{did}"));
    let repos: Vec<serde_json::Value> = page.into_iter().map(|(_, repo)| repo).collect();
    let body = match cursor {
        Some(cursor) => json!({"cursor": cursor, "repos": repos}),
        None => json!({"repos": repos}),
    };
    axum::Json(body).into_response()
}

async fn get_repo(
    State(state): State<Shared<PdsState>>,
    uri: Uri,
    broken: Option<axum::Extension<BrokenRepo>>,
) -> Response {
    let params = Params::from_uri(&uri);
    let did = match params.require("did") {
        Ok(did) => did,
        Err(bad) => return bad,
    };
    let found = state.read(|s| {
        s.accounts
            .iter()
            .find(|a| a.did == did)
            .map(|a| (a.status, a.car.clone(), a.signing_key.clone()))
    });
    let (car, key) = match found {
        None | Some((AccountStatus::Deleted, _, _)) => {
            return repo_error(
                "RepoNotFound",
                &format!("Could not find repo for DID: {did}"),
            );
        }
        Some((AccountStatus::Deactivated, _, _)) => {
            return repo_error(
                "RepoDeactivated",
                &format!("Repo has been deactivated: {did}"),
            );
        }
        Some((AccountStatus::Takendown, _, _)) => {
            return repo_error("RepoTakendown", &format!("Repo has been takendown: {did}"));
        }
        Some((AccountStatus::Suspended, _, _)) => {
            return repo_error("RepoSuspended", &format!("Repo has been suspended: {did}"));
        }
        Some((AccountStatus::Active, car, key)) => (car, key),
    };
    let car = match broken {
        None => car,
        Some(axum::Extension(BrokenRepo(defect))) => {
            // Damaging a real-sized repo is CPU work (hashing, signing): off the runtime.
            let damaged =
                tokio::task::spawn_blocking(move || corrupt_repo(&car, &defect, key.as_ref()))
                    .await;
            match damaged {
                Ok(Ok(bytes)) => Bytes::from(bytes),
                Ok(Err(error)) => {
                    return xrpc_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalServerError",
                        &format!("fault plan could not break the repo of {did}: {error}"),
                    );
                }
                Err(join) => {
                    return xrpc_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "InternalServerError",
                        &format!("breaking the repo of {did} failed: {join}"),
                    );
                }
            }
        }
    };
    car_stream(car)
}

fn repo_error(name: &str, message: &str) -> Response {
    xrpc_error(StatusCode::BAD_REQUEST, name, message)
}

async fn resolve_handle(State(state): State<Shared<PdsState>>, uri: Uri) -> Response {
    let params = Params::from_uri(&uri);
    let handle = match params.require("handle") {
        Ok(handle) => handle.to_ascii_lowercase(),
        Err(bad) => return bad,
    };
    let did = state.read(|s| {
        s.accounts
            .iter()
            .filter(|a| a.status != AccountStatus::Deleted)
            .find(|a| {
                a.handle
                    .as_deref()
                    .is_some_and(|h| h.eq_ignore_ascii_case(&handle))
            })
            .map(|a| a.did.clone())
    });
    match did {
        Some(did) => axum::Json(json!({ "did": did })).into_response(),
        None => invalid_request("Unable to resolve handle"),
    }
}
