//! [`MockServer`]: one axum app on an ephemeral 127.0.0.1 port, with a graceful stop.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::MockError;
use super::listener::{ConnMeta, ResettableListener};

/// How long [`MockServer::stop`] lets open HTTP requests finish before it aborts them.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A running mock server. Dropping it stops it too (without waiting).
#[derive(Debug)]
pub struct MockServer {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Binds an ephemeral port and serves `router` until `shutdown` is cancelled. Stream handlers
    /// watch the same token, so stopping also ends WebSocket connections.
    pub(crate) async fn start(
        name: &'static str,
        router: Router,
        shutdown: CancellationToken,
    ) -> Result<Self, MockError> {
        let bind_error = |source| MockError::Bind {
            server: name,
            source,
        };
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let service = router.into_make_service_with_connect_info::<ConnMeta>();
        let token = shutdown.clone();
        let task = tokio::spawn(async move {
            let served = axum::serve(ResettableListener::new(listener), service)
                .with_graceful_shutdown(token.cancelled_owned())
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, server = name, "mock server stopped with an error");
            }
        });
        Ok(Self {
            addr,
            shutdown,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, the host part of its URLs.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> Url {
        local_url("http", self.addr)
    }

    /// `ws://127.0.0.1:PORT`.
    pub fn ws_url(&self) -> Url {
        local_url("ws", self.addr)
    }

    /// Stops accepting, ends streams, lets open requests finish (for a few seconds at most).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(mut task) = self.task.take()
            && tokio::time::timeout(STOP_GRACE, &mut task).await.is_err()
        {
            task.abort();
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn local_url(scheme: &str, addr: SocketAddr) -> Url {
    // Our own socket address, not input: it always makes a valid URL.
    Url::parse(&format!("{scheme}://{addr}")).expect("a socket address makes a valid URL")
}
