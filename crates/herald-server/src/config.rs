//! Settings of the HTTP server, with the defaults the CLI documents.

use std::path::PathBuf;
use std::time::Duration;

use herald_core::{HubConfig, Retention};
use url::Url;

/// Where history is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// In memory only: lost on restart.
    Memory,
    /// The embedded durable store in this directory (the default, `./herald-data`).
    Disk(PathBuf),
}

/// Everything the server needs to know; the CLI fills it from flags, `HERALD_*` and a TOML file.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The URL clients use to reach the hub (scheme and host); relative topics and URL patterns
    /// resolve against `<public_url>/.well-known/mercure`.
    pub public_url: Url,
    /// Where history is kept.
    pub store: StoreChoice,
    /// How much history is kept for replay.
    pub retention: Retention,
    /// With the disk store: the newest events also kept in memory for fast resumption.
    pub cache_size: u64,
    /// Events queued per connection before a too-slow client is disconnected.
    pub queue_capacity: usize,
    /// Idle time after which an event stream gets a `:` comment to keep proxies from closing it.
    pub heartbeat: Duration,
    /// Reconnection delay advised to clients in the stream's first `retry:` field.
    pub retry: Option<Duration>,
    /// Longest a long-poll request waits for events (longer `timeout`s are cut to this).
    pub long_poll_max: Duration,
    /// Origins allowed to use the hub from browsers (`*` for any, without credentials).
    pub cors_origins: Vec<String>,
    /// Run the demo publishers: the clock (`server-time` every second) and the stock ticker.
    pub demo: bool,
    /// Serve a WebSocket echo endpoint at `/ws-echo` (for protocol conformance tests only).
    pub ws_echo: bool,
    pub limits: Limits,
    /// Limits on connections: counts per hub and per client address, header and idle timeouts.
    pub connections: crate::listener::ConnectionLimits,
    /// The certificate and key to serve HTTPS with; `None` serves cleartext HTTP.
    pub tls: Option<crate::tls::TlsFiles>,
    /// Keys and policy of JWT authorization.
    pub auth: crate::auth::AuthConfig,
}

/// Size limits on requests; exceeding one is refused with the status given for each field.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest publish body, in bytes (413).
    pub max_body_bytes: usize,
    /// Longest `topic`, `id` or `type` value, in bytes (413).
    pub max_field_bytes: usize,
    /// Most `topic` fields in one publish (413).
    pub max_topics_per_publish: usize,
    /// Most topic matchers in one subscription (400, as the protocol says).
    pub max_matchers: usize,
    /// Most publishes per publisher (token subject or client address), if limited (429).
    pub publish_rate: Option<crate::rate::Rate>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_field_bytes: 4096,
            max_topics_per_publish: 32,
            max_matchers: 32,
            publish_rate: None,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            public_url: Url::parse("http://localhost:8080/").expect("static URL parses"),
            store: StoreChoice::Disk(PathBuf::from("herald-data")),
            retention: Retention::default(),
            cache_size: 10_000,
            queue_capacity: 1_024,
            heartbeat: Duration::from_secs(15),
            retry: Some(Duration::from_secs(2)),
            long_poll_max: Duration::from_secs(60),
            cors_origins: Vec::new(),
            demo: true,
            ws_echo: false,
            limits: Limits::default(),
            connections: crate::listener::ConnectionLimits::default(),
            tls: None,
            auth: crate::auth::AuthConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The hub's own URL: the public URL with the Mercure path.
    pub fn hub_url(&self) -> Url {
        let mut url = self.public_url.clone();
        url.set_path(crate::transport::PATH);
        url.set_query(None);
        url.set_fragment(None);
        url
    }

    pub fn hub_config(&self) -> HubConfig {
        HubConfig {
            retention: self.retention,
            cache_size: self.cache_size,
            queue_capacity: self.queue_capacity,
            hub_url: self.hub_url(),
        }
    }
}
