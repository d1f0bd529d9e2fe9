//! Request heads as RFC 9112 requires them, on both paths a cleartext HTTP/1.1 request can take
//! (hyper, and the listener's own head reader for event streams): exactly one valid `Host`.

mod common;

use common::{within, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `head` (and `body`) on a fresh connection; returns the status line of the answer.
async fn status_of(hub: &TestHub, head: &str, body: &str) -> String {
    let address = (hub.base.host_str().unwrap(), hub.base.port().unwrap());
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    within(async {
        while !answer.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed without an answer to {head:?}");
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_request_without_exactly_one_valid_host_is_refused_with_400() {
    let hub = TestHub::start(&[]).await;
    let stream = "GET /.well-known/mercure?match=t HTTP/1.1\r\nAccept: text/event-stream\r\n";
    let health = "GET /healthz HTTP/1.1\r\n";
    let publish = "POST /.well-known/mercure HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n";
    for (request, body) in [(stream, ""), (health, ""), (publish, "topic=t&data")] {
        for hosts in ["", "Host: a\r\nHost: b\r\n", "Host: a b\r\n", "Host: user@hub\r\n", "Host:\r\n"] {
            let head = format!("{request}{hosts}Connection: close\r\n\r\n");
            let status = status_of(&hub, &head, body).await;
            assert!(status.starts_with("HTTP/1.1 400"), "{head:?}: {status}");
        }
        let head = format!("{request}Host: localhost\r\nConnection: close\r\n\r\n");
        let status = status_of(&hub, &head, body).await;
        assert!(status.starts_with("HTTP/1.1 200"), "{head:?}: {status}");
    }
    assert_eq!(hub.state.hub.stats().published, 1, "only the publish with its Host went through");
}

#[tokio::test]
async fn http_1_0_may_omit_the_host() {
    let hub = TestHub::start(&[]).await;
    let status = status_of(&hub, "GET /healthz HTTP/1.0\r\n\r\n", "").await;
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");
}

#[tokio::test]
async fn the_request_head_limit_is_a_setting_on_both_paths() {
    // A token of about 20 KB in a cookie, as large JWTs with many topics are.
    let cookie = format!("Cookie: mercureAuthorization={}\r\n", "a".repeat(20_000));
    let stream = format!("GET /.well-known/mercure?match=t HTTP/1.1\r\nHost: x\r\n{cookie}Connection: close\r\n\r\n");
    let health = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{cookie}Connection: close\r\n\r\n");
    let default = TestHub::start(&[]).await;
    for head in [&stream, &health] {
        let status = status_of(&default, head, "").await;
        assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    }
    let larger = TestHub::start(&["--max-header-bytes", "32768"]).await;
    for head in [&stream, &health] {
        let status = status_of(&larger, head, "").await;
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    }
}
