//! Closing a connection whose client is still sending, without throwing the answer away.
//!
//! A socket closed with unread input makes the kernel send a reset, and a client that receives
//! it may discard the answer it had not read yet: the `413` of a publish that was too large, the
//! `1009` close frame of a WebSocket message that was too big. So a connection whose client
//! still has bytes on their way is *lingering-closed*: its sending side is shut (the answer ends
//! cleanly), then what the client still sends is read and discarded until it closes, pauses for
//! [`LINGER_IDLE`], or [`LINGER_MAX`] has passed, and only then is the socket closed. At most
//! [`MAX_LINGERING`] connections linger at once; past that, one is closed at once. A connection
//! with nothing unread closes at once, as before.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest pause in the client's sending before a lingering connection is closed.
const LINGER_IDLE: Duration = Duration::from_secs(1);
/// Longest a connection lingers, however much its client sends.
const LINGER_MAX: Duration = Duration::from_secs(5);
/// Most connections lingering at once.
const MAX_LINGERING: usize = 1024;

static LINGERING: AtomicUsize = AtomicUsize::new(0);

/// A TCP connection that lingers when it is dropped with input unread.
#[derive(Debug)]
pub(crate) struct ClosingTcp(Option<TcpStream>);

impl ClosingTcp {
    pub(crate) fn new(stream: TcpStream) -> Self {
        Self(Some(stream))
    }

    fn stream(&mut self) -> io::Result<&mut TcpStream> {
        self.0.as_mut().ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "connection closed"))
    }
}

impl Drop for ClosingTcp {
    fn drop(&mut self) {
        if let Some(stream) = self.0.take() {
            close(stream);
        }
    }
}

/// Closes `stream` at once when nothing is waiting to be read, else lingers in a task.
fn close(stream: TcpStream) {
    let mut probe = [0u8; 512];
    if !matches!(stream.try_read(&mut probe), Ok(n) if n > 0) {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    if LINGERING.fetch_add(1, Ordering::Relaxed) >= MAX_LINGERING {
        LINGERING.fetch_sub(1, Ordering::Relaxed);
        return;
    }
    runtime.spawn(async move {
        linger(stream).await;
        LINGERING.fetch_sub(1, Ordering::Relaxed);
    });
}

/// Ends the sending side, then discards what the client sends until it stops.
async fn linger(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let until = crate::timing::after(LINGER_MAX);
    let mut discard = [0u8; 4096];
    loop {
        let pause = crate::timing::after(LINGER_IDLE).min(until);
        match tokio::time::timeout_at(pause, stream.read(&mut discard)).await {
            Ok(Ok(n)) if n > 0 && Instant::now() < until => {}
            _ => return,
        }
    }
}

impl AsyncRead for ClosingTcp {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClosingTcp {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()?).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.stream()?).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.as_ref().is_some_and(TcpStream::is_write_vectored)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.stream()?).poll_shutdown(cx)
    }
}
