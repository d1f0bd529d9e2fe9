//! `/metrics` kept from the public: on an address of its own (`--metrics-addr`), and behind a
//! token (`--metrics-token`).

mod common;

use common::TestHub;

/// The metrics URL the hub printed when it started.
fn metrics_url(hub: &TestHub) -> String {
    let (_, after) = hub.banner.split_once("metrics: ").unwrap_or_else(|| panic!("no metrics URL in {:?}", hub.banner));
    after.trim_end_matches(')').to_owned()
}

#[tokio::test]
async fn metrics_on_their_own_address_are_gone_from_the_hubs() {
    let hub = TestHub::start(&["--store", "memory", "--metrics-addr", "127.0.0.1:0"]).await;
    let url = metrics_url(&hub);
    assert_ne!(url, hub.base.join("/metrics").expect("joins").to_string());
    let scrape = hub.client.get(&url).send().await.expect("GET the metrics address");
    assert_eq!(scrape.status(), 200);
    assert!(scrape.text().await.expect("text").contains("herald_subscribers "));
    let on_hub = hub.client.get(hub.base.join("/metrics").expect("joins")).send().await.expect("GET /metrics");
    assert_eq!(on_hub.status(), 404, "the hub's own address no longer serves them");
}

#[tokio::test]
async fn a_metrics_token_is_required_when_set() {
    let hub = TestHub::start(&["--store", "memory", "--metrics-token", "s3cret-token"]).await;
    let url = metrics_url(&hub);
    let none = hub.client.get(&url).send().await.expect("GET /metrics");
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], "Bearer realm=\"metrics\"");
    let wrong = hub.client.get(&url).bearer_auth("s3cret-tokem").send().await.expect("GET /metrics");
    assert_eq!(wrong.status(), 401);
    let right = hub.client.get(&url).bearer_auth("s3cret-token").send().await.expect("GET /metrics");
    assert_eq!(right.status(), 200);
    assert!(right.text().await.expect("text").contains("herald_events_published_total"));
}

/// The value of `series` (a metric name with its labels) in a scrape.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn latencies_connections_by_transport_and_the_store_size_are_measured() {
    // The disk store (the default), so that publishes wait for durability and the store counts.
    let hub = TestHub::start(&[]).await;
    // From the start of history, so that the first event is not missed however late the
    // stream connects (it connects on its first read).
    let mut sse = hub.event_source(&["/metered"]).last_event_id("earliest");
    let ws_url = hub.ws_url().parse().expect("a WebSocket URL");
    let socket = herald_client::WebSocket::builder(ws_url).connect().await.expect("a WebSocket");
    socket.subscribe(herald_client::Subscribe::exact("/metered")).await.expect("subscribed");
    let mut socket = socket;
    let first = hub.publish("/metered", "0").await;
    assert_eq!(herald_testkit::within(sse.next()).await.expect("the stream").id, first);
    for n in 1..3 {
        hub.publish("/metered", &n.to_string()).await;
    }
    herald_testkit::take(&mut sse, 2).await;
    for _ in 0..3 {
        herald_testkit::within(socket.next()).await.expect("the socket").expect("an event");
    }

    let text = hub.metrics().await;
    assert_eq!(value(&text, "herald_connections{transport=\"sse\"}"), Some(1.0), "{text}");
    assert_eq!(value(&text, "herald_connections{transport=\"websocket\"}"), Some(1.0));
    assert_eq!(value(&text, "herald_connections{transport=\"ndjson\"}"), Some(0.0));
    assert_eq!(value(&text, "herald_publish_ack_seconds_count"), Some(3.0), "one per publish");
    assert!(value(&text, "herald_publish_ack_seconds_sum").is_some_and(|s| s > 0.0));
    let writes = value(&text, "herald_publish_to_write_seconds_count").expect("the write histogram");
    assert!(writes >= 2.0, "a batch written to each subscriber at least: {writes}");
    assert_eq!(value(&text, "herald_publish_to_write_seconds_bucket{le=\"+Inf\"}"), Some(writes));
    assert_eq!(value(&text, "herald_store_events"), Some(3.0));
    assert!(value(&text, "herald_store_bytes").is_some_and(|b| b > 0.0));

    // Gone subscribers are no longer counted.
    drop(sse);
    socket.close().await;
    herald_testkit::within(async {
        loop {
            let text = hub.metrics().await;
            let open = ["sse", "websocket"]
                .map(|t| value(&text, &format!("herald_connections{{transport=\"{t}\"}}")).unwrap_or(-1.0));
            if open == [0.0, 0.0] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await;
}
