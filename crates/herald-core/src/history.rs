//! The most recent events, kept in memory in log order.
//!
//! Event ids are cursors into the hub-wide log: a subscriber resuming with a `Last-Event-ID` is
//! sent every retained event published after the one bearing that id. Without a durable store
//! this is the whole history; with one, it is a cache of the newest events, so that most
//! resumptions never touch the disk. The oldest events are dropped first, by count, size and
//! age. When ids are reused, a lookup resolves to the earliest retained event bearing the id, as
//! the Mercure protocol asks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::event::Event;
use crate::retention::Retention;

/// Ordered recent events with an id index.
#[derive(Debug)]
pub(crate) struct History {
    events: VecDeque<Arc<Event>>,
    by_id: HashMap<Arc<str>, u64>,
    bytes: u64,
    retention: Retention,
}

impl History {
    /// An empty history kept within `retention`.
    pub(crate) fn new(retention: Retention) -> Self {
        Self { events: VecDeque::new(), by_id: HashMap::new(), bytes: 0, retention }
    }

    /// Appends `event` (whose `seq` follows the last one) and drops what falls out of retention.
    pub(crate) fn push(&mut self, event: Arc<Event>, now_ms: u64) {
        self.by_id.entry(event.id.clone()).or_insert(event.seq);
        self.bytes += event.size() as u64;
        self.events.push_back(event);
        while let Some(oldest) = self.events.front() {
            let over = self.retention.over(self.events.len() as u64, self.bytes);
            if !over && !self.retention.expired(oldest.published_ms, now_ms) {
                break;
            }
            if let Some(old) = self.events.pop_front() {
                self.bytes -= old.size() as u64;
                if self.by_id.get(&old.id) == Some(&old.seq) {
                    self.by_id.remove(&old.id);
                }
            }
        }
    }

    /// The log position of the earliest retained event with this id.
    pub(crate) fn position_of(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// Retained events published after position `seq`, oldest first.
    pub(crate) fn after(&self, seq: u64) -> impl Iterator<Item = &Arc<Event>> {
        // Positions grow but may skip values (a shared log's foreign entries): search for them.
        let skip = self.events.partition_point(|event| event.seq <= seq);
        self.events.iter().skip(skip)
    }

    /// The newest retained event.
    pub(crate) fn last(&self) -> Option<&Arc<Event>> {
        self.events.back()
    }

    /// The position of the oldest retained event.
    pub(crate) fn first_seq(&self) -> Option<u64> {
        self.events.front().map(|e| e.seq)
    }

    /// How many events it holds.
    pub(crate) fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether it holds no event.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Total size of the retained events, as counted by [`Event::size`].
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::event::Update;

    fn ev(seq: u64, id: &str, published_ms: u64) -> Arc<Event> {
        let u = Update { topics: vec!["t".into()], data: "0123456789".into(), ..Default::default() };
        Arc::new(Event::new(seq, Arc::from(id), published_ms, u).unwrap())
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Arc<Event>>) -> Vec<u64> {
        it.map(|e| e.seq).collect()
    }

    fn count(n: u64) -> Retention {
        Retention { max_events: Some(n), max_age: None, max_bytes: None }
    }

    #[test]
    fn retention_by_count_drops_the_oldest_and_their_ids() {
        let mut h = History::new(count(3));
        for s in 1..=5 {
            h.push(ev(s, &format!("id{s}"), 0), 0);
        }
        assert_eq!(seqs(h.after(0)), vec![3, 4, 5]);
        assert_eq!(h.position_of("id2"), None);
        assert_eq!(h.position_of("id3"), Some(3));
        assert_eq!(seqs(h.after(3)), vec![4, 5]);
        assert_eq!(seqs(h.after(5)), Vec::<u64>::new());
        assert_eq!(h.first_seq(), Some(3));
    }

    #[test]
    fn retention_by_bytes_and_age() {
        let size = ev(1, "a", 0).size() as u64;
        let mut h = History::new(Retention { max_events: None, max_age: None, max_bytes: Some(size * 2) });
        for s in 1..=4 {
            h.push(ev(s, &s.to_string(), 0), 0);
            assert!(h.bytes() <= size * 2);
        }
        assert_eq!(seqs(h.after(0)), vec![3, 4]);

        let mut h =
            History::new(Retention { max_events: None, max_age: Some(Duration::from_secs(1)), max_bytes: None });
        h.push(ev(1, "old", 0), 0);
        h.push(ev(2, "mid", 700), 700);
        h.push(ev(3, "new", 1_600), 1_600);
        assert_eq!(seqs(h.after(0)), vec![2, 3]);
    }

    #[test]
    fn reused_ids_resolve_to_the_earliest() {
        let mut h = History::new(count(10));
        h.push(ev(1, "dup", 0), 0);
        h.push(ev(2, "x", 0), 0);
        h.push(ev(3, "dup", 0), 0);
        assert_eq!(h.position_of("dup"), Some(1));
        assert_eq!(seqs(h.after(1)), vec![2, 3]);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut h = History::new(count(0));
        h.push(ev(1, "a", 0), 0);
        assert!(h.is_empty());
        assert_eq!(h.position_of("a"), None);
    }
}
