//! The embedded store: three fjall keyspaces in one database directory.
//!
//! - `events`: big-endian position → encoded event (see [`crate::codec`]);
//! - `ids`: event id → position of the earliest retained event bearing it;
//! - `meta`: `next_seq` → the next position, written with every batch so positions keep
//!   increasing after a restart even when retention removed every event.
//!
//! Counts and sizes for retention are kept in memory, computed once at open.

use std::collections::HashSet;
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
    next_seq: u64,
    count: u64,
    bytes: u64,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore").field("path", &self.path).field("tally", &*self.tally.lock()).finish()
    }
}

fn err(context: &str) -> impl Fn(fjall::Error) -> StoreError + '_ {
    move |e| StoreError(format!("{context}: {e}"))
}

impl DiskStore {
    /// Opens (or creates) the store in `dir`. Fails, naming the problem, when the directory
    /// cannot be created or written, is used by another process, or holds damaged data; it
    /// never deletes anything to recover.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let shown = dir.display();
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError(format!("cannot create the data directory {shown}: {e} (choose another with --data-dir)"))
        })?;
        let probe = dir.join(".herald-write-test");
        std::fs::write(&probe, b"ok")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| StoreError(format!("the data directory {shown} is not writable: {e}")))?;
        let db = Database::builder(dir).open().map_err(|e| match e {
            fjall::Error::Locked => StoreError(format!(
                "the data directory {shown} is in use by another Herald process; stop it, or give this one another --data-dir"
            )),
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
            tally.count += 1;
            tally.bytes += value.len() as u64;
            tally.next_seq = tally.next_seq.max(seq + 1);
        }
        if let Some(stored) = meta.get(NEXT_SEQ).map_err(|e| corrupt(dir, &e.to_string()))? {
            let stored = seq_of(&stored).ok_or_else(|| corrupt(dir, "the stored next position is damaged"))?;
            tally.next_seq = tally.next_seq.max(stored);
        }
        tally.next_seq = tally.next_seq.max(1);
        tracing::info!(path = %shown, events = tally.count, bytes = tally.bytes, next_seq = tally.next_seq, "store opened");
        Ok(Self { path: dir.to_owned(), db, events, ids, meta, tally: Mutex::new(tally) })
    }

    /// Number of retained events.
    pub fn len(&self) -> u64 {
        self.tally.lock().count
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total encoded size of the retained events.
    pub fn bytes(&self) -> u64 {
        self.tally.lock().bytes
    }
}

fn corrupt(dir: &Path, why: &str) -> StoreError {
    StoreError(format!(
        "the store in {} cannot be read ({why}); the data may be damaged. Herald deletes nothing: \
         move the directory aside to start with an empty history, or give another --data-dir",
        dir.display()
    ))
}

fn seq_of(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

impl Store for DiskStore {
    fn next_seq(&self) -> u64 {
        self.tally.lock().next_seq
    }

    fn append(&self, events: &[Arc<Event>]) -> Result<(), StoreError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        let mut batch = self.db.batch().durability(Some(PersistMode::SyncAll));
        let mut bytes = 0;
        let mut new_ids = HashSet::new();
        for event in events {
            let value = codec::encode(event);
            bytes += value.len() as u64;
            batch.insert(&self.events, event.seq.to_be_bytes(), value);
            // An id keeps pointing at its earliest event, as the protocol asks for reused ids.
            if new_ids.insert(&*event.id) && !self.ids.contains_key(&*event.id).map_err(err("reading the id index"))? {
                batch.insert(&self.ids, event.id.as_bytes(), event.seq.to_be_bytes());
            }
        }
        batch.insert(&self.meta, NEXT_SEQ, (last.seq + 1).to_be_bytes());
        batch.commit().map_err(err("writing events"))?;
        let mut tally = self.tally.lock();
        tally.count += events.len() as u64;
        tally.bytes += bytes;
        tally.next_seq = last.seq + 1;
        Ok(())
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        for item in self.events.range(after.saturating_add(1).to_be_bytes()..).take(limit) {
            let (key, value) = item.into_inner().map_err(err("reading events"))?;
            let seq = seq_of(&key).ok_or_else(|| StoreError("an event key is not a position".into()))?;
            let event = codec::decode(seq, &value)
                .ok_or_else(|| StoreError(format!("the event at position {seq} is damaged")))?;
            out.push(Arc::new(event));
        }
        Ok(out)
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.ids.get(id).map_err(err("reading the id index"))?.and_then(|v| seq_of(&v)))
    }

    fn enforce_retention(&self, retention: &Retention, now_ms: u64) -> Result<u64, StoreError> {
        let Tally { mut count, mut bytes, .. } = *self.tally.lock();
        let mut batch = self.db.batch();
        let (mut removed, mut removed_bytes) = (0, 0);
        for item in self.events.iter() {
            let (key, value) = item.into_inner().map_err(err("reading events"))?;
            let expired = codec::published_ms(&value).is_none_or(|ms| retention.expired(ms, now_ms));
            if !expired && !retention.over(count, bytes) {
                break;
            }
            batch.remove(&self.events, key.clone());
            if let Some(event) = seq_of(&key).and_then(|seq| codec::decode(seq, &value)) {
                let indexed = self.ids.get(&*event.id).map_err(err("reading the id index"))?;
                if indexed.as_deref() == Some(&key[..]) {
                    batch.remove(&self.ids, event.id.as_bytes());
                }
            }
            count -= 1;
            bytes -= value.len() as u64;
            removed += 1;
            removed_bytes += value.len() as u64;
        }
        if removed > 0 {
            batch.commit().map_err(err("removing old events"))?;
            let mut tally = self.tally.lock();
            tally.count -= removed;
            tally.bytes -= removed_bytes;
        }
        Ok(removed)
    }
}
