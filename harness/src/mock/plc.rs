//! [`MockPlc`]: the PLC directory: `GET /{did}` answers the DID document, or a 404 with
//! `{"message": "DID not registered: …"}` (`DID not available: …` for a tombstoned DID), as
//! `@did-plc/server` does.

use std::collections::{HashMap, HashSet};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use url::Url;

use super::fault_layer::apply_faults;
use super::{MockError, MockOptions, MockServer, Shared};
use crate::faults::Faults;

/// What the directory serves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlcState {
    /// DID documents by DID.
    pub documents: HashMap<String, Value>,
    /// DIDs whose operation log ends in a tombstone.
    pub tombstoned: HashSet<String>,
}

/// A running mock PLC directory.
#[derive(Debug)]
pub struct MockPlc {
    server: MockServer,
    state: Shared<PlcState>,
    faults: Faults,
}

impl MockPlc {
    /// Starts a directory serving `state` (only `options.faults` matters here).
    pub async fn start(state: PlcState, options: MockOptions) -> Result<Self, MockError> {
        let state = Shared::new(state);
        let router = Router::new()
            .route("/{did}", get(resolve))
            .with_state(state.clone())
            .layer(axum::middleware::from_fn_with_state(
                options.faults.clone(),
                apply_faults,
            ));
        let server = MockServer::start("plc", router, CancellationToken::new()).await?;
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

    /// `http://127.0.0.1:PORT`: the `PLC_URL` of the test network.
    pub fn url(&self) -> Url {
        self.server.url()
    }

    /// The served state; change it at any time.
    pub fn state(&self) -> &Shared<PlcState> {
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

async fn resolve(State(state): State<Shared<PlcState>>, Path(did): Path<String>) -> Response {
    let found = state.read(|s| {
        if s.tombstoned.contains(&did) {
            Err(format!("DID not available: {did}"))
        } else {
            s.documents
                .get(&did)
                .cloned()
                .ok_or_else(|| format!("DID not registered: {did}"))
        }
    });
    match found {
        Ok(document) => (
            [(
                header::CONTENT_TYPE,
                "application/did+ld+json; charset=utf-8",
            )],
            document.to_string(),
        )
            .into_response(),
        Err(message) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "message": message })),
        )
            .into_response(),
    }
}
