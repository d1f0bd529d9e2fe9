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
