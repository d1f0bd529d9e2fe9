//! The embedded store: events in pages, in two fjall keyspaces of one database directory.
//!
//! - `pages`: big-endian position of a page's first event → the page: consecutive events, each
//!   its position, length and record (see [`crate::codec`]). One write appends the pages of its
//!   events, at most [`PAGE_BYTES`] each, so a batch of thousands of events is a few inserts.
//! - `meta`: `next_seq` → the next position, so positions keep increasing after a restart even
//!   when retention removed every event; `first_seq` → the oldest retained position, since a
//!   page is removed only once retention retired all of its events.
//!
//! What retention and id lookups need is kept in memory ([`ledger`]), rebuilt at open: trimming
//! reads nothing from disk, and the id index costs no write. A store is thus written once per
//! page and once per removed page, where one key per event and per id (inserted, then deleted)
//! used to be four writes per event.
//!
//! fjall keeps every write since a keyspace's last flush in that keyspace's memtable, and
//! flushes it to a table on disk only once it passes a size limit, 64 MiB per keyspace by
//! default. Herald's writes are a rolling window (each page is inserted, then deleted again when
//! retention retires it), so a memtable holds mostly pages already gone and their deletion
//! markers. The limits below ([`MEMTABLE_BUDGETS`], and [`BLOCK_CACHE`] for the blocks read
//! back) keep the store's memory to a few MiB whatever the rate. Durability does not depend on
//! them: each write is synced to fjall's journal before it is acknowledged, and a flush only
//! moves data from the journal into tables.

mod ledger;
mod legacy;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fjall::{AbstractTree, Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use herald_core::{Event, Retention, Store, StoreError};
use parking_lot::{MappedRwLockReadGuard, Mutex, RwLock, RwLockReadGuard};

use crate::codec;
use ledger::{Entry, Ledger};

const NEXT_SEQ: &[u8] = b"next_seq";
const FIRST_SEQ: &[u8] = b"first_seq";

/// The most bytes of records in one page (a larger record is a page of its own). Small enough
/// that resuming from a position reads little before it, large enough that a burst's write is a
/// few inserts.
const PAGE_BYTES: usize = 32 << 10;

/// Memtable size limits, in bytes of fjall's own accounting (keys, values and a fixed cost per
/// entry). At 50 events/s `pages` flushes every few minutes; at the tens of thousands of events
/// a second of a burst, a few times a second, which its flush worker keeps up with.
const MEMTABLE_BUDGETS: [(&str, u64); 2] = [("pages", 6 << 20), ("meta", 512 << 10)];

/// fjall's block cache, in bytes (its default is 32 MiB). It keeps the blocks read from tables,
/// and the blocks of tables that compaction has since replaced stay in it until evicted, so it
/// fills to its capacity (in hours at 50 events/s). Reads from tables are few: catching up
/// reads pages in order once, and the hub's own cache serves most resumptions. This holds their
/// blocks and the tables' index blocks; a miss reads from the operating system's page cache.
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
    ledger: Mutex<Ledger>,
    /// Held through each write: a write plans from the ledger, writes without holding it, then
    /// updates it, so two writes must not interleave (the hub's writer thread is the only
    /// appender; this keeps an explicit [`DiskStore::trim`] from racing it).
    writing: Mutex<()>,
    /// A write failed: reopen before the next one.
    failed: AtomicBool,
}

/// The engine and its keyspaces.
struct Engine {
    db: Database,
    pages: Keyspace,
    meta: Keyspace,
}

impl Engine {
    /// Seals each memtable that passed its budget, which queues its flush. fjall does so itself
    /// for keyspaces created with the budget, but it stores a keyspace's options when creating it
    /// and reopens it with those: a store created with fjall's default limit would keep it.
    fn flush_full_memtables(&self) {
        for (keyspace, (_, budget)) in [&self.pages, &self.meta].into_iter().zip(MEMTABLE_BUDGETS) {
            if keyspace.tree.active_memtable().size() > budget {
                if let Err(e) = keyspace.rotate_memtable() {
                    tracing::warn!("cannot flush the memtable of {}: {e}", keyspace.path().display());
                }
            }
        }
    }
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ledger = self.ledger.lock();
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("events", &ledger.len())
            .field("first_seq", &ledger.first_seq())
            .field("next_seq", &ledger.next_seq())
            .finish()
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
        let (engine, ledger) = load(dir)?;
        tracing::info!(path = %shown, events = ledger.len(), bytes = ledger.bytes(), next_seq = ledger.next_seq(), "store opened");
        Ok(Self {
            path: dir.to_owned(),
            engine: RwLock::new(Some(engine)),
            ledger: Mutex::new(ledger),
            writing: Mutex::new(()),
            failed: AtomicBool::new(false),
        })
    }

    /// Reopens the engine after a failed write, removing what the failed write left on disk
    /// (the pages from the position the ledger expects next on). Done once per failure, by the
    /// next write.
    fn recover(&self) -> Result<(), StoreError> {
        if !self.failed.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut slot = self.engine.write();
        // Closed first: the directory's lock is the old engine's until it is dropped.
        *slot = None;
        let (mut engine, mut loaded) = load(&self.path)?;
        let expected = self.ledger.lock().next_seq();
        if loaded.next_seq() > expected {
            let mut batch = engine.db.batch().durability(Some(PersistMode::SyncAll));
            for item in engine.pages.range(expected.to_be_bytes()..) {
                let key = item.key().map_err(err("reading pages"))?;
                batch.remove(&engine.pages, key);
            }
            batch.insert(&engine.meta, NEXT_SEQ, expected.to_be_bytes());
            batch.commit().map_err(err("removing a failed write"))?;
            tracing::warn!(from = expected, to = loaded.next_seq(), "removed the events of a write that had failed");
            drop(engine);
            (engine, loaded) = load(&self.path)?;
        }
        *slot = Some(engine);
        *self.ledger.lock() = loaded;
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

    /// Appends the events given with their records (in position order, possibly none) and
    /// retires what `retention` drops, in one durable write; returns how many older events it
    /// retired.
    fn write(&self, events: &[(&Event, Vec<u8>)], retention: &Retention, now_ms: u64) -> Result<u64, StoreError> {
        let _writing = self.writing.lock();
        self.recover()?;
        let engine = self.engine()?;
        // Only one write runs at a time, so the ledger may be read, then left unlocked through
        // the write (readers go on meanwhile), then updated.
        let (appended, change, removed): (Vec<Entry>, _, Vec<u64>) = {
            let ledger = self.ledger.lock();
            let appended: Vec<Entry> = events
                .iter()
                .map(|(event, record)| Entry {
                    seq: event.seq,
                    bytes: record.len() as u64,
                    published_ms: event.published_ms,
                    id_hash: ledger.id_hash(&event.id),
                })
                .collect();
            let change = ledger.plan(&appended, retention, now_ms);
            let removed = ledger.removed_pages(&change).collect();
            (appended, change, removed)
        };
        if events.is_empty() && change.retired == 0 {
            return Ok(0);
        }
        let mut batch = engine.db.batch().durability(Some(PersistMode::SyncAll));
        for key in removed {
            batch.remove(&engine.pages, key.to_be_bytes());
        }
        let kept = events.get(change.kept_from..).unwrap_or_default();
        let mut spans = Vec::new();
        for (first, last, page) in page_batches(kept.iter().map(|(event, record)| (event.seq, record.as_slice()))) {
            spans.push((first, last));
            batch.insert(&engine.pages, first.to_be_bytes(), page);
        }
        batch.insert(&engine.meta, FIRST_SEQ, change.first_seq.to_be_bytes());
        batch.insert(&engine.meta, NEXT_SEQ, change.next_seq.to_be_bytes());
        self.commit(batch, if events.is_empty() { "removing old events" } else { "writing events" })?;
        self.ledger.lock().apply(&change, &appended, &spans);
        engine.flush_full_memtables();
        Ok(change.retired as u64)
    }

    /// Calls `each` with the position and record of every stored event from `from` on, in
    /// order, until it returns `false`.
    fn scan_from(
        &self,
        from: u64,
        mut each: impl FnMut(u64, &[u8]) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let start = self.ledger.lock().page_for(from);
        let engine = self.engine()?;
        for item in engine.pages.range(start.to_be_bytes()..) {
            let (key, page) = item.into_inner().map_err(err("reading events"))?;
            let records = codec::page_records(&page)
                .ok_or_else(|| corrupt(&self.path, &format!("the page at position {:?} is damaged", seq_of(&key))))?;
            for (seq, record) in records {
                if seq >= from && !each(seq, record)? {
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// The pages holding `records` (position and record, in order): each page's first and last
/// position and its bytes, a page closed once it holds [`PAGE_BYTES`].
fn page_batches<'a>(records: impl Iterator<Item = (u64, &'a [u8])>) -> Vec<(u64, u64, Vec<u8>)> {
    let mut pages = Vec::new();
    let mut current: Option<(u64, u64, codec::Page)> = None;
    for (seq, record) in records {
        let (_, last, page) = current.get_or_insert_with(|| (seq, seq, codec::Page::default()));
        *last = seq;
        page.push(seq, record);
        if page.len() >= PAGE_BYTES {
            if let Some((first, last, page)) = current.take() {
                pages.push((first, last, page.into_bytes()));
            }
        }
    }
    pages.extend(current.map(|(first, last, page)| (first, last, page.into_bytes())));
    pages
}

/// Opens the engine in `dir` (moving a legacy store's events into pages first) and rebuilds the
/// ledger from what it holds.
fn load(dir: &Path) -> Result<(Engine, Ledger), StoreError> {
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
    let [pages, meta]: [Keyspace; 2] = keyspaces.try_into().map_err(|_| corrupt(dir, "missing keyspaces"))?;
    if let Some(moved) = legacy::migrate(dir, &db, &pages, &meta)? {
        tracing::info!(path = %dir.display(), events = moved, "moved the store's events into pages");
    }
    let stored = |key: &[u8]| -> Result<Option<u64>, StoreError> {
        match meta.get(key).map_err(|e| corrupt(dir, &e.to_string()))? {
            None => Ok(None),
            Some(value) => seq_of(&value).map(Some).ok_or_else(|| corrupt(dir, "a stored position is damaged")),
        }
    };
    let first_seq = stored(FIRST_SEQ)?.unwrap_or(0);
    let mut ledger = Ledger::new(stored(NEXT_SEQ)?.unwrap_or(1).max(1));
    for item in pages.iter() {
        let (key, page) = item.into_inner().map_err(|e| corrupt(dir, &e.to_string()))?;
        let first = seq_of(&key).ok_or_else(|| corrupt(dir, "a page key is not a position"))?;
        let records =
            codec::page_records(&page).ok_or_else(|| corrupt(dir, &format!("the page at {first} is damaged")))?;
        let (Some(&(head, _)), Some(&(last, _))) = (records.first(), records.last()) else {
            return Err(corrupt(dir, &format!("the page at {first} is empty")));
        };
        if head != first {
            return Err(corrupt(dir, &format!("the page at {first} starts at {head}")));
        }
        for (seq, record) in records {
            let damaged = || corrupt(dir, &format!("the event at position {seq} is damaged"));
            let published_ms = codec::published_ms(record).ok_or_else(damaged)?;
            let id = codec::id(record).ok_or_else(damaged)?;
            if seq >= first_seq {
                let id_hash = ledger.id_hash(id);
                ledger.load(Entry { seq, bytes: record.len() as u64, published_ms, id_hash });
            }
        }
        ledger.load_page(first, last);
    }
    Ok((Engine { db, pages, meta }, ledger))
}

impl DiskStore {
    /// Removes the oldest events past `retention` now (appending does it too); returns how
    /// many were removed.
    pub fn trim(&self, retention: &Retention, now_ms: u64) -> Result<u64, StoreError> {
        self.write(&[], retention, now_ms)
    }

    /// Bytes held in memtables (fjall's write buffer: the active ones and those waiting to be
    /// flushed), by fjall's accounting. Bounded by `MEMTABLE_BUDGETS` plus what is being flushed.
    pub fn memtable_bytes(&self) -> u64 {
        self.engine().map_or(0, |engine| engine.db.write_buffer_size())
    }

    /// Number of retained events.
    pub fn len(&self) -> u64 {
        self.ledger.lock().len()
    }

    /// Whether no event is retained (after retention removed them all, or before any append).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Total encoded size of the retained events.
    pub fn bytes(&self) -> u64 {
        self.ledger.lock().bytes()
    }
}

fn corrupt(dir: &Path, why: &str) -> StoreError {
    StoreError::Corrupt { path: dir.to_owned(), detail: why.to_owned() }
}

fn seq_of(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

impl Store for DiskStore {
    fn footprint(&self) -> Option<herald_core::Footprint> {
        let ledger = self.ledger.lock();
        Some(herald_core::Footprint { events: ledger.len(), bytes: ledger.bytes() })
    }

    fn next_seq(&self) -> u64 {
        self.ledger.lock().next_seq()
    }

    fn append(&self, events: &[Arc<Event>], retention: &Retention, now_ms: u64) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let encoded: Vec<(&Event, Vec<u8>)> = events.iter().map(|e| (&**e, codec::encode(e))).collect();
        self.write(&encoded, retention, now_ms).map(drop)
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let mut out = Vec::with_capacity(limit.min(1024));
        if limit == 0 {
            return Ok(out);
        }
        let from = after.saturating_add(1).max(self.ledger.lock().first_seq());
        self.scan_from(from, |seq, record| {
            let event = codec::decode(seq, record)
                .ok_or_else(|| corrupt(&self.path, &format!("the event at position {seq} is damaged")))?;
            out.push(Arc::new(event));
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        let candidates = {
            let ledger = self.ledger.lock();
            ledger.positions_hashed(ledger.id_hash(id))
        };
        // Oldest first; each read once to tell a hash collision from the id itself.
        for seq in candidates {
            let mut found = false;
            self.scan_from(seq, |at, record| {
                found = at == seq && codec::id(record) == Some(id);
                Ok(false)
            })?;
            if found {
                return Ok(Some(seq));
            }
        }
        Ok(None)
    }
}
