//! The Mercure hub endpoint, `/.well-known/mercure`: `GET` subscribes, `POST` publishes.

pub mod publish;
pub mod subscribe;
pub mod transport;

/// Where the hub lives, as the Mercure protocol fixes it.
pub const PATH: &str = herald_core::event::HUB_PATH;
