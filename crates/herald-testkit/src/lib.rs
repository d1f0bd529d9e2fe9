//! What Herald's test suites share, whether the hub runs in the test's process
//! (`herald-server`'s tests) or as the built binary (`herald`'s): a client of the running hub
//! that builds its URLs, publishes and opens event sources, and helpers that wait with a limit,
//! so a missing event fails a test instead of hanging it.

use std::future::Future;
use std::time::Duration;

use herald_client::{Event, EventSource, Publication};
use url::Url;

/// How long a test waits for something that should happen.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A client of a running hub.
#[derive(Debug, Clone)]
pub struct HubClient {
    /// The hub's base URL, e.g. `http://127.0.0.1:41234/`.
    pub base: Url,
    /// The HTTP client requests go through.
    pub client: reqwest::Client,
}

impl HubClient {
    /// A client of the hub at `base`.
    pub fn new(base: Url) -> Self {
        Self { base, client: reqwest::Client::new() }
    }

    /// The hub's endpoint, `/.well-known/mercure`.
    pub fn hub_url(&self) -> Url {
        self.base.join("/.well-known/mercure").expect("hub path joins")
    }

    /// The hub's URL for a WebSocket client (`ws://…/.well-known/mercure`).
    pub fn ws_url(&self) -> String {
        let mut url = self.hub_url();
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        url.set_scheme(scheme).expect("http URLs take the ws scheme");
        url.to_string()
    }

    /// The subscription URL for `params` (name, value) pairs.
    pub fn subscribe_url(&self, params: &[(&str, &str)]) -> Url {
        let mut url = self.hub_url();
        url.query_pairs_mut().extend_pairs(params);
        url
    }

    /// An [`EventSource`] on exact topics, reconnecting quickly.
    pub fn event_source(&self, topics: &[&str]) -> EventSource {
        let params: Vec<_> = topics.iter().map(|t| ("match", *t)).collect();
        EventSource::new(self.subscribe_url(&params)).reconnect_delay(Duration::from_millis(50))
    }

    /// POSTs a raw form body; returns status and body text.
    pub async fn post_form(&self, body: impl Into<reqwest::Body>) -> (u16, String) {
        let response = self
            .client
            .post(self.hub_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("publish request completes");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body is text"))
    }

    /// Publishes `data` to `topic` and returns the id; panics on refusal.
    pub async fn publish(&self, topic: &str, data: &str) -> String {
        let update = Publication { topics: vec![topic.into()], data: data.into(), ..Default::default() };
        self.publish_update(&update).await
    }

    /// Publishes `update` and returns the id; panics on refusal.
    pub async fn publish_update(&self, update: &Publication) -> String {
        herald_client::publish(&self.client, &self.hub_url(), update).await.expect("publish accepted")
    }
}

/// Awaits `future` for at most [`PATIENCE`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future).await.expect("timed out after 10s")
}

/// Reads the next `n` events.
pub async fn take(source: &mut EventSource, n: usize) -> Vec<Event> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(within(source.next()).await.expect("event source keeps running"));
    }
    events
}
