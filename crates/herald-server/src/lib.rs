//! Herald's HTTP server: every transport and page, on top of [`herald_core::Hub`].
//!
//! [`router`] builds the axum application from a [`ServerConfig`]; [`serve`] runs it on a
//! [`Listener`] (TLS from [`tls`], connection limits in [`listener`]) until a shutdown signal. The
//! Mercure endpoint lives in [`mercure`]; the streaming response body that carries events to
//! Server-Sent Events, NDJSON and forever-frame clients is in [`stream`], long-polling in
//! [`long_poll`], and the WebSocket transport in [`ws`].

pub mod auth;
pub mod config;
pub mod cors;
pub mod demo;
pub mod error;
pub mod form;
pub mod listener;
pub mod long_poll;
pub mod mercure;
pub mod metrics;
pub mod rate;
pub mod stream;
pub mod tls;
pub mod ws;

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use herald_core::Hub;

pub use config::{ConfigError, ServerConfig, StoreKind};
use herald_store::DiskStore;
pub use listener::{ConnectionLimits, Listener};
pub use tls::TlsFiles;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<ServerConfig>,
    pub auth: Arc<auth::Authorizer>,
    /// Publish rate limiting, when configured.
    pub publish_rate: Option<Arc<rate::PublishRate>>,
}

impl AppState {
    /// Validates `config` ([`ServerConfig::validate`]), opens the configured store and builds the
    /// hub; the error says what to fix.
    pub fn new(config: ServerConfig) -> Result<Self, String> {
        let config = config.validate().map_err(|e| e.to_string())?;
        let hub = match config.store {
            StoreKind::Memory => Hub::new(config.hub.clone()),
            StoreKind::Disk => {
                let store = DiskStore::open(&config.data_dir).map_err(|e| e.to_string())?;
                Hub::with_store(config.hub.clone(), Arc::new(store)).map_err(|e| e.to_string())?
            }
        };
        let auth = auth::Authorizer::new(&config.auth, &config.hub.hub_url, &config.cors_origins)?;
        metrics::init();
        let publish_rate = config.limits.publish_rate.map(|r| Arc::new(rate::PublishRate::new(r)));
        Ok(Self { hub, auth: Arc::new(auth), publish_rate, config: Arc::new(config) })
    }

    /// Checks the publish rate of `rights`' publisher (429 past it).
    pub fn check_publish_rate(
        &self,
        rights: &auth::PublishRights,
        client: Option<std::net::IpAddr>,
    ) -> Result<(), error::ApiError> {
        match &self.publish_rate {
            Some(rate) => rate.check(&rights.publisher(client)),
            None => Ok(()),
        }
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let cors = cors::layer(&state.config.cors_origins);
    let mut app = Router::new()
        .route(mercure::PATH, get(mercure::subscribe::handle).post(mercure::publish::handle))
        .route("/ws", get(ws_only))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics::handle_scrape))
        .merge(demo::routes());
    if state.config.ws_echo {
        app = app.route("/ws-echo", get(ws::echo::handle));
    }
    if let Some(cors) = cors {
        app = app.layer(cors);
    }
    app.with_state(state)
}

/// `GET /ws`: the WebSocket transport only.
async fn ws_only(
    axum::extract::State(state): axum::extract::State<AppState>,
    client: Option<axum::Extension<rate::ClientAddr>>,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<axum::response::Response, error::ApiError> {
    let client = client.map(|axum::Extension(rate::ClientAddr(ip))| ip);
    ws::upgrade(upgrade, &headers, uri.query(), client, state)
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
    if state.config.demo {
        demo::spawn_publishers(&state.hub);
    }
    if let Some(rate) = state.publish_rate.clone() {
        tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                every.tick().await;
                rate.forget_idle();
            }
        });
    }
    let hub = state.hub.clone();
    let limits = state.config.connections.clone();
    let graceful = listener.run(router(state), &limits, shutdown).await;
    tracing::info!("shutting down: closing event streams");
    hub.disconnect_all();
    graceful.shutdown().await;
    Ok(())
}
