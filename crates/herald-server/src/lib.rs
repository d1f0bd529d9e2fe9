//! Herald's HTTP server: every transport and page, on top of [`herald_core::Hub`].
//!
//! [`router`] builds the axum application from an [`AppState`]; [`serve`] runs it on a
//! [`Listener`] (TLS from [`tls`], connection limits in [`listener`]) until a shutdown signal.
//!
//! The house: `ops/` decides publishing and subscribing once for every transport (authorization,
//! rate, limits, validation, rights, in that order) and returns typed failures; `transport/` has
//! one room per transport, each parsing its input, calling `ops`, writing its own wire format
//! and mapping failures once (`error.rs` for every HTTP answer; `transport/bayeux/` handles its
//! messages once for its three carriers and keeps its sessions); `auth/` reads tokens and rights;
//! `listener/` accepts connections and serves event streams without hyper; `presence/` tracks
//! active subscriptions; `admin/` is the dashboard, fed by the hub's own figures on a reserved
//! private topic; `demo/` holds the pages and their publishers (`demo/poker/`: a table dealt on
//! the hub, with its own tokens from `auth/demo.rs`).
//!
//! # Data path
//!
//! One published event, through the files:
//!
//! 1. `transport/publish.rs` with `publish_form.rs` (or `transport/ws/connection.rs` for a WebSocket `publish`)
//!    reads the request; `ops/publish.rs` admits the publisher (`auth/`: token and rights;
//!    `rate.rs`: its rate) before the body is read, then checks the limits, validates the
//!    update (`herald_core::Update::into_valid`) and checks the rights on its topics.
//! 2. `herald_core::Hub::publish_valid` builds the `Event` and its event-stream frame once. With
//!    the disk store it goes to the writer thread (`herald-core/src/writer.rs`), which appends
//!    a batch of events with one sync (`herald-store/src/disk.rs`), then records it; with the
//!    memory store the publisher records it at once. Recording gives it its position, keeps it
//!    in history (`herald-core/src/history.rs`) and queues it for the hub's fan-out thread
//!    (`herald-core/src/fanout.rs`), which pushes the shared `Arc<Event>` into the mailbox of
//!    every matching subscriber (`herald-core/src/mailbox.rs`, `registry.rs`) without waiting:
//!    a full mailbox ends that subscriber alone (`Ended::Overflowed`).
//! 3. The publisher is answered with the id (`200`, or the WebSocket `ack`) once its event is
//!    recorded, while the fan-out thread delivers it.
//! 4. Each subscriber's connection takes its whole batch from its mailbox
//!    (`herald_core::Subscription::poll_recv_many`) and writes it in its wire format:
//!    `transport/sse.rs` (the frame made at publish), `transport/ndjson.rs`, `transport/poll.rs`,
//!    Bayeux's `/meta/connect` replies (`transport/bayeux/delivery.rs`), the WebSocket (the
//!    JSON message of `transport/json.rs`; with permessage-deflate, the compressed frame of
//!    `transport/ws/shared_frame.rs`), `transport/htmlfile.rs` (its `<script>` chunk): each encoding is made once per event, on first use, and shared. Event
//!    streams on cleartext HTTP/1.1 are written by `listener/stream_writer.rs`, WebSockets by
//!    `transport/ws/socket.rs` on hyper's upgraded connection; everything else by hyper.
//!
//! One subscription:
//!
//! 1. `listener/sniff.rs` reads the first request head of a cleartext connection and asks
//!    `transport/select.rs` whether it is a streamed subscription (lean path) or not (hyper).
//! 2. `transport/mod.rs` routes the `GET`: a WebSocket upgrade to `transport/ws/` (its
//!    handshake in `handshake.rs`, permessage-deflate negotiated in `extension.rs`), anything
//!    else through `transport/select.rs`, which reads matchers, cursor and transport.
//! 3. `ops/subscribe.rs` checks the subscriber's rights, the matcher limit and each matcher,
//!    and calls `herald_core::Hub::subscribe`: the cursor is resolved (history, then the
//!    store), the replay taken and the mailbox registered under the registry's lock, so replay
//!    and live events meet with no gap and no repeat. A subscriber further back than memory catches up
//!    from the store page by page on tokio's blocking pool first
//!    (`herald-core/src/subscription.rs`). The token's `exp` ends the feed (`Ended::Expired`).
//! 4. The transport streams (`transport/stream.rs` drives SSE, NDJSON and the forever frame:
//!    prelude, batches, heartbeats) or answers one batch (`transport/poll.rs`), and maps how the
//!    feed ended once: a stream ends or aborts, a WebSocket closes with 1001, 1008, 1011,
//!    1012 or 1013, a poll answers `503` or `401`.

mod admin;
pub mod auth;
pub mod config;
mod cors;
mod demo;
pub mod embed;
mod engine;
mod error;
mod form;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod host;
pub mod listener;
mod metrics;
mod openapi;
mod ops;
mod presence;
mod random;
pub mod rate;
mod resource_metadata;
mod timing;
pub mod tls;
mod transport;

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use herald_core::{Engine, Hub};

pub use config::{BayeuxConfig, ConfigError, ServerConfig, StoreKind};
pub use embed::{Herald, HeraldBuilder};
pub use herald_core::Update;
use herald_store::DiskStore;
pub use listener::{ConnectionLimits, Listener};
pub use tls::TlsFiles;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The hub.
    pub hub: Arc<Hub>,
    /// The settings it runs with.
    pub config: Arc<ServerConfig>,
    auth: Arc<auth::Authorizer>,
    /// Publish rate limiting, when configured.
    publish_rate: Option<Arc<rate::PublishRate>>,
    /// The Bayeux sessions.
    bayeux: Arc<transport::bayeux::Sessions>,
    /// The active subscriptions, with `--subscriptions`.
    presence: Option<Arc<presence::Presence>>,
    /// Whether the router serves the demo pages (always for `herald serve`; an embedding
    /// application chooses).
    pages: bool,
    /// The poker demo's table, when the demos run on a single node.
    poker_table: Option<Arc<demo::poker::table::Table>>,
}

/// Why the hub cannot start; each message says what went wrong (the binary adds which setting
/// to change).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The settings do not work together.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The store cannot be opened.
    #[error(transparent)]
    Store(#[from] herald_core::StoreError),
    /// A JWT key is unusable.
    #[error("{0}")]
    Key(String),
    /// The configured store needs an engine this build left out (a cargo feature).
    #[error("{0}")]
    NotBuiltIn(String),
    /// [`HeraldBuilder::build`] was called outside a Tokio runtime.
    #[error("the hub must be started inside a Tokio runtime (call `build` from async code)")]
    NoRuntime,
}

impl AppState {
    /// Validates `config` ([`ServerConfig::validate`]), opens the configured store and builds the
    /// hub.
    pub fn new(config: ServerConfig) -> Result<Self, StartError> {
        let config = config.validate()?;
        let engine = match &config.store {
            StoreKind::Memory => Engine::Memory,
            StoreKind::Disk => Engine::Local(Arc::new(DiskStore::open(&config.data_dir)?)),
            StoreKind::Redis(url) => Engine::Shared(engine::redis(url)?),
            StoreKind::Nats(url) => Engine::Shared(engine::nats(url, &config.hub.retention)?),
        };
        Self::build(config, engine)
    }

    /// Like [`AppState::new`], with history kept by `store` instead of the configured one.
    pub fn with_store(config: ServerConfig, store: Arc<dyn herald_core::Store>) -> Result<Self, StartError> {
        Self::build(config.validate()?, Engine::Local(store))
    }

    fn build(config: ServerConfig, engine: Engine) -> Result<Self, StartError> {
        let hub = Hub::with_engine(config.hub.clone(), engine)?;
        let mut auth =
            auth::Authorizer::new(&config.auth, &config.hub.hub_url, &config.cors_origins).map_err(StartError::Key)?;
        let demo_key = if config.demo { auth::demo::DemoKey::generate().map(Arc::new) } else { None };
        if let Some(key) = &demo_key {
            auth = auth.with_demo_key(key.clone());
        }
        // Nodes sharing a log would each deal on the same topics: the table runs on one node only.
        let poker_table = demo_key.filter(|_| !config.store.is_shared()).map(demo::poker::table::Table::new);
        metrics::init();
        let publish_rate = config.limits.publish_rate.map(|r| Arc::new(rate::PublishRate::new(r)));
        let presence = match (config.subscriptions, tokio::runtime::Handle::try_current()) {
            (false, _) => None,
            (true, Ok(runtime)) => {
                let node = presence::new_subscriber_id();
                let events =
                    presence::events::start(hub.clone(), &runtime, config.subscriptions_coalesce, node.clone());
                let clustered = hub.shared_log_readable().is_some();
                let silence = clustered.then(|| config.presence_heartbeat * presence::cluster::MISSED);
                let presence = presence::Presence::with_node(Some(events), config.presence_window, node, silence);
                presence::start_sweeper(&presence, &runtime);
                if clustered {
                    presence::cluster::start(hub.clone(), &presence, &runtime, config.presence_heartbeat);
                }
                Some(presence)
            }
            (true, Err(_)) => return Err(StartError::NoRuntime),
        };
        Ok(Self {
            presence,
            hub,
            auth: Arc::new(auth),
            publish_rate,
            bayeux: Arc::default(),
            config: Arc::new(config),
            pages: true,
            poker_table,
        })
    }

    /// True when anyone may publish (no publisher key configured).
    pub fn publishing_is_open(&self) -> bool {
        self.auth.publishing_is_open()
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let cors = cors::layer(&state.config.cors_origins);
    let bayeux = get(transport::bayeux::http::get).post(transport::bayeux::http::post);
    let mut app = Router::new()
        .route(
            transport::PATH,
            get(transport::subscribe).post(transport::publish::handle).fallback(transport::subscribe_by_query),
        )
        .route("/ws", get(transport::ws_only))
        // CometD clients append `/handshake`, `/connect` (or just `/`) to the endpoint.
        .route(transport::bayeux::PATH, bayeux.clone())
        .route(&format!("{}/", transport::bayeux::PATH), bayeux.clone())
        .route(&format!("{}/{{*rest}}", transport::bayeux::PATH), bayeux)
        .route(&format!("{}/subscriptions", transport::PATH), get(presence::api::handle))
        .route(&format!("{}/subscriptions/{{*rest}}", transport::PATH), get(presence::api::handle))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/openapi.yaml", get(openapi::handle))
        .route(resource_metadata::PATH, get(resource_metadata::handle))
        .route(&resource_metadata::document_path(), get(resource_metadata::handle));
    if state.pages {
        app = app.merge(demo::routes()).merge(admin::routes());
    }
    if state.config.metrics_addr.is_none() {
        app = app.route("/metrics", get(metrics::handle_scrape));
    }
    if state.config.ws_echo {
        app = app.route("/ws-echo", get(transport::ws::echo::handle));
    }
    app = app.layer(axum::middleware::from_fn_with_state(state.clone(), resource_metadata::challenge));
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    let app = app.layer(axum::middleware::from_fn(host::require_host));
    app.with_state(state)
}

/// Starts what runs beside the connections: the demo publishers (when on) and the forgetting
/// of idle publishers' rates. Must be called inside a Tokio runtime.
/// `port` is the one the hub listens on (it names the node on the dashboard).
fn spawn_background_tasks(state: &AppState, port: u16) {
    if state.config.demo {
        demo::spawn_publishers(state);
    }
    if state.pages {
        admin::feed::start(state.clone(), port);
    }
    state.auth.spawn_key_refresh();
    tokio::spawn(transport::bayeux::sweep_sessions(state.bayeux.clone(), state.config.bayeux.session_timeout));
    if let Some(rate) = state.publish_rate.clone() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                rate.forget_idle();
            }
        });
    }
}

/// Serves `/metrics` alone on `listener` (the `--metrics-addr` of [`ServerConfig`]), until the
/// process ends.
pub async fn serve_metrics(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(metrics::handle_scrape)).with_state(state);
    axum::serve(listener, app).await
}

/// Serves `state` on `listener` until `shutdown` completes, then closes every event stream and
/// waits for the connections to finish.
///
/// Connections are served by hyper directly (HTTP/1 with upgrades, and HTTP/2), under the
/// connection limits of [`ServerConfig::connections`]; see [`listener`].
pub async fn serve(
    listener: Listener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr().map_or(state.config.addr.port(), |addr| addr.port());
    spawn_background_tasks(&state, port);
    let hub = state.hub.clone();
    let limits = state.config.connections.clone();
    let drain = state.config.drain_period;
    let publish_nice = state.config.hub.publish_nice;
    let graceful = listener.run(router(state), &limits, publish_nice, shutdown).await;
    tracing::info!(
        subscribers = hub.stats().subscribers,
        "shutting down: no new connections; ending subscriptions over {drain:?}"
    );
    hub.drain(drain).await;
    graceful.shutdown().await;
    Ok(())
}

/// The examples of the crate's README, compiled (and run, unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
