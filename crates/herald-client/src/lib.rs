//! A Rust client for Herald (and any Mercure hub).
//!
//! [`EventSource`] subscribes over Server-Sent Events with the browser's semantics: it parses the
//! stream with the WHATWG rules, remembers the last event id, honours `retry`, and reconnects by
//! itself with `Last-Event-ID` so no event is missed. [`publish`] sends one update.

mod event_source;
mod publish;

pub use event_source::{Error, Event, EventSource};
pub use publish::{publish, publish_with_token, Publication, PublishError};
