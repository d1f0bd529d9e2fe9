//! Serves one event-stream subscription on a bare HTTP/1.1 connection, without hyper.
//!
//! The request (read by [`sniff`](super::sniff)) goes through the same router as every other,
//! so authorization, CORS, parameters and errors are the application's. The response head is
//! written at once and its buffer freed; the body (an event stream, or a short error) follows
//! with chunked transfer encoding, each chunk written straight from the event's shared bytes
//! with one vectored write. While the stream runs, the only per-connection state is the socket,
//! the stream and a few bytes to notice the client leaving: there is no read buffer. The
//! connection closes when the response ends (`Connection: close`): an event-stream client
//! reconnects anyway, and one that got an error has nothing else to ask.

use std::future::Future;
use std::io::{self, IoSlice, Write as _};
use std::net::IpAddr;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{header, Request};
use bytes::Bytes;
use hyper::body::Body as _;
use hyper::service::Service as _;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use super::admission::Permit;
use super::connection::Shared;
use super::ClientAddr;

/// Reads of ignored client bytes in one poll before the task yields.
const MAX_READS_PER_POLL: usize = 16;

/// Serves `request` on `stream`, then closes it.
pub(crate) async fn serve(stream: TcpStream, request: Box<Request<Body>>, permit: Permit, shared: Shared) {
    // Routing and the response head run in a temporary allocation: the task itself keeps only
    // what the stream needs while it lasts.
    let Some(mut pump) = Box::pin(start(stream, *request, permit.ip(), shared)).await else {
        return;
    };
    match (&mut pump).await {
        Ok(()) => {
            let _ = pump.stream.shutdown().await;
        }
        // Dropped without a clean end, so the client sees the stream broke off.
        Err(e) => tracing::debug!("event stream ended: {e}"),
    }
    drop(permit);
}

/// Routes the request and writes the response head; returns what streams the body.
async fn start(mut stream: TcpStream, mut request: Request<Body>, ip: IpAddr, shared: Shared) -> Option<Pump> {
    request.extensions_mut().insert(ClientAddr(ip));
    let response = match shared.service.call(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let length = response.body().size_hint().exact();
    let (parts, body) = response.into_parts();
    if let Err(e) = stream.write_all(&response_head(&parts, length)).await {
        tracing::debug!("writing a response head failed: {e}");
        return None;
    }
    Some(Pump { stream, body, chunked: length.is_none(), out: None, ended: false })
}

/// Copies the response body to the socket, chunked unless its length was known, until the body
/// ends, fails, or the client leaves.
struct Pump {
    stream: TcpStream,
    body: Body,
    chunked: bool,
    /// The piece being written.
    out: Option<Piece>,
    /// The body ended: once `out` is written, the response is complete.
    ended: bool,
}

/// One piece of the body on the wire: a chunk's size line, its data, and its line end.
struct Piece {
    size: [u8; 18],
    size_len: u8,
    data: Bytes,
    trailer: &'static [u8],
    written: usize,
}

impl Piece {
    fn new(data: Bytes, chunked: bool) -> Self {
        let mut size = [0u8; 18];
        let mut size_len = 0;
        if chunked {
            let mut cursor = &mut size[..];
            let _ = write!(cursor, "{:x}\r\n", data.len());
            size_len = (18 - cursor.len()) as u8;
        }
        Self { size, size_len, data, trailer: if chunked { b"\r\n" } else { b"" }, written: 0 }
    }

    fn parts(&self) -> [&[u8]; 3] {
        [&self.size[..self.size_len as usize], &self.data, self.trailer]
    }

    /// What is left to write, as slices for one vectored write.
    fn remaining(&self) -> [IoSlice<'_>; 3] {
        let mut skip = self.written;
        self.parts().map(|part| {
            let start = skip.min(part.len());
            skip -= start;
            IoSlice::new(&part[start..])
        })
    }

    fn is_done(&self) -> bool {
        self.written == self.parts().iter().map(|p| p.len()).sum::<usize>()
    }
}

impl Pump {
    /// Reads whatever the client sent (it is ignored); an error when it has closed. The buffer
    /// lives on the stack, not in the connection's state; a client that keeps sending gets at
    /// most [`MAX_READS_PER_POLL`] reads per turn, so it cannot hold a worker thread.
    fn poll_client_gone(&mut self, cx: &mut Context<'_>) -> Poll<io::Error> {
        let mut discard = [0u8; 4096];
        for _ in 0..MAX_READS_PER_POLL {
            match self.stream.poll_read_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Poll::Ready(e),
                Poll::Pending => return Poll::Pending,
            }
            match self.stream.try_read(&mut discard) {
                Ok(0) => return Poll::Ready(io::Error::new(io::ErrorKind::ConnectionAborted, "client closed")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(e),
            }
        }
        // More is waiting: read on at the task's next turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Writes `out` until it is all out.
    fn poll_flush_piece(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(piece) = &mut self.out {
            if piece.is_done() {
                self.out = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.stream).poll_write_vectored(cx, &piece.remaining()))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            piece.written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl Future for Pump {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Poll::Ready(e) = this.poll_client_gone(cx) {
            return Poll::Ready(Err(e));
        }
        loop {
            ready!(this.poll_flush_piece(cx))?;
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            this.out = Some(Piece::new(data, this.chunked));
                        }
                    }
                }
                None => {
                    this.ended = true;
                    if this.chunked {
                        // The last chunk: a zero size line, then the empty trailer section.
                        let mut last = Piece::new(Bytes::new(), true);
                        last.trailer = b"\r\n";
                        this.out = Some(last);
                    }
                }
                Some(Err(e)) => return Poll::Ready(Err(io::Error::other(e))),
            }
        }
    }
}

/// Status line and headers; `length` is the body's exact length when known (else chunked).
fn response_head(parts: &axum::http::response::Parts, length: Option<u64>) -> Vec<u8> {
    let mut head = Vec::with_capacity(512);
    let status = parts.status;
    let _ = write!(head, "HTTP/1.1 {} {}\r\n", status.as_str(), status.canonical_reason().unwrap_or(""));
    for (name, value) in &parts.headers {
        if matches!(*name, header::CONNECTION | header::TRANSFER_ENCODING | header::CONTENT_LENGTH) {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    if !parts.headers.contains_key(header::DATE) {
        let _ = write!(head, "date: {}\r\n", httpdate::fmt_http_date(SystemTime::now()));
    }
    match length {
        Some(length) => {
            let _ = write!(head, "content-length: {length}\r\n");
        }
        None => head.extend_from_slice(b"transfer-encoding: chunked\r\n"),
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

#[cfg(test)]
mod tests {
    use axum::http::{Response, StatusCode};

    use super::*;

    #[test]
    fn a_piece_resumes_after_short_writes() {
        let mut piece = Piece::new(Bytes::from_static(b"data: hello\n\n"), true);
        let mut wire = Vec::new();
        while !piece.is_done() {
            // A socket that takes at most 3 bytes per call.
            let slices = piece.remaining();
            let mut taken = 0;
            for slice in slices.iter() {
                let n = slice.len().min(3 - taken);
                wire.extend_from_slice(&slice[..n]);
                taken += n;
            }
            piece.written += taken;
        }
        assert_eq!(wire, b"d\r\ndata: hello\n\n\r\n");
        let raw = Piece::new(Bytes::from_static(b"abc"), false);
        assert_eq!(raw.parts().concat(), b"abc");
        let mut last = Piece::new(Bytes::new(), true);
        last.trailer = b"\r\n";
        assert_eq!(last.parts().concat(), b"0\r\n\r\n");
    }

    #[test]
    fn the_head_keeps_the_application_headers_and_sets_framing() {
        let response = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CONNECTION, "keep-alive")
            .body(())
            .expect("valid response");
        let (parts, ()) = response.into_parts();
        let head = String::from_utf8(response_head(&parts, None)).expect("ASCII");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(head.contains("content-type: text/event-stream\r\n"));
        assert!(head.contains("transfer-encoding: chunked\r\n"));
        assert!(head.contains("\r\ndate: "));
        assert!(!head.contains("keep-alive"));
        assert!(head.ends_with("connection: close\r\n\r\n"));
        let head = String::from_utf8(response_head(&parts, Some(5))).expect("ASCII");
        assert!(head.contains("content-length: 5\r\n") && !head.contains("chunked"));
    }
}
