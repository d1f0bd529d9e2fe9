//! The hub inside an application's own axum server.
//!
//! [`Herald::builder`] makes a hub from the same [`ServerConfig`] as `herald serve` (store,
//! tokens, limits, history); [`Herald::router`] gives its routes to nest or merge into the
//! application's `Router`; [`Herald::publish`] publishes from the application's own code, with
//! no HTTP round trip, under the same limits and rules as a client's publish. Clients subscribe
//! and publish over every transport exactly as with the standalone hub, at the paths the
//! application serves it under.
//!
//! ```no_run
//! use axum::routing::get;
//! use herald_server::{Herald, ServerConfig};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = ServerConfig { public_url: "http://localhost:3000/".parse()?, ..ServerConfig::default() };
//! let herald = Herald::builder(config).memory_store().build()?;
//! let app = axum::Router::new().route("/", get(|| async { "my application" })).merge(herald.router());
//!
//! herald.publish(herald_server::Update::new("/orders/1", "{\"status\":\"paid\"}")).await?;
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! let shutdown = herald.clone();
//! axum::serve(listener, app)
//!     .with_graceful_shutdown(async move {
//!         let _ = tokio::signal::ctrl_c().await;
//!         // Event streams never end by themselves: end them, so the server can stop.
//!         shutdown.drain(std::time::Duration::ZERO).await;
//!     })
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! What differs from `herald serve`: connections are accepted by the application's server, so
//! the listener's connection limits, accept rate, lean event-stream writer, TLS and
//! `--metrics-addr` of [`ServerConfig`] do not apply (the application decides those); the demo
//! pages and publishers are off unless [`HeraldBuilder::demo`] turns them on.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use herald_core::{Event, Hub, StoreError, Update, UpdateError};

use crate::ops::publish::check_limits;
use crate::{AppState, ServerConfig, StartError, StoreKind};

/// A hub embedded in an application: cheap to clone (every clone is the same hub).
#[derive(Debug, Clone)]
pub struct Herald {
    state: AppState,
}

/// Settings for a [`Herald`], from [`Herald::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct HeraldBuilder {
    config: ServerConfig,
    store: Option<Arc<dyn herald_core::Store>>,
    demo: bool,
}

/// Why an in-process publish was refused; nothing was published.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The update is over one of the configured limits (a field's length, topics per update).
    #[error("{0}")]
    TooLarge(String),
    /// The update breaks a rule of the protocol (no topic, a reserved id, ...).
    #[error(transparent)]
    Invalid(UpdateError),
    /// The store could not make the event durable; retrying may succeed.
    #[error("the store could not write the event: {0}")]
    Unavailable(Arc<StoreError>),
    /// The hub is shutting down.
    #[error("the hub is shutting down")]
    ShuttingDown,
}

impl Herald {
    /// A builder for a hub with these settings (as `herald serve` reads them; start from
    /// [`ServerConfig::default`]). Set `public_url` to where the application serves the hub:
    /// relative topics and the `Link` header sent to clients are resolved against it.
    pub fn builder(config: ServerConfig) -> HeraldBuilder {
        HeraldBuilder { config, store: None, demo: false }
    }

    /// The hub's routes (`/.well-known/mercure`, `/ws`, `/healthz`, `/metrics` unless
    /// `metrics_addr` is set, and the demo pages if turned on), to `merge` into the application's
    /// router, or to `nest` under a prefix (then include the prefix in `public_url`).
    pub fn router(&self) -> Router {
        crate::router(self.state.clone())
    }

    /// Publishes `update` from the application's own code: the configured limits and the
    /// protocol's rules apply, authorization and the publish rate do not (the application is
    /// trusted). Returns the event once the hub holds it (durably, with the disk store);
    /// subscribers on every transport receive it as if it had been posted.
    pub async fn publish(&self, update: Update) -> Result<Arc<Event>, PublishError> {
        check_limits(&update, &self.state.config.limits).map_err(|limit| PublishError::TooLarge(limit.to_string()))?;
        let update = update.into_valid(&self.state.hub.config().hub_url).map_err(PublishError::Invalid)?;
        let event = self.state.hub.publish_valid(update).await.map_err(|e| match e {
            herald_core::PublishError::Invalid(e) => PublishError::Invalid(e),
            herald_core::PublishError::Storage(e) => PublishError::Unavailable(e),
            herald_core::PublishError::Closed => PublishError::ShuttingDown,
        })?;
        tracing::debug!(id = %event.id, topics = ?event.topics, "published in process");
        Ok(event)
    }

    /// The hub itself, e.g. to subscribe in-process ([`Hub::subscribe`]) or read its figures.
    pub fn hub(&self) -> &Arc<Hub> {
        &self.state.hub
    }

    /// The settings it runs with.
    pub fn config(&self) -> &ServerConfig {
        &self.state.config
    }

    /// Ends every subscription, spread over `period` (`Duration::ZERO`: all at once), and refuses
    /// new ones (publishing goes on). Call it when the application shuts down: event streams
    /// never end by themselves, so a graceful shutdown of the server would otherwise wait for
    /// them forever.
    pub async fn drain(&self, period: Duration) {
        self.state.hub.drain(period).await;
    }
}

impl HeraldBuilder {
    /// Keeps history in memory (lost when the application stops), whatever the config says.
    pub fn memory_store(mut self) -> Self {
        self.config.store = StoreKind::Memory;
        self.store = None;
        self
    }

    /// Keeps history durably in `dir` (the embedded disk store of `herald serve`).
    pub fn disk_store(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.store = StoreKind::Disk;
        self.config.data_dir = dir.into();
        self.store = None;
        self
    }

    /// Keeps history in a store of the application's own.
    pub fn store(mut self, store: Arc<dyn herald_core::Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Serves the demo pages (`/`, `/chat`, `/ticker`, `/herald.js`) and runs their publishers,
    /// as `herald serve` does. Off by default: the application has its own pages.
    pub fn demo(mut self, on: bool) -> Self {
        self.demo = on;
        self
    }

    /// Validates the settings, opens the store and starts the hub. Call it inside a Tokio
    /// runtime: the hub's housekeeping (and the demo publishers, if on) run as tasks on it.
    pub fn build(self) -> Result<Herald, StartError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| StartError::NoRuntime)?;
        let mut config = self.config;
        config.demo = self.demo;
        let mut state = match self.store {
            Some(store) => AppState::with_store(config, store)?,
            None => AppState::new(config)?,
        };
        state.pages = self.demo;
        let _guard = runtime.enter();
        crate::spawn_background_tasks(&state, state.config.addr.port());
        Ok(Herald { state })
    }
}
