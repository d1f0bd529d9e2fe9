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
//!
//! fjall keeps every write since a keyspace's last flush in that keyspace's memtable, and
//! flushes it to a table on disk only once it passes a size limit, 64 MiB per keyspace by
//! default. Herald's writes are a rolling window (each event is inserted, then deleted again when
//! retention drops it), so a memtable holds mostly events already gone and their deletion
//! markers: at 50 events/s of 110 bytes it grew by 2.3 MiB a minute and took over an hour to
//! reach the default limit, with the same again for the id index. The limits below
//! ([`MEMTABLE_BUDGETS`], and [`BLOCK_CACHE`] for the blocks read back) keep the store's memory
//! to a few MiB whatever the rate. Durability
//! does not depend on them: each batch is synced to fjall's journal before it is acknowledged,
//! and a flush only moves data from the journal into tables.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fjall::{AbstractTree, Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use herald_core::{Event, Retention, Store, StoreError};
use parking_lot::{MappedRwLockReadGuard, Mutex, RwLock, RwLockReadGuard};

use crate::codec;

const NEXT_SEQ: &[u8] = b"next_seq";

/// Memtable size limits, in bytes of fjall's own accounting (keys, values and a fixed cost per
/// entry). At 50 events/s each keyspace flushes every few minutes; at the tens of thousands of
/// events a second of a burst, a few times a second, which its two flush workers keep up with.
/// `events` is the largest (an event is about 200 bytes, its index entry 50, the next position
/// 16 once per batch).
const MEMTABLE_BUDGETS: [(&str, u64); 3] = [("events", 4 << 20), ("ids", 2 << 20), ("meta", 512 << 10)];

/// fjall's block cache, in bytes (its default is 32 MiB). It keeps the blocks read from tables,
/// and the blocks of tables that compaction has since replaced stay in it until evicted, so it
/// fills to its capacity (in hours at 50 events/s). Reads from tables are few: trimming reads the
/// oldest retained block again and again, catching up reads pages in order once, and the hub's
/// own cache serves most resumptions. This holds their blocks and the tables' index blocks; a
/// miss reads from the operating system's page cache.
const BLOCK_CACHE: u64 = 4 << 20;

/// fjall's background threads, which flush memtables and compact tables. fjall's default is
/// one per core (up to 4), and with more than one, its first thread hands every compaction
/// request on to the others, straight back through their shared queue, for as long as another
/// thread is busy compacting: under a sustained write rate that thread spins, a whole core of a
/// 2-core machine taken from the writer and the subscribers (profile in bench/FINDINGS.md). One
/// thread does the flushes and compactions in turn, without that loop.
const FJALL_WORKERS: usize = 1;

/// Herald's default store: durable, embedded, no setup.
///
/// After a failed write (the disk is full, or turned read-only) the engine refuses every later
/// write until it is opened again, so the next append reopens it first: publishing resumes by
/// itself once the disk has room again. A batch that failed was answered as failed, so if it
/// nevertheless reached the disk, reopening removes it again.
pub struct DiskStore {
    path: PathBuf,
    /// The open engine; `None` while it is being reopened, or when reopening failed.
    engine: RwLock<Option<Engine>>,
    tally: Mutex<Tally>,
    /// A write failed: reopen before the next one.
    failed: AtomicBool,
}

/// The engine and its three keyspaces.
struct Engine {
    db: Database,
    events: Keyspace,
    ids: Keyspace,
    meta: Keyspace,
}

impl Engine {
    /// Seals each memtable that passed its budget, which queues its flush. fjall does so itself
    /// for keyspaces created with the budget, but it stores a keyspace's options when creating it
    /// and reopens it with those: a store created with fjall's default limit would keep it.
    fn flush_full_memtables(&self) {
        for (keyspace, (_, budget)) in [&self.events, &self.ids, &self.meta].into_iter().zip(MEMTABLE_BUDGETS) {
            if keyspace.tree.active_memtable().size() > budget {
                if let Err(e) = keyspace.rotate_memtable() {
                    tracing::warn!("cannot flush the memtable of {}: {e}", keyspace.path().display());
                }
            }
        }
    }
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
        let (engine, tally) = load(dir)?;
        tracing::info!(path = %shown, events = tally.count, bytes = tally.bytes, next_seq = tally.next_seq, "store opened");
        Ok(Self {
            path: dir.to_owned(),
            engine: RwLock::new(Some(engine)),
            tally: Mutex::new(tally),
            failed: AtomicBool::new(false),
        })
    }

    /// Reopens the engine after a failed write, removing what the failed write left on disk
    /// (positions from the one the tally expects next on). Done once per failure, by the next
    /// write.
    fn recover(&self) -> Result<(), StoreError> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut slot = self.engine.write();
        // Closed first: the directory's lock is the old engine's until it is dropped.
        *slot = None;
        let (engine, mut loaded) = load(&self.path)?;
        let expected = self.tally.lock().next_seq;
        if loaded.next_seq > expected {
            let mut batch = engine.db.batch().durability(Some(PersistMode::SyncAll));
            for item in engine.events.range(expected.to_be_bytes()..) {
                let (key, value) = item.into_inner().map_err(err("reading events"))?;
                let seq = key_seq(&self.path, &key)?;
                if let Some(id) = codec::id(&value) {
                    batch.remove(&engine.ids, id_key(id, seq));
                }
                batch.remove(&engine.events, key);
                loaded.count = loaded.count.saturating_sub(1);
                loaded.bytes = loaded.bytes.saturating_sub(value.len() as u64);
            }
            batch.insert(&engine.meta, NEXT_SEQ, expected.to_be_bytes());
            batch.commit().map_err(err("removing a failed write"))?;
            tracing::warn!(from = expected, to = loaded.next_seq, "removed the events of a write that had failed");
            loaded.next_seq = expected;
            if loaded.count == 0 {
                loaded.first_seq = expected;
            }
        }
        *slot = Some(engine);
        *self.tally.lock() = loaded;
        self.failed.store(false, Ordering::Release);
        tracing::info!(path = %self.path.display(), "store reopened after a failed write");
        Ok(())
    }

    /// The open engine, or the error saying it is not.
    fn engine(&self) -> Result<MappedRwLockReadGuard<'_, Engine>, StoreError> {
        RwLockReadGuard::try_map(self.engine.read(), Option::as_ref).map_err(|_| StoreError::Io {
            operation: "opening the store again after a failed write",
            source: "the store could not be reopened yet; it is retried with the next write".into(),
        })
    }

    /// Commits `batch`; a failure marks the engine for reopening.
    fn commit(&self, batch: fjall::OwnedWriteBatch, operation: &'static str) -> Result<(), StoreError> {
        batch.commit().map_err(|e| {
            self.failed.store(true, Ordering::Release);
            err(operation)(e)
        })
    }
}

/// Opens the engine in `dir` and counts what it holds.
fn load(dir: &Path) -> Result<(Engine, Tally), StoreError> {
    let db =
        Database::builder(dir).cache_size(BLOCK_CACHE).worker_threads(FJALL_WORKERS).open().map_err(|e| match e {
            fjall::Error::Locked => StoreError::Locked { path: dir.to_owned() },
            other => corrupt(dir, &other.to_string()),
        })?;
    let mut keyspaces = Vec::with_capacity(MEMTABLE_BUDGETS.len());
    for (name, budget) in MEMTABLE_BUDGETS {
        let options = || KeyspaceCreateOptions::default().max_memtable_size(budget);
        keyspaces.push(db.keyspace(name, options).map_err(|e| corrupt(dir, &e.to_string()))?);
    }
    let [events, ids, meta]: [Keyspace; 3] = keyspaces.try_into().map_err(|_| corrupt(dir, "missing keyspaces"))?;
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
    Ok((Engine { db, events, ids, meta }, tally))
}

impl DiskStore {
    /// Removes the oldest events past `retention` now (appending does it too); returns how
    /// many were removed.
    pub fn trim(&self, retention: &Retention, now_ms: u64) -> Result<u64, StoreError> {
        self.recover()?;
        let engine = self.engine()?;
        let mut tally = *self.tally.lock();
        let mut batch = engine.db.batch();
        let removed = self.trim_stored(&engine, &mut batch, &mut tally, retention, now_ms)?;
        if removed > 0 {
            self.commit(batch, "removing old events")?;
            *self.tally.lock() = tally;
        }
        Ok(removed)
    }

    /// Adds to `batch` the removal of the oldest stored events while `tally` (which may already
    /// count events being appended) is past `retention`, updating `tally`.
    fn trim_stored(
        &self,
        engine: &Engine,
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
        for item in engine.events.range(tally.first_seq.to_be_bytes()..stored.to_be_bytes()) {
            let (key, value) = item.into_inner().map_err(err("reading events"))?;
            let expired = codec::published_ms(&value).is_none_or(|ms| retention.expired(ms, now_ms));
            if !expired && !retention.over(tally.count, tally.bytes) {
                break;
            }
            let seq = key_seq(&self.path, &key)?;
            batch.remove(&engine.events, key);
            if let Some(id) = codec::id(&value) {
                batch.remove(&engine.ids, id_key(id, seq));
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

    /// Bytes held in memtables (fjall's write buffer: the active ones and those waiting to be
    /// flushed), by fjall's accounting. Bounded by `MEMTABLE_BUDGETS` plus what is being flushed.
    pub fn memtable_bytes(&self) -> u64 {
        self.engine().map_or(0, |engine| engine.db.write_buffer_size())
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
    fn footprint(&self) -> Option<herald_core::Footprint> {
        let tally = self.tally.lock();
        Some(herald_core::Footprint { events: tally.count, bytes: tally.bytes })
    }

    fn next_seq(&self) -> u64 {
        self.tally.lock().next_seq
    }

    fn append(&self, events: &[Arc<Event>], retention: &Retention, now_ms: u64) -> Result<(), StoreError> {
        let Some(last) = events.last() else {
            return Ok(());
        };
        self.recover()?;
        let engine = self.engine()?;
        let mut batch = engine.db.batch().durability(Some(PersistMode::SyncAll));
        let encoded: Vec<Vec<u8>> = events.iter().map(|e| codec::encode(e)).collect();
        let mut tally = *self.tally.lock();
        if tally.count == 0 {
            tally.first_seq = events[0].seq;
        }
        tally.count += events.len() as u64;
        tally.bytes += encoded.iter().map(|v| v.len() as u64).sum::<u64>();
        tally.next_seq = last.seq + 1;
        // Old events first, then (only if the batch alone is over the limits) the oldest new ones.
        self.trim_stored(&engine, &mut batch, &mut tally, retention, now_ms)?;
        for (event, value) in events.iter().zip(encoded) {
            let gone = retention.over(tally.count, tally.bytes) || retention.expired(event.published_ms, now_ms);
            if gone {
                tally.count -= 1;
                tally.bytes -= value.len() as u64;
                tally.first_seq = event.seq + 1;
                continue;
            }
            batch.insert(&engine.events, event.seq.to_be_bytes(), value);
            batch.insert(&engine.ids, id_key(&event.id, event.seq), b"");
        }
        batch.insert(&engine.meta, NEXT_SEQ, (last.seq + 1).to_be_bytes());
        self.commit(batch, "writing events")?;
        *self.tally.lock() = tally;
        engine.flush_full_memtables();
        Ok(())
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        let from = after.saturating_add(1).max(self.tally.lock().first_seq);
        let engine = self.engine()?;
        for item in engine.events.range(from.to_be_bytes()..).take(limit) {
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
        let engine = self.engine()?;
        let Some(first) = engine.ids.prefix(&prefix).next() else {
            return Ok(None);
        };
        let key = first.key().map_err(err("reading the id index"))?;
        Ok(key.get(prefix.len()..).and_then(seq_of))
    }
}
