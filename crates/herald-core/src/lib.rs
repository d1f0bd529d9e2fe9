//! The hub itself, independent of any transport.
//!
//! `herald-core` owns what every transport shares: topics and the matchers that select them
//! ([`matcher`]), the event as published and as encoded once for the wire ([`event`]), the
//! bounded history used to replay missed events (`history`), read rights for private updates
//! ([`access`]), retention limits ([`retention`]), the durable log interface ([`store`]) and
//! the fan-out itself ([`hub`], on a thread of its own), with its settings ([`config`]). It
//! knows nothing of HTTP: the server crate turns requests into calls on [`Hub`], and streams
//! what a [`Subscription`] yields.

pub mod access;
pub mod config;
mod dedup;
pub mod event;
mod fanout;
mod follower;
mod history;
pub mod hub;
mod mailbox;
pub mod matcher;
pub mod priority;
mod registry;
pub mod retention;
pub mod store;
mod subscription;
mod template;
#[cfg(test)]
mod test_store;
mod text;
mod writer;

pub use access::ReadAccess;
pub use config::HubConfig;
pub use event::{Event, Format, Update, UpdateError, ValidUpdate, HUB_PATH};
pub use hub::{Cursor, Hub, HubStats, PublishError};
pub use matcher::{Matcher, MatcherError};
pub use retention::Retention;
pub use store::{Engine, Footprint, SharedLog, Store, StoreError};
pub use subscription::{Ended, Subscription};
