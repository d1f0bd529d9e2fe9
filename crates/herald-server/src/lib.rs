//! Herald's HTTP server: every transport and page, on top of [`herald_core::Hub`].
//!
//! [`router`] builds the axum application from a [`ServerConfig`]; [`serve`] runs it on a
//! listener until a shutdown signal. The Mercure endpoint lives in [`mercure`]; the streaming
//! response body that carries events to Server-Sent Events, NDJSON and forever-frame clients is
//! in [`stream`], long-polling in [`long_poll`], and the WebSocket transport in [`ws`].

pub mod auth;
pub mod config;
pub mod cors;
pub mod demo;
pub mod error;
pub mod form;
pub mod long_poll;
pub mod mercure;
pub mod stream;
pub mod ws;

use std::future::Future;
use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use herald_core::Hub;
use tokio::net::TcpListener;

pub use config::{ServerConfig, StoreChoice};
use herald_store::DiskStore;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub config: Arc<ServerConfig>,
    pub auth: Arc<auth::Authorizer>,
}

impl AppState {
    /// Opens the configured store and builds the hub; the error says what to fix.
    pub fn new(config: ServerConfig) -> Result<Self, String> {
        let hub = match &config.store {
            StoreChoice::Memory => Hub::new(config.hub_config()),
            StoreChoice::Disk(dir) => {
                let store = DiskStore::open(dir).map_err(|e| e.to_string())?;
                Hub::with_store(config.hub_config(), Arc::new(store)).map_err(|e| e.to_string())?
            }
        };
        Ok(Self { hub, auth: Arc::new(auth::Authorizer::from_config(&config)), config: Arc::new(config) })
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let cors = cors::layer(&state.config.cors_origins);
    let mut app = Router::new()
        .route(mercure::PATH, get(mercure::subscribe::handle).post(mercure::publish::handle))
        .route("/ws", get(ws_only))
        .route("/healthz", get(|| async { "ok\n" }))
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
    headers: axum::http::HeaderMap,
    upgrade: axum::extract::ws::WebSocketUpgrade,
) -> Result<axum::response::Response, error::ApiError> {
    ws::upgrade(upgrade, headers, state)
}

/// Serves `state` on `listener` until `shutdown` completes, then closes every event stream and
/// waits for the connections to finish.
///
/// Connections are served by hyper directly (HTTP/1 with upgrades, and cleartext HTTP/2) rather
/// than through `axum::serve`, to cap each connection's read buffer: hyper lets it grow to 16 KiB
/// while reading a request head and keeps it for the connection's life, which for long-lived
/// event streams and WebSockets is most of their memory.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if state.config.demo_clock {
        tokio::spawn(demo::run_clock(state.hub.clone()));
    }
    let hub = state.hub.clone();
    let service = hyper_util::service::TowerToHyperService::new(router(state));
    let mut builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
    builder.http1().max_buf_size(READ_BUFFER_CAP);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!("accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let connection = builder.serve_connection_with_upgrades(hyper_util::rt::TokioIo::new(stream), service.clone());
        let connection = graceful.watch(connection.into_owned());
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection ended: {e}");
            }
        });
    }
    tracing::info!("shutting down: closing event streams");
    hub.disconnect_all();
    graceful.shutdown().await;
    Ok(())
}

/// The smallest read buffer cap hyper accepts.
const READ_BUFFER_CAP: usize = 8192;
