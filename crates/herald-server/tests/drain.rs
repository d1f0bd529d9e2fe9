//! Shutting down for a restart: no new connections, the subscriptions ended one by one over
//! `--drain-period` so their clients come back spread out, each transport telling its clients
//! in its own way (SSE ends the stream, WebSocket closes with 1012, a waiting long-poll is
//! answered at once, and so is a waiting Bayeux connect, advising a pause before the next), then
//! the server exits.

mod common;

use std::time::Duration;

use common::{within, ws_closed, TestHub};
use serde_json::json;
use tokio::time::Instant;

#[tokio::test]
async fn subscriptions_end_spread_over_the_drain_period() {
    const STREAMS: usize = 8;
    let mut hub = TestHub::start(&["--drain-period", "2s"]).await;
    let mut streams = Vec::new();
    for _ in 0..STREAMS {
        let response = hub.client.get(hub.subscribe_url(&[("match", "t")])).send().await.unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response);
    }
    let mut ws = hub.ws_connect(None).await;
    common::ws_send(&mut ws, json!({"type": "subscribe", "match": "t"})).await;
    assert_eq!(common::ws_next(&mut ws).await["type"], "ack");
    let poll_url = hub.subscribe_url(&[("match", "t"), ("transport", "long-poll"), ("timeout", "30")]);
    let poll = tokio::spawn(hub.client.get(poll_url).send());
    let bayeux = hub.base.join("/cometd").unwrap();
    let post = |body: serde_json::Value| hub.client.post(bayeux.clone()).json(&body).send();
    let handshake: serde_json::Value = post(json!([{"channel": "/meta/handshake", "version": "1.0",
        "supportedConnectionTypes": ["long-polling"]}]))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let client_id = handshake[0]["clientId"].as_str().expect("a client id").to_owned();
    let connect = json!([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling"}]);
    post(connect.clone()).await.unwrap(); // the first connect is answered at once
    post(json!([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": "/t"}])).await.unwrap();
    let held = tokio::spawn(post(connect));
    // The SSE streams, the WebSocket, the long-poll and the Bayeux connect.
    hub.wait_for_subscribers(STREAMS as u64 + 3).await;

    // Each stream is read from now on, so that the moment it ends is seen when it happens.
    let started = Instant::now();
    let readers: Vec<_> = streams
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                while within(stream.chunk()).await.expect("a clean end, not an error").is_some() {}
                started.elapsed()
            })
        })
        .collect();
    hub.shut_down();
    // The waiting long-poll is answered at once, with its cursor to poll again with.
    let answer = within(poll).await.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_millis(700), "answered at the start of the drain");
    assert_eq!(answer.status(), 200);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(body["events"], json!([]));
    assert!(body["last_event_id"].is_string(), "{body}");
    // So is the waiting Bayeux connect, advising the client to come back after --retry.
    let answer: serde_json::Value = within(held).await.unwrap().unwrap().json().await.unwrap();
    assert!(started.elapsed() < Duration::from_millis(700), "answered at the start of the drain");
    let reply = answer.as_array().and_then(|a| a.last()).expect("the connect's reply");
    assert_eq!((&reply["successful"], &reply["advice"]["interval"]), (&json!(true), &json!(2000)), "{answer}");
    // Draining began once the listener stopped: no new connection gets in.
    let address = (hub.base.host_str().unwrap().to_owned(), hub.base.port().unwrap());
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "the listener is closed while draining");
    // Each stream ends cleanly at its own moment within the period.
    let mut ended_at = Vec::new();
    for reader in readers {
        ended_at.push(reader.await.unwrap());
    }
    let (code, _) = ws_closed(&mut ws).await;
    assert_eq!(code, 1012);
    ended_at.sort();
    let (first, last) = (ended_at[0], ended_at[ended_at.len() - 1]);
    assert!(last - first >= Duration::from_millis(800), "spread over the period: {ended_at:?}");
    assert!(last <= Duration::from_secs(3), "within the period: {ended_at:?}");
    hub.stopped().await;
}
