//! The durable event log behind the hub.
//!
//! A [`Store`] keeps the hub-wide ordered log: events keyed by their position (`seq`), an index
//! from id to position, and the retention limits. The hub calls it from one writer thread,
//! with batches (group commit: one sync for every publish that arrived meanwhile), and from
//! subscribers catching up from further back than the in-memory cache reaches. The methods are
//! blocking; an embedded store answers reads from memory-mapped or cached pages.
//!
//! A [`SharedLog`] is the same log kept by an engine that several nodes share (Redis Streams,
//! NATS JetStream): there the log, not the hub, gives each event its position, and every node
//! follows the log to deliver what any node appended. [`Engine`] names the three kinds a hub
//! runs on: memory only, a local store, or a shared log.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

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
    /// The engine cannot be reached (a shared log's server is down or refuses the connection).
    Unreachable {
        /// The engine, as configured (its URL, without credentials).
        engine: String,
        /// Why.
        source: Box<dyn std::error::Error + Send + Sync>,
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
            Self::Unreachable { engine, source } => write!(f, "{engine} cannot be reached: {source}"),
            Self::Io { operation, source } => write!(f, "{operation} failed: {source}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Unwritable { source, .. } => Some(source),
            Self::Io { source, .. } | Self::Unreachable { source, .. } => Some(source.as_ref()),
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

/// A durable, ordered event log that several hub nodes share: each appends to it, and each
/// follows it to deliver every event, its own included, in the log's order. The log gives the
/// positions, so they are the same on every node and a client may resume on any of them.
///
/// Positions grow with each append but need not be consecutive (an engine may skip entries that
/// are not Herald's). The methods block; the hub calls them from its own threads, never from an
/// async worker.
pub trait SharedLog: Send + Sync + fmt::Debug + 'static {
    /// Appends `events` in one atomic write (all of them or none), in order, removing what falls
    /// out of `retention`, and returns the position each got. Returns only once the engine
    /// acknowledged the write as durable (as its own settings define it).
    fn append(&self, events: &[Event], retention: &Retention, now_ms: u64) -> Result<Vec<u64>, StoreError>;

    /// The most a single [`SharedLog::append`] may carry, in bytes of [`Event::size`], when the
    /// engine limits one write (a NATS message's `max_payload`): the hub then commits at most
    /// that much at once, never splitting one publisher's batch.
    fn max_append_bytes(&self) -> Option<usize> {
        None
    }

    /// Up to `limit` retained events with a position greater than `after`, oldest first. When
    /// there is none yet, waits up to `wait` for the first to be appended (by any node).
    fn read_after(&self, after: u64, limit: usize, wait: Duration) -> Result<Vec<Arc<Event>>, StoreError>;

    /// The newest `limit` retained events, oldest first: a starting node's cache.
    fn read_last(&self, limit: usize) -> Result<Vec<Arc<Event>>, StoreError>;

    /// The position of the last event ever appended (0 before the first), also after
    /// retention removed it.
    fn last_position(&self) -> Result<u64, StoreError>;

    /// The position of the earliest retained event bearing `id`.
    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError>;

    /// How much it retains, for the metrics; `None` when it does not keep count.
    fn footprint(&self) -> Option<Footprint> {
        None
    }
}

/// What keeps a hub's history.
#[derive(Debug, Clone)]
pub enum Engine {
    /// Memory only, on one node: history is lost on restart.
    Memory,
    /// A log on this node's disk: the hub gives the positions and delivers once it is durable.
    Local(Arc<dyn Store>),
    /// A log shared with other nodes: it gives the positions, and the hub delivers what it reads
    /// back from it.
    Shared(Arc<dyn SharedLog>),
}

/// A durable log, local or shared, as the hub reads it back (catch-up and id lookups).
#[derive(Debug, Clone)]
pub(crate) enum Durable {
    Local(Arc<dyn Store>),
    Shared(Arc<dyn SharedLog>),
}

impl Durable {
    /// Up to `limit` retained events after position `after`, oldest first, at once.
    pub(crate) fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        match self {
            Self::Local(store) => store.read_after(after, limit),
            Self::Shared(log) => log.read_after(after, limit, Duration::ZERO),
        }
    }

    /// The position of the earliest retained event bearing `id`.
    pub(crate) fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        match self {
            Self::Local(store) => store.position_of(id),
            Self::Shared(log) => log.position_of(id),
        }
    }

    /// How much it retains.
    pub(crate) fn footprint(&self) -> Option<Footprint> {
        match self {
            Self::Local(store) => store.footprint(),
            Self::Shared(log) => log.footprint(),
        }
    }
}
