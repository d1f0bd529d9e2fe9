//! What the disk store keeps in memory about what it holds, so that retention and id lookups
//! never read the disk: for each retained event its position, size, publication time and a hash
//! of its id; the span of each page on disk; and an index from id hashes to positions.
//!
//! It costs about 60 bytes per retained event (10,000 by default), and it is rebuilt from the
//! pages when the store opens, which reads every record anyway to check it.

use std::collections::{BTreeSet, VecDeque};
use std::hash::{BuildHasher, RandomState};

use herald_core::Retention;

/// A retained event.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub seq: u64,
    /// Its record's size on disk.
    pub bytes: u64,
    pub published_ms: u64,
    pub id_hash: u64,
}

/// The retained events, the pages holding them, and the id index.
#[derive(Debug, Default)]
pub(super) struct Ledger {
    entries: VecDeque<Entry>,
    /// The first and last position of each page on disk, in order (a page's key is its first).
    /// A page stays until retention retires its last event.
    pages: VecDeque<(u64, u64)>,
    /// (id hash, position) of every retained event: the earliest position bearing an id is the
    /// first of its hash's that holds that very id (hashes may collide, ids may repeat).
    ids: BTreeSet<(u64, u64)>,
    hasher: RandomState,
    bytes: u64,
    next_seq: u64,
}

/// What a write does to the ledger, planned before the write and applied once it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Change {
    /// How many of the oldest retained events retention retires.
    pub retired: usize,
    /// The appended events from this index on are kept; the ones before fell out of retention
    /// at once (a batch over the limits by itself).
    pub kept_from: usize,
    /// How many of the oldest pages hold nothing retained any more.
    pub removed_pages: usize,
    /// The oldest retained position afterwards (`next_seq` when nothing is).
    pub first_seq: u64,
    pub next_seq: u64,
}

impl Ledger {
    /// An empty ledger whose next position is `next_seq`.
    pub(super) fn new(next_seq: u64) -> Self {
        Self { next_seq, ..Self::default() }
    }

    /// The hash under which `id` is indexed.
    pub(super) fn id_hash(&self, id: &str) -> u64 {
        self.hasher.hash_one(id)
    }

    /// Adds an event read back from disk (in order, after [`new`](Self::new)).
    pub(super) fn load(&mut self, entry: Entry) {
        self.push(entry);
        self.next_seq = self.next_seq.max(entry.seq + 1);
    }

    /// Adds the span of a page read back from disk, in order.
    pub(super) fn load_page(&mut self, first: u64, last: u64) {
        self.pages.push_back((first, last));
    }

    fn push(&mut self, entry: Entry) {
        self.bytes += entry.bytes;
        self.ids.insert((entry.id_hash, entry.seq));
        self.entries.push_back(entry);
    }

    pub(super) fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The oldest retained position (`next_seq` when nothing is retained).
    pub(super) fn first_seq(&self) -> u64 {
        self.entries.front().map_or(self.next_seq, |e| e.seq)
    }

    /// What appending `appended` (in position order) at `now_ms` does under `retention`: the
    /// oldest events go first, then, only if the batch alone is over the limits, its oldest.
    pub(super) fn plan(&self, appended: &[Entry], retention: &Retention, now_ms: u64) -> Change {
        let mut count = self.entries.len() as u64 + appended.len() as u64;
        let mut bytes = self.bytes + appended.iter().map(|e| e.bytes).sum::<u64>();
        let mut gone = |entry: &Entry| {
            let gone = retention.over(count, bytes) || retention.expired(entry.published_ms, now_ms);
            if gone {
                count -= 1;
                bytes -= entry.bytes;
            }
            gone
        };
        let retired = self.entries.iter().take_while(|e| gone(e)).count();
        let kept_from = if retired == self.entries.len() { appended.iter().take_while(|e| gone(e)).count() } else { 0 };
        let next_seq = appended.last().map_or(self.next_seq, |e| e.seq + 1);
        let first_seq = self.entries.get(retired).or_else(|| appended.get(kept_from)).map_or(next_seq, |e| e.seq);
        let removed_pages = self.pages.iter().take_while(|&&(_, last)| last < first_seq).count();
        Change { retired, kept_from, removed_pages, first_seq, next_seq }
    }

    /// The keys of the pages `change` removes.
    pub(super) fn removed_pages(&self, change: &Change) -> impl Iterator<Item = u64> + '_ {
        self.pages.iter().take(change.removed_pages).map(|&(first, _)| first)
    }

    /// Applies `change`, planned for `appended`, once it is on disk; `pages` are the spans of
    /// the pages written for the kept events.
    pub(super) fn apply(&mut self, change: &Change, appended: &[Entry], pages: &[(u64, u64)]) {
        for entry in self.entries.drain(..change.retired.min(self.entries.len())) {
            self.bytes -= entry.bytes;
            self.ids.remove(&(entry.id_hash, entry.seq));
        }
        self.pages.drain(..change.removed_pages.min(self.pages.len()));
        for &entry in appended.get(change.kept_from..).unwrap_or_default() {
            self.bytes += entry.bytes;
            self.ids.insert((entry.id_hash, entry.seq));
            self.entries.push_back(entry);
        }
        self.pages.extend(pages);
        self.next_seq = change.next_seq;
    }

    /// The key of the page to start reading at for the events from position `from` on.
    pub(super) fn page_for(&self, from: u64) -> u64 {
        let after = self.pages.partition_point(|&(first, _)| first <= from);
        match after.checked_sub(1).and_then(|i| self.pages.get(i)) {
            Some(&(first, _)) => first,
            None => from,
        }
    }

    /// Retained positions whose id has the hash `id_hash`, oldest first.
    pub(super) fn positions_hashed(&self, id_hash: u64) -> Vec<u64> {
        self.ids.range((id_hash, 0)..=(id_hash, u64::MAX)).map(|&(_, seq)| seq).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, bytes: u64, published_ms: u64) -> Entry {
        Entry { seq, bytes, published_ms, id_hash: seq % 3 }
    }

    fn ledger(entries: &[Entry], pages: &[(u64, u64)]) -> Ledger {
        let mut ledger = Ledger::new(1);
        entries.iter().for_each(|&e| ledger.load(e));
        pages.iter().for_each(|&(first, last)| ledger.load_page(first, last));
        ledger
    }

    const COUNT_3: Retention = Retention { max_events: Some(3), max_age: None, max_bytes: None };

    #[test]
    fn retires_the_oldest_and_the_pages_they_emptied() {
        let mut ledger = ledger(&[entry(1, 10, 0), entry(2, 10, 0), entry(3, 10, 0)], &[(1, 2), (3, 3)]);
        let new = [entry(4, 10, 0), entry(5, 10, 0)];
        let change = ledger.plan(&new, &COUNT_3, 0);
        assert_eq!(change, Change { retired: 2, kept_from: 0, removed_pages: 1, first_seq: 3, next_seq: 6 });
        assert_eq!(ledger.removed_pages(&change).collect::<Vec<_>>(), [1]);
        ledger.apply(&change, &new, &[(4, 5)]);
        assert_eq!((ledger.len(), ledger.bytes(), ledger.first_seq(), ledger.next_seq()), (3, 30, 3, 6));
        assert_eq!((ledger.page_for(3), ledger.page_for(5), ledger.page_for(1)), (3, 4, 1));
        assert_eq!(ledger.positions_hashed(2), [5], "position 2's entry left the index with it");
        assert_eq!(ledger.positions_hashed(0), [3]);
    }

    #[test]
    fn a_batch_over_the_limits_by_itself_keeps_its_newest() {
        let ledger = ledger(&[entry(1, 10, 0)], &[(1, 1)]);
        let new: Vec<_> = (2..=6).map(|s| entry(s, 10, 0)).collect();
        let change = ledger.plan(&new, &COUNT_3, 0);
        assert_eq!(change, Change { retired: 1, kept_from: 2, removed_pages: 1, first_seq: 4, next_seq: 7 });
    }

    #[test]
    fn bytes_and_age_retire_too_and_an_empty_ledger_starts_at_next_seq() {
        let by_bytes = Retention { max_events: None, max_age: None, max_bytes: Some(25) };
        let old = ledger(&[entry(1, 10, 0), entry(2, 10, 0)], &[(1, 2)]);
        assert_eq!(old.plan(&[entry(3, 10, 0)], &by_bytes, 0).retired, 1);
        let by_age = Retention { max_events: None, max_age: Some(std::time::Duration::from_secs(1)), max_bytes: None };
        let change = old.plan(&[], &by_age, 5_000);
        assert_eq!(change, Change { retired: 2, kept_from: 0, removed_pages: 1, first_seq: 3, next_seq: 3 });
        let mut emptied = old;
        emptied.apply(&change, &[], &[]);
        assert_eq!((emptied.len(), emptied.first_seq(), emptied.page_for(7)), (0, 3, 7));
    }
}
