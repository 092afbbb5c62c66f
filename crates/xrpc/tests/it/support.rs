//! Helpers shared by the xrpc integration tests: the real-PDS fixtures, small axum servers
//! on ephemeral 127.0.0.1 ports, and clients configured for them.

use std::time::Duration;

use axum::Router;
use url::Url;
use xrpc::{ClientConfig, XrpcClient};

/// A JSON fixture from `fixtures/realpds/`.
pub fn realpds_json(name: &str) -> serde_json::Value {
    let path = testkit::realpds(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Serves `router` on an ephemeral port; returns its base URL (`http://127.0.0.1:PORT`).
pub async fn serve(router: Router) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Url::parse(&format!("http://{addr}")).expect("url")
}

/// Client settings for local test servers: private hosts allowed, short timeouts.
pub fn test_config() -> ClientConfig {
    ClientConfig {
        allow_private_hosts: true,
        read_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
        ..ClientConfig::default()
    }
}

/// A client for local test servers.
pub fn test_client() -> XrpcClient {
    XrpcClient::new(test_config()).expect("client")
}
