//! [`MockRelay`]: a relay as indigo runs one.
//!
//! - `com.atproto.sync.listRepos`: accounts in id order, the cursor being the last id of a page
//!   (decimal) and given only when the page is full; active accounts only.
//! - `com.atproto.sync.listHosts`: the PDS hosts it crawls, same cursor style.
//! - `com.atproto.sync.getRepo`: a 302 to the account's PDS.
//! - `com.atproto.sync.subscribeRepos`: the firehose (see [`subscribe`](super::subscribe)).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::fault_layer::apply_faults;
use super::params::Params;
use super::respond::{invalid_request, xrpc_error};
use super::subscribe::{StreamContext, stream_router};
use super::{EventLog, MockError, MockOptions, MockServer, Shared};
use crate::faults::Faults;

/// One account as the relay knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayAccount {
    /// The relay's internal id: the listing order and the cursor.
    pub id: u64,
    /// The account's DID.
    pub did: String,
    /// CID of the newest commit the relay saw.
    pub head: String,
    /// Its rev.
    pub rev: String,
    /// Whether the account is active (inactive ones are not listed).
    pub active: bool,
    /// Why not, when inactive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Base URL of the account's PDS (`http://127.0.0.1:PORT`), where `getRepo` redirects.
    pub pds: String,
}

/// One PDS host the relay crawls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayHost {
    /// The relay's internal id: the listing order and the cursor.
    pub id: u64,
    /// The host name (with a port on test networks).
    pub hostname: String,
    /// Accounts on it.
    pub account_count: u64,
    /// `active`, `idle`, `offline`, `throttled` or `banned`.
    pub status: String,
}

/// What the relay serves (events are in its [`EventLog`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayState {
    /// Accounts; listed in `id` order whatever their order here.
    pub accounts: Vec<RelayAccount>,
    /// PDS hosts; listed in `id` order.
    pub hosts: Vec<RelayHost>,
}

/// A running mock relay.
#[derive(Debug)]
pub struct MockRelay {
    server: MockServer,
    state: Shared<RelayState>,
    events: EventLog,
    faults: Faults,
}

impl MockRelay {
    /// Starts a relay serving `state`.
    pub async fn start(state: RelayState, options: MockOptions) -> Result<Self, MockError> {
        let state = Shared::new(state);
        let events = EventLog::new(options.retained_events);
        let shutdown = CancellationToken::new();
        let stream = StreamContext {
            log: events.clone(),
            faults: options.faults.clone(),
            max_lag: options.max_consumer_lag,
            shutdown: shutdown.clone(),
        };
        let router = Router::new()
            .route("/xrpc/com.atproto.sync.listRepos", get(list_repos))
            .route("/xrpc/com.atproto.sync.listHosts", get(list_hosts))
            .route("/xrpc/com.atproto.sync.getRepo", get(get_repo))
            .with_state(state.clone())
            .merge(stream_router(
                "/xrpc/com.atproto.sync.subscribeRepos",
                stream,
            ))
            .layer(axum::middleware::from_fn_with_state(
                options.faults.clone(),
                apply_faults,
            ));
        let server = MockServer::start("relay", router, shutdown).await?;
        Ok(Self {
            server,
            state,
            events,
            faults: options.faults,
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
    pub fn state(&self) -> &Shared<RelayState> {
        &self.state
    }

    /// The firehose.
    pub fn events(&self) -> &EventLog {
        &self.events
    }

    /// The fault plan in force.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Stops the server.
    pub async fn stop(self) {
        self.server.stop().await;
    }
}

/// Parses a numeric cursor (absent: 0).
// The error is the HTTP answer itself, returned straight to axum: boxing it buys nothing.
#[allow(clippy::result_large_err)]
fn numeric_cursor(params: &Params) -> Result<u64, Response> {
    match params.get("cursor") {
        None => Ok(0),
        Some(text) => text
            .parse::<u64>()
            .map_err(|_| invalid_request("invalid cursor")),
    }
}

/// The page after `cursor` and its cursor (only when the page is full). Only the page is
/// sorted, so listing a large relay page by page stays linear per page.
fn page<T>(items: Vec<(u64, T)>, cursor: u64, limit: usize) -> (Vec<T>, Option<String>) {
    let mut page: Vec<(u64, T)> = items.into_iter().filter(|(id, _)| *id > cursor).collect();
    if page.len() > limit {
        page.select_nth_unstable_by_key(limit, |(id, _)| *id);
        page.truncate(limit);
    }
    page.sort_unstable_by_key(|(id, _)| *id);
    let next = match page.last() {
        Some((id, _)) if page.len() == limit => Some(id.to_string()),
        _ => None,
    };
    (page.into_iter().map(|(_, item)| item).collect(), next)
}

fn with_cursor(mut body: Value, cursor: Option<String>) -> Value {
    if let (Some(cursor), Some(object)) = (cursor, body.as_object_mut()) {
        object.insert("cursor".into(), Value::String(cursor));
    }
    body
}

async fn list_repos(State(state): State<Shared<RelayState>>, uri: Uri) -> Response {
    let params = Params::from_uri(&uri);
    let (limit, cursor) = match (params.limit(), numeric_cursor(&params)) {
        (Ok(limit), Ok(cursor)) => (limit, cursor),
        (Err(bad), _) | (_, Err(bad)) => return bad,
    };
    // The page is chosen by id first; only its accounts are turned into JSON.
    let (repos, next) = state.read(|s| {
        let active = s.accounts.iter().filter(|a| a.active).map(|a| (a.id, a));
        let (accounts, next) = page(active.collect(), cursor, limit);
        let repos: Vec<Value> = accounts
            .iter()
            .map(|a| json!({"did": a.did, "head": a.head, "rev": a.rev, "active": true}))
            .collect();
        (repos, next)
    });
    axum::Json(with_cursor(json!({ "repos": repos }), next)).into_response()
}

async fn list_hosts(State(state): State<Shared<RelayState>>, uri: Uri) -> Response {
    let params = Params::from_uri(&uri);
    let (limit, cursor) = match (params.limit(), numeric_cursor(&params)) {
        (Ok(limit), Ok(cursor)) => (limit, cursor),
        (Err(bad), _) | (_, Err(bad)) => return bad,
    };
    let items = state.read(|s| {
        s.hosts
            .iter()
            .map(|h| {
                let host = json!({
                    "hostname": h.hostname,
                    "accountCount": h.account_count,
                    "status": h.status,
                });
                (h.id, host)
            })
            .collect()
    });
    let (hosts, next) = page(items, cursor, limit);
    axum::Json(with_cursor(json!({ "hosts": hosts }), next)).into_response()
}

async fn get_repo(State(state): State<Shared<RelayState>>, uri: Uri) -> Response {
    let params = Params::from_uri(&uri);
    let did = match params.require("did") {
        Ok(did) => did,
        Err(bad) => return bad,
    };
    let Some(pds) = state.read(|s| {
        s.accounts
            .iter()
            .find(|a| a.did == did)
            .map(|a| a.pds.clone())
    }) else {
        return xrpc_error(
            StatusCode::NOT_FOUND,
            "RepoNotFound",
            &format!("Could not find repo for DID: {did}"),
        );
    };
    let Ok(mut target) =
        Url::parse(&pds).and_then(|base| base.join("/xrpc/com.atproto.sync.getRepo"))
    else {
        return xrpc_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            &format!("bad PDS URL {pds:?} for {did}"),
        );
    };
    target.query_pairs_mut().append_pair("did", did);
    if let Some(since) = params.get("since") {
        target.query_pairs_mut().append_pair("since", since);
    }
    (StatusCode::FOUND, [(header::LOCATION, target.to_string())]).into_response()
}
