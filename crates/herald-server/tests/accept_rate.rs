//! The cap on new connections per period (`--max-accept-rate`): past the burst, a new connection
//! is answered `503` with `Retry-After` at once, and connections already open are unaffected.

mod common;

use common::{within, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection, asks for `/healthz`, returns the whole answer.
async fn health(hub: &TestHub) -> String {
    let mut stream = TcpStream::connect((hub.base.host_str().unwrap(), hub.base.port().unwrap())).await.unwrap();
    // The refusal may come before the request is written: a failed write is part of it.
    let _ = stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = within(stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn connections_past_the_accept_rate_get_503_and_retry_after() {
    let hub = TestHub::start(&["--max-accept-rate", "3/min"]).await;
    let mut open = hub.client.get(hub.subscribe_url(&[("match", "t")])).send().await.unwrap();
    assert_eq!(open.status(), 200);
    hub.wait_for_subscribers(1).await;
    for _ in 0..2 {
        let answer = health(&hub).await;
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let refused = health(&hub).await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("\r\nRetry-After: 1\r\n") && refused.contains("too many new connections"), "{refused}");
    // The stream opened before is still served.
    hub.state
        .hub
        .publish(herald_core::Update { topics: vec!["t".into()], data: "still here".into(), ..Default::default() })
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("data: still here") {
        let chunk = within(open.chunk()).await.unwrap().expect("the stream goes on");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
}
