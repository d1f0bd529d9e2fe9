//! The WebSocket client against a real hub, embedded in the test: refusals come back typed, a
//! client that fell too far behind is cut by the hub and resumes with nothing lost or repeated,
//! and a client outlives a hub that goes away and comes back on the same port.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use herald_client::{Publication, Subscribe, WebSocket, WsError};
use herald_server::{Herald, ServerConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use url::Url;

const WAIT: Duration = Duration::from_secs(30);

/// Serves a memory-store hub with `changes` applied to the default settings.
async fn hub_on(addr: SocketAddr, changes: impl FnOnce(&mut ServerConfig)) -> (Herald, Url, JoinHandle<()>) {
    let mut config = ServerConfig::default();
    changes(&mut config);
    let herald = Herald::builder(config).memory_store().build().expect("the hub starts");
    let listener = TcpListener::bind(addr).await.expect("a loopback port");
    let url = Url::parse(&format!("ws://{}/.well-known/mercure", listener.local_addr().unwrap())).unwrap();
    let router = herald.router();
    let served = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (herald, url, served)
}

async fn hub(changes: impl FnOnce(&mut ServerConfig)) -> (Herald, Url, JoinHandle<()>) {
    hub_on("127.0.0.1:0".parse().unwrap(), changes).await
}

async fn connect(url: &Url) -> WebSocket {
    WebSocket::builder(url.clone())
        .reconnect_delay(Duration::from_millis(20), Duration::from_millis(200))
        .connect()
        .await
        .expect("the client connects")
}

async fn next_event(socket: &mut WebSocket) -> herald_client::Event {
    // Through the `Stream` implementation, as a `StreamExt` user reads it.
    tokio::time::timeout(WAIT, StreamExt::next(socket))
        .await
        .expect("an event in time")
        .expect("the stream goes on")
        .expect("an event")
}

#[tokio::test]
async fn refusals_come_back_typed_and_the_connection_stays_usable() {
    let (_herald, url, _served) = hub(|_| {}).await;
    let socket = connect(&url).await;

    let no_topic = socket.publish(&Publication { data: "x".into(), ..Default::default() }).await;
    assert!(matches!(&no_topic, Err(WsError::Hub { code, .. }) if code == "bad_request"), "{no_topic:?}");
    let reserved = socket.publish(&Publication { id: Some("earliest".into()), ..Publication::new("/t", "x") }).await;
    assert!(matches!(&reserved, Err(WsError::Hub { code, .. }) if code == "bad_request"), "{reserved:?}");
    let bad_pattern = socket.subscribe(Subscribe::default().url_pattern("https://]/")).await;
    assert!(matches!(&bad_pattern, Err(WsError::Hub { code, .. }) if code == "bad_request"), "{bad_pattern:?}");

    assert!(socket.publish(&Publication::new("/t", "fine")).await.is_ok());
    socket.unsubscribe().await.expect("unsubscribe is acknowledged");
    socket.close().await;
}

#[tokio::test]
async fn a_refused_handshake_is_an_http_status() {
    let (_herald, url, _served) = hub(|_| {}).await;
    let wrong = url.join("/nowhere").unwrap();
    let refused = WebSocket::builder(wrong).connect().await;
    assert!(matches!(&refused, Err(WsError::Refused { status: 404, .. })), "{refused:?}");

    let (_herald, closed, served) = hub(|_| {}).await;
    served.abort();
    let _ = served.await;
    let unreachable = WebSocket::builder(closed).connect().await;
    assert!(matches!(&unreachable, Err(WsError::Connect(_))), "{unreachable:?}");
}

#[tokio::test]
async fn a_subscriber_cut_for_falling_behind_resumes_with_nothing_lost_or_repeated() {
    // A small mailbox on the hub, and a client queue of one event that the test does not read
    // while the events are published: the hub cuts the client (1013), which reconnects and
    // resumes after the last event it had.
    let (herald, url, _served) = hub(|config| config.hub.queue_capacity = 8).await;
    let mut socket = WebSocket::builder(url.clone())
        .reconnect_delay(Duration::from_millis(20), Duration::from_millis(200))
        .queue(1)
        .connect()
        .await
        .expect("the client connects");
    socket.subscribe(Subscribe::exact("/feed")).await.expect("subscribed");

    let mut published = Vec::new();
    for n in 0..300 {
        let event = herald.publish(herald_server::Update::new("/feed", n.to_string())).await.expect("published");
        published.push(event.id.to_string());
    }
    let mut received = Vec::new();
    while received.len() < published.len() {
        let event = next_event(&mut socket).await;
        received.push(event.id);
    }
    assert_eq!(received, published, "every event once, in order");
    let overflowed = herald.hub().stats().overflowed;
    assert!(overflowed >= 1, "the hub cut the slow client at least once ({overflowed})");
}

#[tokio::test]
async fn the_client_outlives_a_hub_that_goes_away_and_comes_back() {
    let (first, url, served) = hub(|_| {}).await;
    let addr: SocketAddr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap()).parse().unwrap();
    let mut socket = connect(&url).await;
    socket.subscribe(Subscribe::exact("/news")).await.expect("subscribed");
    let id = socket.publish(&Publication::new("/news", "before")).await.expect("published");
    assert_eq!(next_event(&mut socket).await.id, id);

    // The hub goes away: its streams end, its listener closes.
    first.drain(Duration::ZERO).await;
    served.abort();
    let _ = served.await;
    drop(first);

    // Another hub comes up on the same port; the client finds it and subscribes again.
    let (second, _, _served) = hub_on(addr, |_| {}).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while second.hub().stats().subscribers == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the client did not come back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let after = second.publish(herald_server::Update::new("/news", "after")).await.expect("published");
    let event = next_event(&mut socket).await;
    assert_eq!((event.id.as_str(), event.data.as_str()), (&*after.id, "after"));
}
