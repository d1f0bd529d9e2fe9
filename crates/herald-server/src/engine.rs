//! Opening a shared log for `--store redis://…` or `--store nats://…`.
//!
//! Each engine is a cargo feature of this crate (on by default in the `herald` binary), so an
//! application embedding the hub links only what it uses. A build without one says so at start,
//! rather than failing later.

use std::sync::Arc;

use herald_core::{Retention, SharedLog};

use crate::StartError;

/// The Redis stream at `url`, connected.
#[cfg(feature = "redis")]
pub(crate) fn redis(url: &str) -> Result<Arc<dyn SharedLog>, StartError> {
    let log = herald_store::RedisLog::connect(url)?;
    tracing::info!(store = %log.describe(), "sharing history on Redis");
    Ok(Arc::new(log))
}

/// Without the `redis` feature: a clear refusal.
#[cfg(not(feature = "redis"))]
pub(crate) fn redis(_url: &str) -> Result<Arc<dyn SharedLog>, StartError> {
    Err(not_built_in("Redis", "redis"))
}

/// The JetStream stream at `url`, connected and kept within `retention`.
#[cfg(feature = "nats")]
pub(crate) fn nats(url: &str, retention: &Retention) -> Result<Arc<dyn SharedLog>, StartError> {
    let log = herald_store::NatsLog::connect_with(url, retention)?;
    tracing::info!(store = %log.describe(), "sharing history on NATS JetStream");
    Ok(Arc::new(log))
}

/// Without the `nats` feature: a clear refusal.
#[cfg(not(feature = "nats"))]
pub(crate) fn nats(_url: &str, _retention: &Retention) -> Result<Arc<dyn SharedLog>, StartError> {
    Err(not_built_in("NATS JetStream", "nats"))
}

#[cfg(any(not(feature = "redis"), not(feature = "nats")))]
fn not_built_in(engine: &str, feature: &str) -> StartError {
    StartError::NotBuiltIn(format!(
        "this build of Herald has no {engine} support; build it with the `{feature}` cargo feature (on by default)"
    ))
}
