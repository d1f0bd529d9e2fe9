//! Subscribing over Server-Sent Events, against a hub served in process.

mod common;

use common::{take, within, TestHub};
use herald_client::{EventSource, Publication};

#[tokio::test]
async fn events_carry_id_type_retry_and_multiline_unicode_data() {
    let hub = TestHub::start(&[]).await;
    // History is empty, so `earliest` only guards against publishing before the connection opens.
    let mut source = hub.event_source(&["https://example.com/books/1"]).last_event_id("earliest");
    let waiter = tokio::spawn(async move {
        let events = take(&mut source, 2).await;
        (source, events)
    });
    hub.wait_for_subscribers(1).await;
    let update = Publication {
        topics: vec!["https://example.com/books/1".into()],
        data: "line one\nline two\r\nline three ✓ 日本".into(),
        id: Some("book-1-v2".into()),
        event_type: Some("book-updated".into()),
        retry: Some(1234),
        ..Default::default()
    };
    assert_eq!(hub.publish_update(&update).await, "book-1-v2");
    hub.publish("https://example.com/other", "not for us").await;
    let generated = hub.publish("https://example.com/books/1", "").await;
    assert!(generated.starts_with("urn:uuid:"), "generated id {generated}");

    let (_source, events) = within(waiter).await.unwrap();
    assert_eq!(events[0].event_type, "book-updated");
    assert_eq!(events[0].data, "line one\nline two\nline three ✓ 日本");
    assert_eq!(events[0].id, "book-1-v2");
    assert_eq!((events[1].event_type.as_str(), events[1].data.as_str()), ("message", ""));
    assert_eq!(events[1].id, generated);
}

#[tokio::test]
async fn response_headers_and_retry_advice() {
    let hub = TestHub::start(&["--retry", "750ms", "--retry-jitter", "0"]).await;
    let url = hub.subscribe_url(&[("match", "a")]);
    let mut response = hub.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let h = response.headers();
    assert_eq!(h["content-type"], "text/event-stream");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-accel-buffering"], "no");
    assert!(h.get("mercure-last-event-id").is_none(), "only set when resuming");
    let first = within(response.chunk()).await.unwrap().unwrap();
    assert_eq!(&first[..], b"retry: 750\n\n");
}

#[tokio::test]
async fn each_connection_is_advised_its_own_retry_delay() {
    let hub = TestHub::start(&["--retry", "1000ms"]).await;
    let mut advised = Vec::new();
    for _ in 0..20 {
        let mut response = hub.client.get(hub.subscribe_url(&[("match", "a")])).send().await.unwrap();
        let first = within(response.chunk()).await.unwrap().unwrap();
        let text = std::str::from_utf8(&first).unwrap();
        let ms: u64 = text.strip_prefix("retry: ").and_then(|r| r.split('\n').next()).unwrap().parse().unwrap();
        advised.push(ms);
    }
    assert!(advised.iter().all(|ms| (1000..=1500).contains(ms)), "within the 50% jitter: {advised:?}");
    assert!(advised.iter().any(|ms| *ms != advised[0]), "spread, not in lock-step: {advised:?}");
}

#[tokio::test]
async fn heartbeat_comments_keep_idle_streams_alive() {
    let hub = TestHub::start(&["--heartbeat", "100ms"]).await;
    let mut response = hub.client.get(hub.subscribe_url(&[("match", "a")])).send().await.unwrap();
    let mut received = Vec::new();
    while !received.windows(3).any(|w| w == b":\n\n") {
        received.extend_from_slice(&within(response.chunk()).await.unwrap().unwrap());
    }
}

#[tokio::test]
async fn resuming_replays_exactly_the_missed_events() {
    let hub = TestHub::start(&[]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(hub.publish("t", &format!("e{i}")).await);
    }
    hub.publish("elsewhere", "x").await;

    // Header form.
    let mut source = hub.event_source(&["t"]).last_event_id(ids[1].clone());
    let got: Vec<_> = take(&mut source, 3).await.into_iter().map(|e| e.data).collect();
    assert_eq!(got, ["e2", "e3", "e4"]);
    assert_eq!(source.resumed_from(), Some(ids[1].as_str()));

    // Query form; the header wins when both are given.
    let url = hub.subscribe_url(&[("match", "t"), ("last_event_id", &ids[3])]);
    let mut by_query = EventSource::new(url.clone());
    assert_eq!(take(&mut by_query, 1).await[0].data, "e4");
    let mut both = EventSource::new(url).last_event_id(ids[0].clone());
    assert_eq!(take(&mut both, 1).await[0].data, "e1");

    // `earliest` and an unknown id replay everything, and say so.
    for cursor in ["earliest", "no-such-id"] {
        let mut all = hub.event_source(&["t"]).last_event_id(cursor);
        let got: Vec<_> = take(&mut all, 5).await.into_iter().map(|e| e.data).collect();
        assert_eq!(got, ["e0", "e1", "e2", "e3", "e4"], "cursor {cursor}");
        assert_eq!(all.resumed_from(), Some("earliest"));
    }
}

#[tokio::test]
async fn a_dropped_connection_resumes_without_loss_or_repeat() {
    let hub = TestHub::start(&[]).await;
    let first = hub.publish("t", "before").await;
    let mut source = hub.event_source(&["t"]).last_event_id(first);
    let waiter = tokio::spawn(async move {
        let got = take(&mut source, 1).await;
        (source, got)
    });
    hub.wait_for_subscribers(1).await;
    hub.publish("t", "live-1").await;
    let (mut source, got) = within(waiter).await.unwrap();
    assert_eq!(got[0].data, "live-1");

    source.disconnect();
    for i in 2..=4 {
        hub.publish("t", &format!("live-{i}")).await;
    }
    let got: Vec<_> = take(&mut source, 3).await.into_iter().map(|e| e.data).collect();
    assert_eq!(got, ["live-2", "live-3", "live-4"]);
    assert_eq!(source.connections(), 2);
}

#[tokio::test]
async fn every_matcher_form_selects_its_topics() {
    // (subscription parameters, a topic it selects, whether it also selects the decoy)
    type Params = &'static [(&'static str, &'static str)];
    let cases: [(Params, &str, bool); 5] = [
        (&[("topic", "https://example.com/books/{id}")], "https://example.com/books/7", false),
        (&[("match_urlpattern", "https://example.com/rooms/:room")], "https://example.com/rooms/lobby", false),
        (&[("match_exact", "exact-topic")], "exact-topic", false),
        (&[("topic", "*")], "anything", true),
        (&[("match", "*")], "anything", true),
    ];
    for (params, topic, sees_decoy) in cases {
        let hub = TestHub::start(&[]).await;
        hub.publish("https://example.com/books/7/reviews", "decoy").await;
        hub.publish(topic, "selected").await;
        let mut source = EventSource::new(hub.subscribe_url(params)).last_event_id("earliest");
        let expected: &[&str] = if sees_decoy { &["decoy", "selected"] } else { &["selected"] };
        let got: Vec<_> = take(&mut source, expected.len()).await.into_iter().map(|e| e.data).collect();
        assert_eq!(got, expected, "{params:?}");
    }
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_only() {
    let hub = TestHub::start(&["--cors-origin", "https://app.example"]).await;
    let preflight = |origin: &'static str| {
        hub.client
            .request(reqwest::Method::OPTIONS, hub.hub_url())
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "last-event-id")
            .send()
    };
    let ok = preflight("https://app.example").await.unwrap();
    assert!(ok.status().is_success());
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://app.example");
    assert_eq!(ok.headers()["access-control-allow-credentials"], "true");
    let allowed_headers = ok.headers()["access-control-allow-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(allowed_headers.contains("last-event-id"), "{allowed_headers}");

    let other = preflight("https://evil.example").await.unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    let get = hub
        .client
        .get(hub.subscribe_url(&[("match", "a"), ("last_event_id", "x")]))
        .header("origin", "https://app.example")
        .send()
        .await
        .unwrap();
    assert_eq!(get.headers()["access-control-allow-origin"], "https://app.example");
    let exposed = get.headers()["access-control-expose-headers"].to_str().unwrap().to_ascii_lowercase();
    assert!(exposed.contains("mercure-last-event-id"));
    assert_eq!(get.headers()["mercure-last-event-id"], "earliest");
}

#[tokio::test]
async fn demo_page_and_clock() {
    let hub = TestHub::start_with(&[], &[]).await;
    let page = hub.client.get(hub.base.clone()).send().await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let html = page.text().await.unwrap();
    assert!(html.contains("EventSource") && html.contains("server-time"));
    let chat = hub.client.get(hub.base.join("/chat").unwrap()).send().await.unwrap().text().await.unwrap();
    assert!(chat.contains("new WebSocket") && chat.contains("type: 'subscribe'"));
    assert_eq!(hub.client.get(hub.base.join("/healthz").unwrap()).send().await.unwrap().text().await.unwrap(), "ok\n");

    let mut clock = hub.event_source(&["/demo/clock"]);
    let ticks = take(&mut clock, 2).await;
    for tick in &ticks {
        assert_eq!(tick.event_type, "server-time");
        let millis: u128 = tick.data.parse().expect("server-time data is epoch milliseconds");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
        assert!(now.abs_diff(millis) < 10_000, "clock is {millis}, now {now}");
    }
    assert_ne!(ticks[0].id, ticks[1].id);

    // The ticker, through the URI template its page subscribes with.
    let url = hub.subscribe_url(&[("topic", "/demo/stocks/{symbol}")]);
    let mut ticker = EventSource::new(url);
    for quote in take(&mut ticker, 3).await {
        assert_eq!(quote.event_type, "quote");
        let data: serde_json::Value = serde_json::from_str(&quote.data).expect("quotes are JSON");
        assert!(data["price"].as_f64().is_some_and(|p| p > 0.0), "{data}");
        assert!(data["symbol"].as_str().is_some_and(|s| !s.is_empty()), "{data}");
    }
    let ticker_page = hub.client.get(hub.base.join("/ticker").unwrap()).send().await.unwrap();
    assert_eq!(ticker_page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(ticker_page.text().await.unwrap().contains("/herald.js"));
    let client = hub.client.get(hub.base.join("/herald.js").unwrap()).send().await.unwrap();
    assert_eq!(client.headers()["content-type"], "text/javascript; charset=utf-8");
    assert!(client.text().await.unwrap().contains("export class EventSource"));
}

#[tokio::test]
async fn a_fresh_subscriber_is_told_where_it_starts_and_can_resume_from_there() {
    let hub = TestHub::start(&["--retry", "500ms", "--retry-jitter", "0"]).await;
    let before = hub.publish("p", "before").await;
    let mut response = hub.client.get(hub.subscribe_url(&[("match", "p")])).send().await.unwrap();
    let first = within(response.chunk()).await.unwrap().unwrap();
    // A frame without data: it sets the client's last event id and dispatches nothing.
    assert_eq!(std::str::from_utf8(&first).unwrap(), format!("retry: 500\nid: {before}\n\n"));
    drop(response);
    // Published while the client is away, before it ever received an event: not lost.
    hub.publish("p", "missed").await;
    let mut source = hub.event_source(&["p"]).last_event_id(before.as_str());
    assert_eq!(take(&mut source, 1).await[0].data, "missed");

    // NDJSON says it in its first line.
    let mut ndjson =
        hub.client.get(hub.subscribe_url(&[("match", "p"), ("transport", "ndjson")])).send().await.unwrap();
    let line = within(ndjson.chunk()).await.unwrap().unwrap();
    let line: serde_json::Value = serde_json::from_slice(&line).unwrap();
    assert_eq!(line["type"], "position");
    assert_ne!(line["last_event_id"], before.as_str(), "the newest event is now the missed one");
}
