//! The Comet transports (long-polling, polling, NDJSON streaming, the forever frame), against a
//! hub served in process.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{within, TestHub};
use serde_json::Value;

/// One poll: the batch's events and the next cursor.
struct Batch {
    events: Vec<Value>,
    next: String,
}

async fn poll(hub: &TestHub, params: &[(&str, &str)]) -> Batch {
    let response = hub.client.get(hub.subscribe_url(params)).send().await.expect("poll completes");
    assert_eq!(response.status(), 200, "{params:?}");
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("a JSON batch");
    let next = body["last_event_id"].as_str().expect("a cursor").to_owned();
    Batch { events: body["events"].as_array().expect("an event list").clone(), next }
}

fn data(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["data"].as_str().expect("data is a string")).collect()
}

#[tokio::test]
async fn long_poll_waits_for_the_timeout_then_answers_an_empty_batch() {
    let hub = TestHub::start(&[]).await;
    let first = hub.publish("elsewhere", "x").await;
    let started = Instant::now();
    let batch = within(poll(&hub, &[("match", "quiet"), ("transport", "long-poll"), ("timeout", "1")])).await;
    assert!(started.elapsed() >= Duration::from_millis(900), "answered after {:?}", started.elapsed());
    assert!(batch.events.is_empty());
    // The cursor is the log's head, so the next poll skips the event on the other topic.
    assert_eq!(batch.next, first);
}

#[tokio::test]
async fn long_poll_answers_as_soon_as_an_event_arrives() {
    let hub = TestHub::start(&[]).await;
    let url = hub.subscribe_url(&[("match", "t"), ("transport", "long-poll"), ("timeout", "60")]);
    let pending = tokio::spawn(hub.client.get(url).send());
    hub.wait_for_subscribers(1).await;
    let id = hub.publish("t", "wake up").await;
    let response = within(pending).await.unwrap().unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(data(body["events"].as_array().unwrap()), ["wake up"]);
    assert_eq!(body["last_event_id"], id.as_str());
    assert_eq!(body["events"][0]["id"], id.as_str());
    assert_eq!(body["events"][0]["topics"], serde_json::json!(["t"]));
}

#[tokio::test]
async fn polling_never_loses_a_burst_published_between_polls() {
    let hub = TestHub::start(&["--history-size", "5000"]).await;
    // Plain polling on an empty hub: nothing yet, and a cursor that replays what comes next.
    let first = poll(&hub, &[("match", "burst"), ("transport", "poll")]).await;
    assert!(first.events.is_empty());
    assert_eq!(first.next, "earliest");
    // A burst from 8 concurrent publishers, interleaved with another topic; more than one batch.
    let publishers: Vec<_> = (0..8)
        .map(|p| {
            let client = hub.client.clone();
            let url = hub.hub_url();
            tokio::spawn(async move {
                for i in 0..150 {
                    for (topic, data) in [("burst", format!("{p}-{i}")), ("noise", String::new())] {
                        let update =
                            herald_client::Publication { topics: vec![topic.into()], data, ..Default::default() };
                        herald_client::publish(&client, &url, &update).await.unwrap();
                    }
                }
            })
        })
        .collect();
    let mut cursor = first.next;
    let mut received = Vec::new();
    let mut batches = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    while received.len() < 1200 {
        assert!(Instant::now() < deadline, "only {} of 1200 events arrived", received.len());
        let batch = poll(&hub, &[("match", "burst"), ("transport", "poll"), ("last_event_id", &cursor)]).await;
        received.extend(batch.events);
        cursor = batch.next;
        batches += 1;
    }
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let after = poll(&hub, &[("match", "burst"), ("transport", "poll"), ("last_event_id", &cursor)]).await;
    assert!(after.events.is_empty(), "{} events repeated", after.events.len());
    assert!(batches > 1);
    // Each once, and each publisher's events in its order.
    let values = data(&received);
    assert_eq!(values.iter().collect::<HashSet<_>>().len(), 1200, "duplicates");
    for p in 0..8 {
        let mine: Vec<usize> =
            values.iter().filter_map(|v| v.strip_prefix(&format!("{p}-"))).map(|i| i.parse().unwrap()).collect();
        assert_eq!(mine, (0..150).collect::<Vec<_>>(), "publisher {p}");
    }
}

#[tokio::test]
async fn a_batch_holds_at_most_a_thousand_events_and_the_rest_follows() {
    let hub = TestHub::start(&["--store", "memory", "--history-size", "3000"]).await;
    for i in 0..1500 {
        hub.publish("many", &i.to_string()).await;
    }
    let one = poll(&hub, &[("match", "many"), ("transport", "poll"), ("last_event_id", "earliest")]).await;
    assert_eq!(one.events.len(), 1000);
    assert_eq!(one.next, one.events[999]["id"].as_str().unwrap());
    let two = poll(&hub, &[("match", "many"), ("transport", "long-poll"), ("last_event_id", &one.next)]).await;
    let all: Vec<String> = data(&one.events).into_iter().chain(data(&two.events)).map(str::to_owned).collect();
    assert_eq!(all, (0..1500).map(|i| i.to_string()).collect::<Vec<_>>());
}

#[tokio::test]
async fn concurrent_polls_from_one_client_each_get_the_whole_batch() {
    let hub = TestHub::start(&[]).await;
    let start = hub.publish("c", "before").await;
    let polls: Vec<_> = (0..4)
        .map(|_| {
            let url = hub.subscribe_url(&[("match", "c"), ("transport", "long-poll"), ("last_event_id", &start)]);
            tokio::spawn(hub.client.get(url).send())
        })
        .collect();
    hub.wait_for_subscribers(4).await;
    let id = hub.publish("c", "after").await;
    for pending in polls {
        let body: Value = within(pending).await.unwrap().unwrap().json().await.unwrap();
        assert_eq!(data(body["events"].as_array().unwrap()), ["after"]);
        assert_eq!(body["last_event_id"], id.as_str());
    }
}

#[tokio::test]
async fn poll_resuming_from_a_forgotten_id_says_so() {
    let hub = TestHub::start(&[]).await;
    hub.publish("f", "kept").await;
    let response = hub
        .client
        .get(hub.subscribe_url(&[("match", "f"), ("transport", "poll"), ("last_event_id", "never-published")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["mercure-last-event-id"], "earliest");
    let body: Value = response.json().await.unwrap();
    assert_eq!(data(body["events"].as_array().unwrap()), ["kept"]);
}

/// Reads `stream` until `done` holds for what arrived so far.
async fn read_until(response: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    while !done(&text) {
        let chunk = within(response.chunk()).await.expect("stream readable").expect("stream still open");
        text.push_str(std::str::from_utf8(&chunk).expect("UTF-8 chunks"));
    }
    text
}

#[tokio::test]
async fn ndjson_streams_one_json_object_per_line_and_resumes() {
    let hub = TestHub::start(&["--heartbeat", "200ms"]).await;
    let before = hub.publish("n", "missed").await;
    let after = hub.publish("n", "line 1\nline 2 ✓ 🦀").await;
    let mut response = hub
        .client
        .get(hub.subscribe_url(&[("match", "n")]))
        .header("accept", "application/x-ndjson")
        .header("last-event-id", &before)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    assert_eq!(response.headers()["mercure-last-event-id"], before.as_str());
    let live = herald_client::Publication {
        topics: vec!["n".into()],
        data: "live".into(),
        event_type: Some("custom".into()),
        ..Default::default()
    };
    let live_id = hub.publish_update(&live).await;
    let text = read_until(&mut response, |t| t.matches('\n').count() >= 4 && t.contains("heartbeat\"}\n{")).await;
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).expect("each line is JSON")).collect();
    let events: Vec<&Value> = lines.iter().filter(|l| l["type"] == "event").collect();
    assert_eq!(events[0]["id"], after.as_str());
    assert_eq!(events[0]["data"], "line 1\nline 2 ✓ 🦀");
    assert_eq!((events[1]["id"].as_str(), events[1]["event"].as_str()), (Some(live_id.as_str()), Some("custom")));
    assert!(lines.iter().all(|l| l["type"] == "event" || l["type"] == "heartbeat"));
    assert_eq!(lines[0]["type"], "heartbeat", "the stream opens at once");
}

#[tokio::test]
async fn forever_frame_sends_padded_html_then_one_script_per_event() {
    let hub = TestHub::start(&[]).await;
    let url = hub.subscribe_url(&[("match", "h"), ("transport", "htmlfile"), ("callback", "onPush")]);
    let mut response = hub.client.get(url).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/html; charset=utf-8");
    let prelude = read_until(&mut response, |t| t.contains("-->")).await;
    assert!(prelude.len() > 1024, "padded to start rendering early");
    assert!(prelude.contains("window.parent[\"onPush\"](m)"));
    hub.publish("h", "</script><script>alert(1)</script>").await;
    let text = read_until(&mut response, |t| t.contains(");</script>\n")).await;
    let chunk = text.lines().find(|l| l.starts_with("<script>e(")).expect("an event chunk");
    let json = chunk.strip_prefix("<script>e(").and_then(|c| c.strip_suffix(");</script>")).unwrap();
    assert!(!json.contains('<'), "markup in data is escaped: {json}");
    let message: Value = serde_json::from_str(json).unwrap();
    assert_eq!(message["data"], "</script><script>alert(1)</script>");
}

#[tokio::test]
async fn bad_transport_parameters_are_refused() {
    let hub = TestHub::start(&[]).await;
    for params in [
        &[("match", "t"), ("transport", "smoke-signals")][..],
        &[("match", "t"), ("transport", "long-poll"), ("timeout", "a while")],
        &[("match", "t"), ("transport", "poll"), ("timeout", "10")],
        &[("match", "t"), ("timeout", "10")],
        &[("match", "t"), ("transport", "htmlfile"), ("callback", "x);alert(1")],
        &[("transport", "long-poll")],
    ] {
        let response = hub.client.get(hub.subscribe_url(params)).send().await.unwrap();
        assert_eq!(response.status(), 400, "{params:?}");
        assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
        assert!(!response.text().await.unwrap().is_empty());
    }
}
