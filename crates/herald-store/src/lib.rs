//! Herald's durable event log, kept on local disk with no setup.
//!
//! [`DiskStore`] implements [`herald_core::Store`] on fjall, an embedded log-structured
//! key-value store: appends go to its journal with one sync per batch (the hub's group commit),
//! events are keyed by their big-endian log position so a replay is an ordered range scan, and
//! removing the oldest events is a cheap range of deletes. fjall was chosen over redb by
//! measuring this workload (see the README's "History and durability" section).
//! [`codec`] defines how an event is laid out on disk.
//!
//! With the `redis` feature, `RedisLog` implements [`herald_core::SharedLog`] on a Redis
//! stream, for several hub nodes sharing one log; with the `nats` feature, `NatsLog` does so
//! on a NATS JetStream stream.

pub mod codec;
mod disk;
#[cfg(feature = "nats")]
mod nats;
#[cfg(feature = "redis")]
mod redis;

pub use disk::DiskStore;
#[cfg(feature = "nats")]
pub use nats::NatsLog;
#[cfg(feature = "redis")]
pub use redis::RedisLog;
