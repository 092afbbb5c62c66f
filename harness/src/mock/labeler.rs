//! [`MockLabeler`]: a labeler's `com.atproto.label.subscribeLabels?cursor=N`: `#labels` frames
//! replayed from the cursor, then live (see [`subscribe`](super::subscribe)). Append frames with
//! [`EventLog::append_frame`] and [`protocol::frames::Frame::Labels`].

use axum::Router;
use tokio_util::sync::CancellationToken;
use url::Url;

use super::fault_layer::apply_faults;
use super::subscribe::{StreamContext, stream_router};
use super::{EventLog, MockError, MockOptions, MockServer};
use crate::faults::Faults;

/// A running mock labeler.
#[derive(Debug)]
pub struct MockLabeler {
    server: MockServer,
    events: EventLog,
    faults: Faults,
}

impl MockLabeler {
    /// Starts a labeler with an empty label stream.
    pub async fn start(options: MockOptions) -> Result<Self, MockError> {
        let events = EventLog::new(options.retained_events);
        let shutdown = CancellationToken::new();
        let stream = StreamContext {
            log: events.clone(),
            faults: options.faults.clone(),
            max_lag: options.max_consumer_lag,
            shutdown: shutdown.clone(),
        };
        let router = Router::new()
            .merge(stream_router(
                "/xrpc/com.atproto.label.subscribeLabels",
                stream,
            ))
            .layer(axum::middleware::from_fn_with_state(
                options.faults.clone(),
                apply_faults,
            ));
        let server = MockServer::start("labeler", router, shutdown).await?;
        Ok(Self {
            server,
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

    /// The label stream.
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
