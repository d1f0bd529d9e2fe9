//! 1,000 events to 100 subscribers, each receiving all of them once, in order (in process).

mod common;

use common::{take, within, TestHub};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_events_reach_hundred_subscribers_in_order() {
    const SUBSCRIBERS: usize = 100;
    const EVENTS: usize = 1000;
    let hub = TestHub::start(&["--queue-capacity", "2048"]).await;
    let mut readers = Vec::new();
    for _ in 0..SUBSCRIBERS {
        // `earliest` (history is empty at start) covers a subscriber that connects late.
        let mut source = hub.event_source(&["https://example.com/ticker"]).last_event_id("earliest");
        readers.push(tokio::spawn(async move { take(&mut source, EVENTS).await }));
    }
    // Every subscriber connects before publishing, so all of them receive everything live.
    hub.wait_for_subscribers(SUBSCRIBERS as u64).await;
    let mut ids = Vec::with_capacity(EVENTS);
    for i in 0..EVENTS {
        ids.push(hub.publish("https://example.com/ticker", &format!("tick {i}")).await);
    }
    for reader in readers {
        let events = within(reader).await.unwrap();
        let data: Vec<_> = events.iter().map(|e| e.data.as_str()).collect();
        let expected: Vec<_> = (0..EVENTS).map(|i| format!("tick {i}")).collect();
        assert_eq!(data, expected);
        let got_ids: Vec<_> = events.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(got_ids, ids);
    }
}
