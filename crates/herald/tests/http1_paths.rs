//! End to end over raw TCP: event streams take the lean HTTP/1.1 writer, everything else
//! reaches hyper with the bytes already read put back, on the same listener.

mod common;

use std::time::Duration;

use common::{within, TestHub};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect(hub: &TestHub) -> TcpStream {
    TcpStream::connect((hub.base.host_str().unwrap(), hub.base.port().unwrap())).await.unwrap()
}

/// Reads until `needle` has arrived; returns everything read.
async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains(needle) {
        let n = within(stream.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed before {needle:?}; got {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(seen).unwrap()
}

/// Reads until the peer closes; returns everything read.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    within(stream.read_to_end(&mut all)).await.unwrap();
    String::from_utf8(all).unwrap()
}

#[tokio::test]
async fn an_event_stream_is_chunked_and_carries_each_event_once() {
    let hub = TestHub::start(&[]).await;
    let mut stream = connect(&hub).await;
    // The head arrives in pieces, as slow clients send it.
    stream.write_all(b"GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.write_all(b"Accept: text/event-stream\r\n\r\n").await.unwrap();
    let head = read_until(&mut stream, "\r\n\r\n").await.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    let id = hub.publish("t", "hello\nworld").await;
    let body = read_until(&mut stream, "data: world\n\n").await;
    assert!(body.contains(&format!("id: {id}\ndata: hello\ndata: world\n\n\r\n")), "{body:?}");
    // Bytes sent by the client meanwhile are ignored, and the stream goes on.
    stream.write_all(b"ignored").await.unwrap();
    hub.publish("t", "second").await;
    read_until(&mut stream, "data: second\n\n").await;
}

#[tokio::test]
async fn a_refused_subscription_gets_its_error_and_the_connection_closes() {
    let hub = TestHub::start(&[]).await;
    let mut stream = connect(&hub).await;
    stream.write_all(b"GET /.well-known/mercure HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.to_ascii_lowercase().contains(&format!("content-length: {}", body.len())), "{answer}");
    assert!(body.contains("topic"), "the message names what is missing: {body}");
}

#[tokio::test]
async fn other_requests_keep_their_connection_alive_through_hyper() {
    let hub = TestHub::start(&[]).await;
    let mut stream = connect(&hub).await;
    // Two requests on one connection: the first head was read by the sniffer, the second by hyper.
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    read_until(&mut stream, "ok").await;
    let publish = "topic=t&data=hi";
    let request = format!(
        "POST /.well-known/mercure HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n{publish}",
        publish.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let answer = read_until(&mut stream, "urn:uuid:").await;
    assert!(answer.contains("HTTP/1.1 200 OK"), "{answer}");
    // A long poll is answered by hyper too, on a connection that stays open afterwards.
    let mut poll = connect(&hub).await;
    poll.write_all(
        b"GET /.well-known/mercure?topic=t&transport=poll&last_event_id=earliest HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await
    .unwrap();
    let answer = read_until(&mut poll, "}").await;
    assert!(answer.contains("\"data\":\"hi\""), "{answer}");
    poll.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    read_until(&mut poll, "\r\n\r\nok").await;
}

#[tokio::test]
async fn a_client_that_leaves_unsubscribes() {
    let hub = TestHub::start(&[]).await;
    let mut stream = connect(&hub).await;
    stream.write_all(b"GET /.well-known/mercure?topic=t HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    read_until(&mut stream, "\r\n\r\n").await;
    let subscribers = || async {
        let metrics = hub.metrics().await;
        metrics.lines().find(|l| l.starts_with("herald_subscribers ")).map(|l| l.to_owned())
    };
    assert_eq!(subscribers().await.as_deref(), Some("herald_subscribers 1"));
    drop(stream);
    let mut gone = false;
    for _ in 0..50 {
        if subscribers().await.as_deref() == Some("herald_subscribers 0") {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone, "the subscriber is dropped once its client closes, with no event to write");
}
