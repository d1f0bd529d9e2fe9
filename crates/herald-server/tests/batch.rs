//! Batch publishing against a hub served in process: an NDJSON body and a WebSocket
//! `publish_batch` each publish their updates in order, answer the ids in that order, and
//! reach subscribers of every transport as single publishes do; with the disk store the batch
//! survives a restart and a subscriber resumes inside it.

mod common;

use common::{take, ws_next, ws_send, TestHub};
use serde_json::json;

/// Posts `body` as `content_type`; returns the status and the body.
async fn post(hub: &TestHub, content_type: &str, body: String) -> (u16, String) {
    let response = hub
        .client
        .post(hub.hub_url())
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("the request completes");
    (response.status().as_u16(), response.text().await.expect("a text body"))
}

#[tokio::test]
async fn an_ndjson_batch_is_published_in_order_and_answered_with_its_ids() {
    let hub = TestHub::start(&[]).await;
    let mut all = hub.event_source(&["/b/1", "/b/2", "/b/3"]).last_event_id("earliest");
    let mut second = hub.event_source(&["/b/2"]).last_event_id("earliest");
    let body = [
        json!({"topic": "/b/1", "data": "one"}),
        json!({"topic": ["/b/2", "/b/other"], "data": "two\nlines", "id": "given-2", "type": "greeting"}),
        json!({"topic": "/b/3", "data": "three", "retry": 2500}),
    ]
    .iter()
    .map(|u| format!("{u}\n"))
    .collect::<String>();
    let (status, answer) = post(&hub, "application/x-ndjson; charset=utf-8", body).await;
    assert_eq!(status, 200, "{answer}");
    let ids: Vec<&str> = answer.lines().collect();
    assert_eq!(ids.len(), 3, "{answer:?}");
    assert!(answer.ends_with('\n'));
    assert_eq!(ids[1], "given-2");
    assert!(ids[0].starts_with("urn:uuid:") && ids[2].starts_with("urn:uuid:"), "{ids:?}");

    let events = take(&mut all, 3).await;
    let seen: Vec<_> = events.iter().map(|e| (e.id.as_str(), e.data.as_str())).collect();
    assert_eq!(seen, [(ids[0], "one"), (ids[1], "two\nlines"), (ids[2], "three")]);
    assert_eq!(events[1].event_type, "greeting");
    let only = take(&mut second, 1).await;
    assert_eq!((only[0].id.as_str(), only[0].data.as_str()), ("given-2", "two\nlines"));

    // The other NDJSON name is accepted too; a batch of one is a batch.
    let (status, answer) = post(&hub, "application/jsonl", "{\"topic\":\"/b/1\",\"data\":\"four\"}".into()).await;
    assert_eq!((status, answer.lines().count()), (200, 1), "{answer}");
    assert_eq!(take(&mut all, 1).await[0].data, "four");
}

#[tokio::test]
async fn another_content_type_is_refused_naming_both_formats() {
    let hub = TestHub::start(&[]).await;
    let (status, message) = post(&hub, "application/json", "{\"topic\":\"t\"}".into()).await;
    assert_eq!(status, 415);
    assert!(
        message.contains("application/x-www-form-urlencoded") && message.contains("application/x-ndjson"),
        "{message}"
    );
}

#[tokio::test]
async fn a_websocket_batch_is_acknowledged_with_its_ids_in_order() {
    let hub = TestHub::start(&[]).await;
    let mut watcher = hub.event_source(&["w"]).last_event_id("earliest");
    let mut ws = hub.ws_connect(None).await;
    let updates: Vec<_> = (0..50).map(|i| json!({"topic": "w", "data": i.to_string()})).collect();
    ws_send(&mut ws, json!({"type": "publish_batch", "updates": updates, "ref": "b1"})).await;
    let ack = ws_next(&mut ws).await;
    assert_eq!(
        (ack["type"].as_str(), ack["for"].as_str(), ack["ref"].as_str()),
        (Some("ack"), Some("publish_batch"), Some("b1")),
        "{ack}"
    );
    let ids: Vec<String> =
        ack["ids"].as_array().expect("ids").iter().map(|i| i.as_str().unwrap_or_default().to_owned()).collect();
    let events = take(&mut watcher, 50).await;
    assert_eq!(events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids);
    assert_eq!(
        events.iter().map(|e| e.data.clone()).collect::<Vec<_>>(),
        (0..50).map(|i| i.to_string()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_durable_batch_survives_a_restart_and_resumes_inside_it() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let ids: Vec<String> = {
        let mut hub = TestHub::start_in(dir.path(), &["--store", "disk"]).await;
        let body: String = (0..5).map(|i| format!("{}\n", json!({"topic": "d", "data": format!("e{i}")}))).collect();
        let (status, answer) = post(&hub, "application/x-ndjson", body).await;
        assert_eq!(status, 200, "{answer}");
        hub.shut_down();
        hub.stopped().await;
        answer.lines().map(str::to_owned).collect()
    };
    assert_eq!(ids.len(), 5);
    let hub = TestHub::start_in(dir.path(), &["--store", "disk"]).await;
    let mut resumed = hub.event_source(&["d"]).last_event_id(&ids[1]);
    let events = take(&mut resumed, 3).await;
    assert_eq!(events.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(), ["e2", "e3", "e4"]);
    assert_eq!(events.iter().map(|e| e.id.clone()).collect::<Vec<_>>(), ids[2..]);
}
