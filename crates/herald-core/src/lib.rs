//! The hub itself, independent of any transport.
//!
//! `herald-core` owns what every transport shares: topics and the matchers that select them
//! ([`matcher`]), the event as published and as encoded once for the wire ([`event`]), the
//! bounded history used to replay missed events ([`history`]), read rights for private updates
//! ([`access`]), and the fan-out itself ([`hub`]). It knows nothing of HTTP: the server crate
//! turns requests into calls on [`Hub`], and streams what a [`Subscription`] yields.

pub mod access;
pub mod event;
pub mod history;
pub mod hub;
pub mod matcher;
mod template;
pub mod text;

pub use access::ReadAccess;
pub use event::{Event, Update, UpdateError};
pub use hub::{Cursor, Hub, HubConfig, HubStats, Subscription};
pub use matcher::{Matcher, MatcherError};
