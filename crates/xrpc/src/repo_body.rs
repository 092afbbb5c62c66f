//! [`RepoBody`]: a `getRepo` response body as a size-capped [`AsyncRead`].
//!
//! Repos can be gigabytes; they are streamed, never buffered. Each read waits at most the
//! client's read timeout for the next bytes (a slow but live download is fine; a stalled one is
//! not), and the total is capped by the caller. Failures surface as `io::Error`s wrapping a
//! [`RepoBodyError`], so a CAR reader on top reports them as read errors and
//! [`RepoBodyError::from_io`] recovers the cause.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};
use tokio_util::io::StreamReader;
use url::Url;

use crate::rate_limit::RateLimitInfo;

/// Why reading a repo body failed midway.
#[derive(Debug, thiserror::Error)]
pub enum RepoBodyError {
    /// More bytes than the caller allowed.
    #[error("repo body from {origin} is larger than {limit} bytes")]
    TooLarge {
        /// Origin that served the body.
        origin: String,
        /// The cap.
        limit: u64,
    },
    /// No bytes arrived within the read timeout.
    #[error("repo body from {origin} stalled: read timed out after {read_bytes} bytes")]
    Timeout {
        /// Origin that served the body.
        origin: String,
        /// Bytes read before the stall.
        read_bytes: u64,
    },
    /// The connection failed or was cut.
    #[error("repo body from {origin} failed after {read_bytes} bytes: {source}")]
    Transport {
        /// Origin that served the body.
        origin: String,
        /// Bytes read before the failure.
        read_bytes: u64,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },
}

impl RepoBodyError {
    /// The [`RepoBodyError`] inside an `io::Error` produced by a [`RepoBody`], if it is one.
    pub fn from_io(error: &io::Error) -> Option<&RepoBodyError> {
        error.get_ref()?.downcast_ref::<RepoBodyError>()
    }
}

/// A streamed `getRepo` body (a CAR file), readable with `AsyncRead`.
pub struct RepoBody {
    reader: StreamReader<CappedStream, Bytes>,
    rate_limit: RateLimitInfo,
    url: Url,
    content_length: Option<u64>,
}

impl RepoBody {
    /// Wraps a successful response.
    pub(crate) fn new(response: reqwest::Response, limit: u64) -> Self {
        let url = response.url().clone();
        let rate_limit = RateLimitInfo::from_headers(response.headers());
        let content_length = response.content_length();
        let stream = CappedStream {
            inner: Box::pin(response.bytes_stream()),
            origin: url.origin().ascii_serialization(),
            read_bytes: 0,
            limit,
            finished: false,
        };
        RepoBody {
            reader: StreamReader::new(stream),
            rate_limit,
            url,
            content_length,
        }
    }

    /// Rate-limit headers of the response.
    pub fn rate_limit(&self) -> &RateLimitInfo {
        &self.rate_limit
    }

    /// The URL that finally answered, after redirects (a relay redirects to the account's PDS).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// `Content-Length`, when the server sent one (PDSes usually stream without).
    pub fn content_length(&self) -> Option<u64> {
        self.content_length
    }

    /// Bytes received so far.
    pub fn bytes_read(&self) -> u64 {
        self.reader.get_ref().read_bytes
    }
}

impl std::fmt::Debug for RepoBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoBody")
            .field("url", &self.url.as_str())
            .field("bytes_read", &self.bytes_read())
            .finish_non_exhaustive()
    }
}

impl AsyncRead for RepoBody {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncBufRead for RepoBody {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Pin::new(&mut self.get_mut().reader).poll_fill_buf(cx)
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        Pin::new(&mut self.reader).consume(amt)
    }
}

/// The response's chunk stream with a byte cap; ends for good after the first error.
struct CappedStream {
    inner: BoxStream<'static, reqwest::Result<Bytes>>,
    origin: String,
    read_bytes: u64,
    limit: u64,
    finished: bool,
}

impl Stream for CappedStream {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.finished {
            return Poll::Ready(None);
        }
        let item = match self.inner.as_mut().poll_next(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(item) => item,
        };
        let this = &mut *self;
        let result = match item {
            None => {
                this.finished = true;
                return Poll::Ready(None);
            }
            Some(Ok(chunk)) => {
                this.read_bytes = this.read_bytes.saturating_add(chunk.len() as u64);
                if this.read_bytes > this.limit {
                    Err(io::Error::other(RepoBodyError::TooLarge {
                        origin: this.origin.clone(),
                        limit: this.limit,
                    }))
                } else {
                    Ok(chunk)
                }
            }
            Some(Err(source)) if source.is_timeout() => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                RepoBodyError::Timeout {
                    origin: this.origin.clone(),
                    read_bytes: this.read_bytes,
                },
            )),
            Some(Err(source)) => Err(io::Error::other(RepoBodyError::Transport {
                origin: this.origin.clone(),
                read_bytes: this.read_bytes,
                source,
            })),
        };
        if result.is_err() {
            this.finished = true;
        }
        Poll::Ready(Some(result))
    }
}
