//! What a connection is doing, as the idle-timeout watchdog needs to know it: whether a request
//! is in progress, whether bytes moved lately, whether any request has started yet.
//!
//! Three small pieces feed one shared [`Activity`]: [`Tracked`] wraps the socket and notes every
//! read or write that moves bytes; [`InFlight`] counts a request from the moment hyper hands it to
//! the application until its response body is dropped (so an event stream stays in progress for
//! its whole life); [`TrackedBody`] carries that guard inside the response body. The socket
//! wrapper also holds the connection's [`Permit`], so the connection stays counted as long as the
//! socket lives, after a WebSocket upgrade too.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper::body::{Body, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::admission::Permit;

/// One connection's activity, shared by its socket, its requests and its watchdog.
#[derive(Debug)]
pub(crate) struct Activity {
    _permit: Permit,
    /// Requests whose response body is still alive.
    in_flight: AtomicU32,
    /// Some request has started on this connection.
    served: AtomicBool,
    /// Bytes moved since the watchdog last looked.
    recent: AtomicBool,
    /// Bytes arrived since the last request started or ended: the start of a request head.
    reading: AtomicBool,
}

impl Activity {
    pub(crate) fn new(permit: Permit) -> Arc<Self> {
        Arc::new(Self {
            _permit: permit,
            in_flight: AtomicU32::new(0),
            served: AtomicBool::new(false),
            recent: AtomicBool::new(false),
            reading: AtomicBool::new(false),
        })
    }

    pub(crate) fn in_progress(&self) -> bool {
        self.in_flight.load(Ordering::Relaxed) > 0
    }

    pub(crate) fn served_any(&self) -> bool {
        self.served.load(Ordering::Relaxed)
    }

    /// Whether bytes moved since the last call.
    pub(crate) fn take_recent(&self) -> bool {
        self.recent.swap(false, Ordering::Relaxed)
    }

    /// Whether the client sent part of a request that has not started yet.
    pub(crate) fn mid_head(&self) -> bool {
        self.reading.load(Ordering::Relaxed)
    }
}

/// A request in progress; counted until dropped.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Activity>);

impl InFlight {
    pub(crate) fn start(activity: &Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::Relaxed);
        activity.served.store(true, Ordering::Relaxed);
        activity.reading.store(false, Ordering::Relaxed);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.recent.store(true, Ordering::Relaxed);
        self.0.reading.store(false, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as in progress until hyper drops it.
#[derive(Debug)]
pub(crate) struct TrackedBody<B> {
    body: B,
    _in_flight: InFlight,
}

impl<B> TrackedBody<B> {
    pub(crate) fn new(body: B, in_flight: InFlight) -> Self {
        Self { body, _in_flight: in_flight }
    }
}

impl<B: Body + Unpin> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<B::Data>, B::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A socket that notes in [`Activity`] every read and write that moves bytes.
#[derive(Debug)]
pub(crate) struct Tracked<I> {
    io: I,
    activity: Arc<Activity>,
}

impl<I> Tracked<I> {
    pub(crate) fn new(io: I, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }

    fn moved(&self) {
        self.activity.recent.store(true, Ordering::Relaxed);
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.io).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.moved();
            self.activity.reading.store(true, Ordering::Relaxed);
        }
        result
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.moved();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}
