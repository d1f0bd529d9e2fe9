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
use std::path::PathBuf;
use std::sync::Arc;

use crate::event::Event;
use crate::retention::Retention;

/// A failure of the storage layer. It says what failed and keeps its cause; hints about which
/// setting to change are the binary's to add.
#[derive(Debug)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory cannot be created or written.
    Unwritable {
        /// The data directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process holds the store's lock.
    Locked {
        /// The data directory.
        path: PathBuf,
    },
    /// Stored data cannot be read back: damaged, or not written by Herald.
    Corrupt {
        /// The data directory.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// Reading or writing failed (disk full, I/O error, ...).
    Io {
        /// What the store was doing.
        operation: &'static str,
        /// The engine's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unwritable { path, source } => {
                write!(f, "the data directory {} cannot be created or written: {source}", path.display())
            }
            Self::Locked { path } => write!(f, "the data directory {} is in use by another Herald process", path.display()),
            Self::Corrupt { path, detail } => write!(
                f,
                "the store in {} cannot be read ({detail}); the data may be damaged, and Herald deletes nothing to recover",
                path.display()
            ),
            Self::Io { operation, source } => write!(f, "{operation} failed: {source}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unwritable { source, .. } => Some(source),
            Self::Io { source, .. } => Some(source.as_ref()),
            Self::Locked { .. } | Self::Corrupt { .. } => None,
        }
    }
}

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

    /// How much it retains, for the metrics; `None` when the store does not keep count.
    fn footprint(&self) -> Option<Footprint> {
        None
    }
}

/// How much a [`Store`] retains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Footprint {
    /// Retained events.
    pub events: u64,
    /// Their encoded size, in bytes (what size-based retention counts).
    pub bytes: u64,
}
