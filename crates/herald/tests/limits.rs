//! End to end: connection limits. Too many connections from one address get `429`, too many in
//! all get `503`, and neither disturbs the connections already open; a client sending its request
//! head byte by byte is cut off after the header timeout; an idle kept-alive connection is closed
//! after the idle timeout while an idle event stream stays open.
//!
//! Clients bind to other loopback addresses (127.0.0.2, …) to stand for other machines.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use common::{within, TestHub};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

fn hub_addr(hub: &TestHub) -> SocketAddr {
    SocketAddr::new([127, 0, 0, 1].into(), hub.base.port().expect("the address has a port"))
}

/// A TCP connection to the hub from the loopback address `from`.
async fn connect_from(hub: &TestHub, from: [u8; 4]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.bind(SocketAddr::new(IpAddr::from(from), 0)).expect("binds to a loopback address");
    socket.connect(hub_addr(hub)).await.expect("TCP connects")
}

/// Reads until `needle` appears, failing after 10 s or at the end of the stream.
async fn read_until(stream: &mut TcpStream, needle: &str) -> String {
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    within(async {
        while !text.contains(needle) {
            let n = stream.read(&mut buf).await.expect("the connection stays readable");
            assert!(n > 0, "the connection closed before {needle:?}; got {text:?}");
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    })
    .await;
    text
}

/// Reads everything until the hub closes the connection.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut bytes = Vec::new();
    within(stream.read_to_end(&mut bytes)).await.expect("the connection ends cleanly");
    String::from_utf8_lossy(&bytes).into_owned()
}

/// An HTTP/1.1 event stream on `topic`, opened from `from`; returns once the stream has begun.
async fn subscribe_from(hub: &TestHub, from: [u8; 4], topic: &str) -> TcpStream {
    let mut stream = connect_from(hub, from).await;
    let request = format!("GET /.well-known/mercure?match={topic} HTTP/1.1\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("request sent");
    let head = read_until(&mut stream, "retry:").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    stream
}

/// A hub client whose connections come from `from`.
fn client_from(from: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::from(from)).build().expect("client builds")
}

/// The hub's count of connections refused or cut by `limit`, from `/metrics`.
async fn rejections(hub: &TestHub, limit: &str) -> u64 {
    let text = hub.metrics().await;
    let series = format!("herald_limit_rejections_total{{limit=\"{limit}\"}} ");
    text.lines().find_map(|line| line.strip_prefix(&series)).map_or(0, |n| n.trim().parse().expect("a count"))
}

/// Waits until the hub closes `stream`; returns how long that took.
async fn time_to_close(stream: &mut TcpStream) -> Duration {
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await
    .expect("the hub closes the connection within 10s");
    start.elapsed()
}

#[tokio::test]
async fn too_many_connections_from_one_address_get_429_and_others_carry_on() {
    let mut hub = TestHub::start(&["--max-connections-per-ip", "3"]).await;
    hub.client = client_from([127, 0, 0, 2]);
    let mut mine = Vec::new();
    for _ in 0..3 {
        mine.push(subscribe_from(&hub, [127, 0, 0, 1], "t").await);
    }
    let mut refused = connect_from(&hub, [127, 0, 0, 1]).await;
    refused.write_all(b"GET /.well-known/mercure?match=t HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("sent");
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 429 Too Many Requests\r\n"), "{answer}");
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");
    assert!(answer.ends_with("too many connections from your address; close some and retry\n"), "{answer}");
    assert_eq!(rejections(&hub, "connections_per_ip").await, 1);

    // Another address subscribes and publishes; the three open streams receive too.
    let mut other = subscribe_from(&hub, [127, 0, 0, 3], "t").await;
    let id = hub.publish("t", "still flowing").await;
    for stream in mine.iter_mut().chain([&mut other]) {
        let text = read_until(stream, "data: still flowing").await;
        assert!(text.contains(&format!("id: {id}")), "{text}");
    }

    // Closing one gives its place back.
    mine.pop();
    within(async {
        loop {
            let mut stream = connect_from(&hub, [127, 0, 0, 1]).await;
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .await
                .expect("sent");
            if read_to_close(&mut stream).await.starts_with("HTTP/1.1 200") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn connections_past_the_hub_limit_get_503() {
    let mut hub = TestHub::start(&["--max-connections", "2"]).await;
    let mut first = subscribe_from(&hub, [127, 0, 0, 1], "t").await;
    let second = subscribe_from(&hub, [127, 0, 0, 2], "t").await;
    let mut refused = connect_from(&hub, [127, 0, 0, 3]).await;
    refused.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("sent");
    let answer = read_to_close(&mut refused).await;
    assert!(answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{answer}");
    assert!(answer.contains("\r\nConnection: close\r\n"), "{answer}");

    // Publishing needs a connection too: wait for the place of a closed stream.
    drop(second);
    hub.client = client_from([127, 0, 0, 4]);
    // Attempts made before the hub has seen the stream close are refused too, and counted.
    let mut refused_attempts = 0;
    let id = within(async {
        loop {
            let update =
                herald_client::Publication { topics: vec!["t".into()], data: "after".into(), ..Default::default() };
            if let Ok(id) = herald_client::publish(&hub.client, &hub.hub_url(), &update).await {
                break id;
            }
            refused_attempts += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    let text = read_until(&mut first, "data: after").await;
    assert!(text.contains(&format!("id: {id}")), "{text}");
    assert_eq!(rejections(&hub, "connections").await, 1 + refused_attempts);
}

#[tokio::test]
async fn a_slow_loris_is_cut_off_while_others_are_served() {
    let hub = TestHub::start(&["--header-read-timeout", "2s"]).await;
    let mut slow = connect_from(&hub, [127, 0, 0, 2]).await;
    let started = Instant::now();
    // One byte per second: the whole head would take about 40 s.
    let (mut slow_read, mut slow_write) = slow.split();
    let trickle = async {
        for byte in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n" {
            if slow_write.write_all(&[*byte]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    };
    let cut = async {
        let mut buf = [0u8; 1024];
        loop {
            match slow_read.read(&mut buf).await {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(n) => assert!(!String::from_utf8_lossy(&buf[..n]).contains("200 OK"), "served a slow loris"),
            }
        }
    };
    let served = async {
        let mut stream = subscribe_from(&hub, [127, 0, 0, 3], "t").await;
        let id = hub.publish("t", "meanwhile").await;
        let text = read_until(&mut stream, "data: meanwhile").await;
        assert!(text.contains(&format!("id: {id}")), "{text}");
        started.elapsed()
    };
    let (elapsed, served_after) = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::select! {
            () = trickle => panic!("the slow client sent its whole head"),
            both = async { tokio::join!(cut, served) } => both,
        }
    })
    .await
    .expect("the slow client is cut off within 15s");
    assert!(elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(6), "cut after {elapsed:?}");
    assert!(served_after < Duration::from_secs(5), "the other client waited {served_after:?}");
    assert_eq!(rejections(&hub, "header_timeout").await, 1);
}

#[tokio::test]
async fn idle_connections_close_after_the_idle_timeout_but_idle_event_streams_stay() {
    let hub = TestHub::start(&["--idle-timeout", "1s"]).await;
    let mut stream = subscribe_from(&hub, [127, 0, 0, 1], "t").await;

    // HTTP/1.1 kept alive after one request.
    let mut kept_alive = connect_from(&hub, [127, 0, 0, 1]).await;
    kept_alive.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.expect("sent");
    read_until(&mut kept_alive, "ok\n").await;
    let h1_idle = time_to_close(&mut kept_alive).await;
    assert!(
        h1_idle >= Duration::from_millis(900) && h1_idle < Duration::from_secs(3),
        "HTTP/1.1 closed after {h1_idle:?}"
    );

    // HTTP/2 after one request.
    let tcp = connect_from(&hub, [127, 0, 0, 1]).await;
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp)).await.expect("h2 handshake");
    let connection = tokio::spawn(connection);
    let uri = format!("http://{}/healthz", hub_addr(&hub));
    let response = sender.send_request(Request::get(uri).body(Empty::<Bytes>::new()).unwrap()).await.expect("response");
    assert_eq!(response.status(), 200);
    drop(response);
    let started = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(10), connection).await.expect("the hub closes idle HTTP/2");
    let h2_idle = started.elapsed();
    assert!(
        h2_idle >= Duration::from_millis(900) && h2_idle < Duration::from_secs(3),
        "HTTP/2 closed after {h2_idle:?}"
    );

    // The event stream sent nothing since it began (the heartbeat is 15 s), yet it is still open.
    let id = hub.publish("t", "still here").await;
    let text = read_until(&mut stream, "data: still here").await;
    assert!(text.contains(&format!("id: {id}")), "{text}");
    assert_eq!(rejections(&hub, "idle_timeout").await, 2);
}
