//! The durable event log behind the hub.
//!
//! A [`Store`] keeps the hub-wide ordered log: events keyed by their position (`seq`), an index
//! from id to position, and the retention limits. The hub calls it from one writer thread,
//! with batches (group commit: one sync for every publish that arrived meanwhile), and from
//! subscribers catching up from further back than the in-memory cache reaches. The methods are
//! blocking; an embedded store answers reads from memory-mapped or cached pages.
//!
//! A shared log (Redis Streams, NATS JetStream) fits the same shape: `append` is an ordered
//! append (with a trim of the oldest entries), `read_after` a range read from a cursor, and
//! `position_of` an id index.

use std::fmt;
use std::sync::Arc;

use crate::event::Event;
use crate::retention::Retention;

/// A failure of the storage layer, with a message for operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// A durable, ordered event log.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// The position the next appended event gets: one past the last event ever appended, also
    /// after a restart and after retention removed everything.
    fn next_seq(&self) -> u64;

    /// Appends `events` (consecutive positions starting at [`Store::next_seq`]) and, in the same
    /// atomic write, removes the oldest events that fall out of `retention`; returns only once
    /// the write is on stable storage.
    fn append(&self, events: &[Arc<Event>], retention: &Retention, now_ms: u64) -> Result<(), StoreError>;

    /// Up to `limit` retained events with a position greater than `after`, oldest first.
    fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError>;

    /// The position of the earliest retained event bearing `id`.
    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError>;
}
