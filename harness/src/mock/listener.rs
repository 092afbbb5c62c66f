//! The mocks' TCP listener: plain loopback sockets that a handler can reset (RST) on demand.
//!
//! axum hands a handler no socket, so each accepted connection carries a kill switch that the
//! handler reaches through [`ConnMeta`] (axum's connect info). Once killed, the next read or write
//! fails and the socket is closed with a zero linger, which makes the kernel send an RST: the
//! client sees "connection reset by peer", exactly as when a real server or proxy dies.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// Accepts connections and wraps each in a [`ResettableStream`].
#[derive(Debug)]
pub(crate) struct ResettableListener {
    inner: TcpListener,
}

impl ResettableListener {
    /// Wraps a bound listener.
    pub(crate) fn new(inner: TcpListener) -> Self {
        Self { inner }
    }
}

impl Listener for ResettableListener {
    type Io = ResettableStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, addr)) => {
                    // Trickled bodies must leave in small pieces, not wait for Nagle.
                    let _ = stream.set_nodelay(true);
                    let io = ResettableStream {
                        inner: stream,
                        kill: Arc::new(AtomicBool::new(false)),
                    };
                    return (io, addr);
                }
                // Out of file descriptors and the like: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP connection with a kill switch.
#[derive(Debug)]
pub(crate) struct ResettableStream {
    inner: TcpStream,
    kill: Arc<AtomicBool>,
}

impl ResettableStream {
    /// The error to return once killed; arms the RST on close.
    fn reset(&self) -> io::Error {
        let _ = self.inner.set_zero_linger();
        io::Error::from(io::ErrorKind::ConnectionReset)
    }

    fn killed(&self) -> bool {
        self.kill.load(Ordering::Acquire)
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(this.reset()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(this.reset()));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(this.reset()));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(this.reset()));
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.killed() {
            return Poll::Ready(Err(this.reset()));
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

/// What a handler knows about its connection: the client's address and the kill switch.
#[derive(Debug, Clone)]
pub(crate) struct ConnMeta {
    /// The client's address (rate limits are per client IP).
    pub(crate) remote: SocketAddr,
    kill: Arc<AtomicBool>,
}

impl ConnMeta {
    /// Resets the connection: the response being written fails and the client sees an RST.
    pub(crate) fn reset(&self) {
        self.kill.store(true, Ordering::Release);
    }
}

impl Connected<IncomingStream<'_, ResettableListener>> for ConnMeta {
    fn connect_info(stream: IncomingStream<'_, ResettableListener>) -> Self {
        ConnMeta {
            remote: *stream.remote_addr(),
            kill: stream.io().kill.clone(),
        }
    }
}
