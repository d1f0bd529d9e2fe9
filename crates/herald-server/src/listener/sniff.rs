//! Reads a cleartext connection's first request head and tells an event-stream subscription
//! from everything else.
//!
//! An event stream is by far the most numerous kind of connection, and the longest-lived: once
//! its response head is out it only writes. Serving it with hyper would keep hyper's read and
//! write buffers and its connection state for the stream's whole life, which is most of an idle
//! subscriber's memory. So the listener reads the first head itself; a plain `GET` on the hub's
//! endpoint that asks for a stream (not a WebSocket upgrade, not a poll, as the transport
//! selector reads it) is handed to [`stream_writer`](super::stream_writer), and anything else
//! (publishes, polls, pages, HTTP/2 prior knowledge, malformed heads) goes to hyper with the
//! bytes read put back.

use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, Uri, Version};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// Headers parsed here; a request with more goes to hyper.
const MAX_HEADERS: usize = 64;

/// What the first bytes of a connection turned out to be.
pub(crate) enum Sniffed {
    /// A subscription to serve as a lean event stream.
    Stream(Box<Request<Body>>),
    /// A publish (`POST` on the hub): the bytes read so far, for hyper to read first, on the
    /// publishing runtime (`publish_lane.rs`).
    Publish(Vec<u8>),
    /// Anything else: the bytes read so far, for hyper to read first.
    Other(Vec<u8>),
    /// No complete head within the header read timeout (a slow or silent client).
    TimedOut,
    /// The client closed or the connection failed.
    Gone,
}

/// Reads until the end of the first request head (or `max_head` bytes, `--max-header-bytes`)
/// within `timeout`; a longer head goes to hyper, which refuses it (431).
pub(crate) async fn first_request(stream: &mut TcpStream, timeout: Duration, max_head: usize) -> Sniffed {
    let mut head = Vec::with_capacity(1024);
    let read = async {
        loop {
            if head.len() == head.capacity() {
                head.reserve(1024);
            }
            if stream.read_buf(&mut head).await? == 0 {
                return Ok::<_, std::io::Error>(false);
            }
            if head.windows(4).any(|w| w == b"\r\n\r\n") || head.len() >= max_head {
                return Ok(true);
            }
        }
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(Ok(true)) => match subscription(&head) {
            Some(request) => Sniffed::Stream(Box::new(request)),
            None if publishes(&head) => Sniffed::Publish(head),
            None => Sniffed::Other(head),
        },
        Err(_) => Sniffed::TimedOut,
        Ok(_) => Sniffed::Gone,
    }
}

/// The request, when `head` is exactly one complete `GET` head for an event stream.
pub(crate) fn subscription(head: &[u8]) -> Option<Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let end = match parsed.parse(head) {
        Ok(httparse::Status::Complete(end)) => end,
        _ => return None,
    };
    // Pipelined bytes after the head are left to hyper, as are HTTP/1.0 clients (no chunked).
    if end != head.len() || parsed.version != Some(1) || parsed.method != Some("GET") {
        return None;
    }
    // Read as the router will read it (a `#` fragment, say, is no part of the query).
    let uri = parsed.path?.parse::<Uri>().ok()?;
    if !crate::transport::select::streams(uri.path(), uri.query().unwrap_or("")) {
        return None;
    }
    let mut request = Request::builder().method(Method::GET).uri(uri).version(Version::HTTP_11);
    for header in parsed.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
        // An upgrade (WebSocket) or a request body is hyper's to handle.
        if name == axum::http::header::UPGRADE
            || name == axum::http::header::TRANSFER_ENCODING
            || (name == axum::http::header::CONTENT_LENGTH && header.value != b"0")
        {
            return None;
        }
        request = request.header(name, HeaderValue::from_bytes(header.value).ok()?);
    }
    request.body(Body::empty()).ok()
}

/// Whether `head` starts with a `POST` on the hub's endpoint (a publish, as far as the request
/// line says; hyper reads and checks the rest).
pub(crate) fn publishes(head: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    // A head with more headers than parsed here still names its method and path.
    let _ = parsed.parse(head);
    let path = parsed.path.map(|target| target.split_once('?').map_or(target, |(path, _)| path));
    parsed.method == Some("POST") && path == Some(herald_core::HUB_PATH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniff(head: &str) -> bool {
        subscription(head.as_bytes()).is_some()
    }

    #[test]
    fn streams_take_the_lean_path() {
        assert!(sniff("GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n"));
        assert!(sniff("GET /.well-known/mercure?topic=a&transport=ndjson HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(sniff("GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"));
    }

    #[test]
    fn publishes_are_told_apart() {
        assert!(publishes(b"POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"));
        assert!(publishes(b"POST /.well-known/mercure?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"));
        for head in [
            &b"GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\n\r\n"[..],
            b"POST /.well-known/mercure/subscriptions HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"\x16\x03\x01garbage",
        ] {
            assert!(!publishes(head), "{head:?}");
        }
    }

    #[test]
    fn everything_else_goes_to_hyper() {
        for head in [
            "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n",
            "GET /.well-known/mercure?topic=a&transport=long-poll HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /.well-known/mercure?topic=a&transport=poll HTTP/1.1\r\nHost: x\r\n\r\n",
            // The query ends at a fragment, as the router reads it: a long-poll (found by fuzzing).
            "GET /.well-known/mercure?topic?a&transport=long-poll#&timeout=0.5 HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
            "GET /.well-known/mercure?topic=a HTTP/1.0\r\n\r\n",
            "GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET /.well-known/mercure?topic=a HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "GET /.well-known/mercure/subscriptions HTTP/1.1\r\nHost: x\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /.well-known/mercure HTTP/1.1\r\nBad Header\r\n\r\n",
        ] {
            assert!(!sniff(head), "{head:?} should go to hyper");
        }
    }
}
