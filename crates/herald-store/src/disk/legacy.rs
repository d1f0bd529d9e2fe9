//! Stores written before events were kept in pages: one key per event in `events`, and an id
//! index on disk in `ids`. Opening such a store moves its events into pages in one durable
//! write, then deletes the two old keyspaces. Rewriting the same pages again is harmless, so a
//! move interrupted before the deletions is simply done again at the next open.

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};

use super::{corrupt, page_batches};
use herald_core::StoreError;

/// Moves a legacy store's events into `pages` (with `first_seq` in `meta`); returns how many
/// it moved, or `None` when `db` holds no legacy keyspace.
pub(super) fn migrate(
    dir: &std::path::Path,
    db: &Database,
    pages: &Keyspace,
    meta: &Keyspace,
) -> Result<Option<u64>, StoreError> {
    if !db.keyspace_exists("events") {
        return Ok(None);
    }
    let failed = |e: fjall::Error| corrupt(dir, &format!("moving events to the paged layout: {e}"));
    let events = db.keyspace("events", KeyspaceCreateOptions::default).map_err(failed)?;
    let mut records = Vec::new();
    for item in events.iter() {
        let (key, value) = item.into_inner().map_err(failed)?;
        let seq = super::seq_of(&key).ok_or_else(|| corrupt(dir, "an event key is not a position"))?;
        records.push((seq, value.to_vec()));
    }
    let moved = records.len() as u64;
    let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
    for (first, _, page) in page_batches(records.iter().map(|(seq, record)| (*seq, record.as_slice()))) {
        batch.insert(pages, first.to_be_bytes(), page);
    }
    if let Some(&(first, _)) = records.first() {
        batch.insert(meta, super::FIRST_SEQ, first.to_be_bytes());
    }
    batch.commit().map_err(failed)?;
    db.delete_keyspace(events).map_err(failed)?;
    if db.keyspace_exists("ids") {
        let ids = db.keyspace("ids", KeyspaceCreateOptions::default).map_err(failed)?;
        db.delete_keyspace(ids).map_err(failed)?;
    }
    Ok(Some(moved))
}
