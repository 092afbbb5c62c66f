//! The operations endpoint: `/metrics` in Prometheus text format and `/healthz` (200 "ok" while
//! healthy, 503 with the reason after a task died or once shutdown began).
//!
//! The Prometheus recorder is process-global and installed at most once; histograms need periodic
//! upkeep, which the server does while it runs.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::health::Health;

/// How often histogram buckets are drained.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// Another metrics recorder was installed first.
    #[error("cannot install the Prometheus recorder: {0}")]
    Recorder(String),
    /// The port could not be bound.
    #[error("cannot listen on {addr} for /metrics: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
}

/// The process's Prometheus handle, installing the global recorder on first use.
pub fn prometheus_handle() -> Result<PrometheusHandle, MetricsError> {
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(MetricsError::Recorder)
}

/// A bound, not yet serving, operations endpoint.
pub struct MetricsServer {
    listener: TcpListener,
    handle: PrometheusHandle,
    health: Health,
}

impl MetricsServer {
    /// Installs the recorder and binds `0.0.0.0:port` (port 0: any free port).
    pub async fn bind(port: u16, health: Health) -> Result<MetricsServer, MetricsError> {
        let handle = prometheus_handle()?;
        let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| MetricsError::Bind { addr, source })?;
        Ok(MetricsServer {
            listener,
            handle,
            health,
        })
    }

    /// The address actually bound (tells the port when 0 was asked for).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` is cancelled.
    pub async fn serve(self, shutdown: CancellationToken) -> std::io::Result<()> {
        let upkeep_handle = self.handle.clone();
        let upkeep_stop = shutdown.clone();
        let upkeep = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(UPKEEP_INTERVAL);
            loop {
                tokio::select! {
                    _ = upkeep_stop.cancelled() => break,
                    _ = ticks.tick() => upkeep_handle.run_upkeep(),
                }
            }
        });
        let app = Router::new()
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .with_state((self.handle, self.health));
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        upkeep.abort();
        served
    }
}

async fn metrics(State((handle, _)): State<(PrometheusHandle, Health)>) -> String {
    handle.render()
}

async fn healthz(State((_, health)): State<(PrometheusHandle, Health)>) -> (StatusCode, String) {
    match health.status() {
        Ok(()) => (StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")),
    }
}
