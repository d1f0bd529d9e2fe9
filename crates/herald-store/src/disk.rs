//! The embedded store: three fjall keyspaces in one database directory.
//!
//! - `events`: big-endian position → encoded event (see [`crate::codec`]);
//! - `ids`: event id, a NUL byte, big-endian position → nothing. Ids cannot contain NUL, so the
//!   first key under the prefix `id\0` is the earliest retained event bearing that id, and
//!   neither appending nor trimming needs a lookup;
//! - `meta`: `next_seq` → the next position, written with every batch so positions keep
//!   increasing after a restart even when retention removed every event.
//!
//! Counts and sizes for retention are kept in memory, computed once at open.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use herald_core::{Event, Retention, Store, StoreError};
use parking_lot::Mutex;

use crate::codec;

const NEXT_SEQ: &[u8] = b"next_seq";

/// Herald's default store: durable, embedded, no setup.
pub struct DiskStore {
    path: PathBuf,
    db: Database,
    events: Keyspace,
    ids: Keyspace,
    meta: Keyspace,
    tally: Mutex<Tally>,
}

/// What retention needs to know without scanning.
#[derive(Debug, Default, Clone, Copy)]
struct Tally {
    /// The oldest retained position (`next_seq` when empty). Scans start here rather than at
    /// the beginning of the keyspace, so they never wade through the deletion markers that
    /// removing old events leaves behind in a log-structured store.
    first_seq: u64,
    next_seq: u64,
    count: u64,
    bytes: u64,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore").field("path", &self.path).field("tally", &*self.tally.lock()).finish()
    }
}

fn err(operation: &'static str) -> impl Fn(fjall::Error) -> StoreError {
    move |e| StoreError::Io { operation, source: Box::new(e) }
}

impl DiskStore {
    /// Opens (or creates) the store in `dir`. Fails, naming the problem, when the directory
    /// cannot be created or written, is used by another process, or holds damaged data; it
    /// never deletes anything to recover.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let shown = dir.display();
        let unwritable = |source| StoreError::Unwritable { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        let probe = dir.join(".herald-write-test");
        std::fs::write(&probe, b"ok").and_then(|()| std::fs::remove_file(&probe)).map_err(unwritable)?;
        let db = Database::builder(dir).open().map_err(|e| match e {
            fjall::Error::Locked => StoreError::Locked { path: dir.to_owned() },
            other => corrupt(dir, &other.to_string()),
        })?;
        let open =
            |name: &str| db.keyspace(name, KeyspaceCreateOptions::default).map_err(|e| corrupt(dir, &e.to_string()));
        let (events, ids, meta) = (open("events")?, open("ids")?, open("meta")?);
        let mut tally = Tally::default();
        for item in events.iter() {
            let (key, value) = item.into_inner().map_err(|e| corrupt(dir, &e.to_string()))?;
            let seq = seq_of(&key).ok_or_else(|| corrupt(dir, "an event key is not a position"))?;
            if codec::published_ms(&value).is_none() {
                return Err(corrupt(dir, &format!("the event at position {seq} is damaged")));
            }
            if tally.count == 0 {
                tally.first_seq = seq;
            }
            tally.count += 1;
            tally.bytes += value.len() as u64;
            tally.next_seq = tally.next_seq.max(seq + 1);
        }
        if let Some(stored) = meta.get(NEXT_SEQ).map_err(|e| corrupt(dir, &e.to_string()))? {
            let stored = seq_of(&stored).ok_or_else(|| corrupt(dir, "the stored next position is damaged"))?;
            tally.next_seq = tally.next_seq.max(stored);
        }
        tally.next_seq = tally.next_seq.max(1);
        if tally.count == 0 {
            tally.first_seq = tally.next_seq;
        }
        tracing::info!(path = %shown, events = tally.count, bytes = tally.bytes, next_seq = tally.next_seq, "store opened");
        Ok(Self { path: dir.to_owned(), db, events, ids, meta, tally: Mutex::new(tally) })
    }

    /// Removes the oldest events past `retention` now (appending does it too); returns how
    /// many were removed.
    pub fn trim(&self, retention: &Retention, now_ms: u64) -> Result<u64, StoreError> {
        let mut tally = *self.tally.lock();
        let mut batch = self.db.batch();
        let removed = self.trim_stored(&mut batch, &mut tally, retention, now_ms)?;
        if removed > 0 {
            batch.commit().map_err(err("removing old events"))?;
            *self.tally.lock() = tally;
        }
        Ok(removed)
    }

    /// Adds to `batch` the removal of the oldest stored events while `tally` (which may already
    /// count events being appended) is past `retention`, updating `tally`.
    fn trim_stored(
        &self,
        batch: &mut fjall::OwnedWriteBatch,
        tally: &mut Tally,
        retention: &Retention,
        now_ms: u64,
    ) -> Result<u64, StoreError> {
        let stored = self.tally.lock().next_seq;
        if tally.count == 0 || (retention.max_age.is_none() && !retention.over(tally.count, tally.bytes)) {
            return Ok(0);
        }
        let mut removed = 0;
        for item in self.events.range(tally.first_seq.to_be_bytes()..stored.to_be_bytes()) {
            let (key, value) = item.into_inner().map_err(err("reading events"))?;
            let expired = codec::published_ms(&value).is_none_or(|ms| retention.expired(ms, now_ms));
            if !expired && !retention.over(tally.count, tally.bytes) {
                break;
            }
            let seq = key_seq(&self.path, &key)?;
            batch.remove(&self.events, key);
            if let Some(id) = codec::id(&value) {
                batch.remove(&self.ids, id_key(id, seq));
            }
            tally.count -= 1;
            tally.bytes -= value.len() as u64;
            tally.first_seq = seq + 1;
            removed += 1;
        }
        if tally.count == 0 {
            tally.first_seq = tally.next_seq;
        }
        Ok(removed)
    }

    /// Number of retained events.
    pub fn len(&self) -> u64 {
        self.tally.lock().count
    }

    /// Whether no event is retained (after retention removed them all, or before any append).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total encoded size of the retained events.
    pub fn bytes(&self) -> u64 {
        self.tally.lock().bytes
    }
}

fn corrupt(dir: &Path, why: &str) -> StoreError {
    StoreError::Corrupt { path: dir.to_owned(), detail: why.to_owned() }
}

/// The `ids` key of the event at `seq` bearing `id`.
fn id_key(id: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(id.len() + 9);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// The position an `events` key stands for.
fn key_seq(dir: &Path, key: &[u8]) -> Result<u64, StoreError> {
    seq_of(key).ok_or_else(|| corrupt(dir, "an event key is not a position"))
}

fn seq_of(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

impl Store for DiskStore {
    fn next_seq(&self) -> u64 {
        self.tally.lock().next_seq
    }

    fn append(&self, events: &[Arc<Event>], retention: &Retention, now_ms: u64) -> Result<(), StoreError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let encoded: Vec<Vec<u8>> = events.iter().map(|e| codec::encode(e)).collect();
        let mut tally = *self.tally.lock();
        if tally.count == 0 {
            tally.first_seq = events[0].seq;
        }
        tally.count += events.len() as u64;
        tally.bytes += encoded.iter().map(|v| v.len() as u64).sum::<u64>();
        tally.next_seq = last.seq + 1;
        // Old events first, then (only if the batch alone is over the limits) the oldest new ones.
        self.trim_stored(&mut batch, &mut tally, retention, now_ms)?;
        for (event, value) in events.iter().zip(encoded) {
            let gone = retention.over(tally.count, tally.bytes) || retention.expired(event.published_ms, now_ms);
            if gone {
                tally.count -= 1;
                tally.bytes -= value.len() as u64;
                tally.first_seq = event.seq + 1;
                continue;
            }
            batch.insert(&self.events, event.seq.to_be_bytes(), value);
            batch.insert(&self.ids, id_key(&event.id, event.seq), b"");
        }
        batch.insert(&self.meta, NEXT_SEQ, (last.seq + 1).to_be_bytes());
        batch.commit().map_err(err("writing events"))?;
        *self.tally.lock() = tally;
        Ok(())
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        let from = after.saturating_add(1).max(self.tally.lock().first_seq);
        for item in self.events.range(from.to_be_bytes()..).take(limit) {
            let (key, value) = item.into_inner().map_err(err("reading events"))?;
            let seq = key_seq(&self.path, &key)?;
            let event = codec::decode(seq, &value)
                .ok_or_else(|| corrupt(&self.path, &format!("the event at position {seq} is damaged")))?;
            out.push(Arc::new(event));
        }
        Ok(out)
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let mut prefix = id.as_bytes().to_vec();
        prefix.push(0);
        let Some(first) = self.ids.prefix(&prefix).next() else {
            return Ok(None);
        };
        let key = first.key().map_err(err("reading the id index"))?;
        Ok(key.get(prefix.len()..).and_then(seq_of))
    }
}
