//! The WebSocket connection loop, against a hub served in process: subscribing, events in order,
//! unsubscribing, pings, and each close code the hub ends a connection with.

mod common;

use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{within, ws_closed, ws_next, ws_send, FaultyStore, TestHub, Ws};
use futures_util::SinkExt;
use herald_core::Update;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Close codes (RFC 6455 section 7.4.1).
const UNSUPPORTED: u16 = 1003;
const POLICY: u16 = 1008;
const SERVER_ERROR: u16 = 1011;
const SERVICE_RESTART: u16 = 1012;
const TRY_AGAIN_LATER: u16 = 1013;

/// Publishes straight into the hub; returns the event's id.
async fn publish(hub: &TestHub, topic: &str, data: &str) -> String {
    let update = Update { topics: vec![topic.into()], data: data.into(), ..Default::default() };
    hub.state.hub.publish(update).await.expect("the publish is accepted").id.to_string()
}

/// Subscribes the socket with these message fields; returns the ack.
async fn subscribe(ws: &mut Ws, fields: Value) -> Value {
    let mut message = fields;
    message["type"] = "subscribe".into();
    ws_send(ws, message).await;
    let ack = ws_next(ws).await;
    assert_eq!((ack["type"].as_str(), ack["for"].as_str()), (Some("ack"), Some("subscribe")), "{ack}");
    ack
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

#[tokio::test]
async fn subscribe_receives_events_in_order_until_unsubscribed() {
    let hub = TestHub::start(&[]).await;
    let before = publish(&hub, "t", "before").await;
    let mut ws = hub.ws_connect(None).await;
    let ack = subscribe(&mut ws, json!({"match": "t", "ref": 1})).await;
    assert_eq!(ack["ref"], 1);
    assert_eq!(ack["last_event_id"], Value::Null, "not resuming");
    assert_eq!(ack["position"], before.as_str(), "where a client resumes from to miss nothing");

    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(publish(&hub, "t", &format!("e{i}")).await);
        publish(&hub, "other", "not for us").await;
    }
    for (i, id) in ids.iter().enumerate() {
        let event = ws_next(&mut ws).await;
        assert_eq!(event["type"], "event");
        assert_eq!(event["id"], id.as_str());
        assert_eq!(event["topics"], json!(["t"]));
        assert_eq!(event["event"], "message");
        assert_eq!(event["data"], format!("e{i}"));
    }

    ws_send(&mut ws, json!({"type": "unsubscribe", "ref": "u"})).await;
    assert_eq!(ws_next(&mut ws).await, json!({"type": "ack", "for": "unsubscribe", "ref": "u"}));
    hub.wait_for_subscribers(0).await;
    let missed = publish(&hub, "t", "after unsubscribing").await;
    // A new subscription elsewhere: the next message is its event, never the one published on
    // the old topic in between.
    let ack = subscribe(&mut ws, json!({"match": "u"})).await;
    assert_eq!(ack["position"], missed.as_str());
    let next = publish(&hub, "u", "on the new subscription").await;
    let event = ws_next(&mut ws).await;
    assert_eq!((event["id"].as_str(), event["data"].as_str()), (Some(next.as_str()), Some("on the new subscription")));
}

#[tokio::test]
async fn ping_is_answered_with_pong_and_its_ref() {
    let hub = TestHub::start(&[]).await;
    let mut ws = hub.ws_connect(None).await;
    ws_send(&mut ws, json!({"type": "ping", "ref": "abc"})).await;
    assert_eq!(ws_next(&mut ws).await, json!({"type": "pong", "ref": "abc"}));
    ws_send(&mut ws, json!({"type": "ping", "ref": 7})).await;
    assert_eq!(ws_next(&mut ws).await, json!({"type": "pong", "ref": 7}));
    ws_send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(ws_next(&mut ws).await, json!({"type": "pong"}));
    // What is not a request is answered, and the connection goes on.
    within(ws.send(Message::text("not JSON"))).await.unwrap();
    assert_eq!(ws_next(&mut ws).await["code"], "bad_request");
    ws_send(&mut ws, json!({"type": "dance", "ref": 8})).await;
    let answer = ws_next(&mut ws).await;
    assert_eq!((answer["code"].as_str(), answer["ref"].as_i64()), (Some("bad_request"), Some(8)));
    ws_send(&mut ws, json!({"type": "ping", "ref": 9})).await;
    assert_eq!(ws_next(&mut ws).await, json!({"type": "pong", "ref": 9}));
}

#[tokio::test]
async fn a_binary_message_closes_with_1003() {
    let hub = TestHub::start(&[]).await;
    let mut ws = hub.ws_connect(None).await;
    within(ws.send(Message::binary(vec![1, 2, 3]))).await.unwrap();
    assert_eq!(ws_closed(&mut ws).await.0, UNSUPPORTED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_is_closed_with_1013_and_others_get_everything() {
    /// Safety net: far more than the socket buffers between the hub and a stalled client hold.
    const MAX_EVENTS: usize = 2000;
    let hub = TestHub::start(&["--store", "memory", "--queue-capacity", "8"]).await;
    let mut stalled = hub.ws_connect(None).await;
    subscribe(&mut stalled, json!({"match": "t"})).await;
    let mut healthy = hub.ws_connect(None).await;
    subscribe(&mut healthy, json!({"match": "t"})).await;
    hub.wait_for_subscribers(2).await;

    // The stalled client reads nothing: the socket buffers fill, then its queue of 8 overflows.
    // The healthy one reads each event before the next is published, so it never falls behind.
    let payload = "x".repeat(64 * 1024);
    let mut published = Vec::new();
    while hub.state.hub.stats().overflowed == 0 {
        assert!(published.len() < MAX_EVENTS, "the stalled subscriber was never cut off");
        published.push(publish(&hub, "t", &payload).await);
        let event = ws_next(&mut healthy).await;
        assert_eq!(event["id"], published.last().unwrap().as_str());
        assert_eq!(event["data"].as_str().map(str::len), Some(payload.len()));
    }
    assert_eq!(hub.state.hub.stats().subscribers, 1, "only the stalled one was dropped");
    let last = publish(&hub, "t", "after").await;
    assert_eq!(ws_next(&mut healthy).await["id"], last.as_str());

    // Reading again, the stalled client gets what was on its way, then the close frame.
    let (code, received) = ws_closed(&mut stalled).await;
    assert_eq!(code, TRY_AGAIN_LATER);
    assert!(received.len() < published.len(), "cut off before the end: {} of {}", received.len(), published.len());
    let ids: Vec<&str> = received.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, published[..ids.len()], "what it got came in order, from the start");
}

#[tokio::test]
async fn a_peer_that_takes_no_write_for_two_heartbeats_is_dropped() {
    const MAX_EVENTS: usize = 2000;
    // One connection at most: the next one is admitted only once the stalled socket is gone.
    let args = ["--store", "memory", "--queue-capacity", "8", "--heartbeat", "1s", "--max-connections", "1"];
    let hub = TestHub::start(&args).await;
    let mut stalled = hub.ws_connect(None).await;
    subscribe(&mut stalled, json!({"match": "t"})).await;
    // Events far larger than the socket buffers, so that writing a batch blocks for good.
    let payload = "x".repeat(4 * 1024 * 1024);
    let mut published = 0;
    while hub.state.hub.stats().overflowed == 0 {
        assert!(published < MAX_EVENTS, "the stalled subscriber never overflowed");
        publish(&hub, "t", &payload).await;
        published += 1;
    }
    // The peer reads nothing, neither events nor the close frame: within two heartbeats the hub
    // stops waiting for it and drops the connection.
    let health = hub.base.join("/healthz").unwrap();
    within(async {
        loop {
            match hub.client.get(health.clone()).send().await {
                Ok(answer) if answer.status() == 200 => break,
                // Refused while the stalled connection counts: the answer comes before the request.
                Ok(answer) => assert_eq!(answer.status(), 503, "refused only for the connection limit"),
                Err(_) => {}
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    drop(stalled);
}

#[tokio::test]
async fn an_expiring_token_ends_the_subscription_with_1008() {
    const KEY: &str = "a-secret-for-tests";
    let hub = TestHub::start(&["--jwt-key", KEY]).await;
    let claims = json!({"exp": now() + 3, "mercure": {"subscribe": ["*"]}});
    let token = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(KEY.as_bytes())).unwrap();
    let mut ws = hub.ws_connect(Some(&token)).await;
    subscribe(&mut ws, json!({"match": "t"})).await;
    let id = publish(&hub, "t", "while valid").await;
    assert_eq!(ws_next(&mut ws).await["id"], id.as_str());
    let (code, received) = ws_closed(&mut ws).await;
    assert_eq!(code, POLICY);
    assert!(received.is_empty(), "{received:?}");
    hub.wait_for_subscribers(0).await;
}

#[tokio::test]
async fn the_hub_shutting_down_closes_with_1012() {
    let mut hub = TestHub::start(&[]).await;
    let mut ws = hub.ws_connect(None).await;
    subscribe(&mut ws, json!({"match": "t"})).await;
    hub.shut_down();
    assert_eq!(ws_closed(&mut ws).await.0, SERVICE_RESTART);
    // Reading on completes the closing handshake, and the server finishes.
    while let Some(Ok(_)) = within(futures_util::StreamExt::next(&mut ws)).await {}
    hub.stopped().await;
    assert_eq!(hub.state.hub.stats().subscribers, 0);
}

#[tokio::test]
async fn a_store_failure_while_catching_up_closes_with_1011() {
    let store = FaultyStore::new();
    let hub = TestHub::start_with_store(&["--cache-size", "2"], store.clone()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(publish(&hub, "t", &format!("e{i}")).await);
    }
    // The first event is no longer in memory: resuming from it reads the store, which fails.
    store.fail_read_after.store(true, Ordering::SeqCst);
    let mut ws = hub.ws_connect(None).await;
    let ack = subscribe(&mut ws, json!({"match": "t", "last_event_id": ids[0]})).await;
    assert_eq!(ack["last_event_id"], ids[0].as_str());
    let (code, received) = ws_closed(&mut ws).await;
    assert_eq!(code, SERVER_ERROR);
    assert!(received.is_empty(), "{received:?}");

    // With the store readable again, the same resumption replays what followed.
    store.fail_read_after.store(false, Ordering::SeqCst);
    let mut ws = hub.ws_connect(None).await;
    subscribe(&mut ws, json!({"match": "t", "last_event_id": ids[0]})).await;
    for id in &ids[1..] {
        assert_eq!(ws_next(&mut ws).await["id"], id.as_str());
    }
}
