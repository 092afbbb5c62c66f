//! [`MockWeb`]: the web side of identity: did:web documents and handle checks over HTTPS.
//!
//! One server plays many hosts: the answer is chosen by the `Host` header (port ignored), so a
//! test points `alice.test` and `bob.test` at the same address.
//! - `/.well-known/did.json`: the did:web document of that host;
//! - `/.well-known/atproto-did`: the DID the handle (= host) claims, as plain text;
//! - `/xrpc/com.atproto.identity.resolveHandle?handle=`: the same table, as a resolver service.

use std::collections::HashMap;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::fault_layer::{apply_faults, request_target};
use super::params::Params;
use super::respond::invalid_request;
use super::{MockError, MockOptions, MockServer, Shared};
use crate::faults::Faults;

/// What the server answers per host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebState {
    /// did:web documents by host name (`example.test` for `did:web:example.test`).
    pub did_documents: HashMap<String, Value>,
    /// The DID each handle claims, by handle.
    pub handles: HashMap<String, String>,
}

/// A running mock web host.
#[derive(Debug)]
pub struct MockWeb {
    server: MockServer,
    state: Shared<WebState>,
    faults: Faults,
}

impl MockWeb {
    /// Starts a server answering for every host in `state`.
    pub async fn start(state: WebState, options: MockOptions) -> Result<Self, MockError> {
        let state = Shared::new(state);
        let router = Router::new()
            .route("/.well-known/did.json", get(did_json))
            .route("/.well-known/atproto-did", get(atproto_did))
            .route(
                "/xrpc/com.atproto.identity.resolveHandle",
                get(resolve_handle),
            )
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(
                options.faults.clone(),
                apply_faults,
            ));
        let server = MockServer::start("web", router, CancellationToken::new()).await?;
        Ok(Self {
            server,
            state,
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
    pub fn state(&self) -> &Shared<WebState> {
        &self.state
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

/// The host the client asked for, lower case, without the port.
fn host_name(headers: &HeaderMap, uri: &Uri) -> String {
    let host = request_target(headers, uri).host;
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name.to_owned(),
        _ => host,
    }
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not Found").into_response()
}

async fn did_json(State(state): State<Shared<WebState>>, headers: HeaderMap, uri: Uri) -> Response {
    let host = host_name(&headers, &uri);
    match state.read(|s| s.did_documents.get(&host).cloned()) {
        Some(document) => axum::Json(document).into_response(),
        None => not_found(),
    }
}

async fn atproto_did(
    State(state): State<Shared<WebState>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let host = host_name(&headers, &uri);
    match state.read(|s| s.handles.get(&host).cloned()) {
        Some(did) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], did).into_response(),
        None => not_found(),
    }
}

async fn resolve_handle(State(state): State<Shared<WebState>>, uri: Uri) -> Response {
    let params = Params::from_uri(&uri);
    let handle = match params.require("handle") {
        Ok(handle) => handle.to_ascii_lowercase(),
        Err(bad) => return bad,
    };
    match state.read(|s| s.handles.get(&handle).cloned()) {
        Some(did) => axum::Json(json!({ "did": did })).into_response(),
        None => invalid_request("Unable to resolve handle"),
    }
}
