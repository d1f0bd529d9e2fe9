//! The hub-wide ordered log of recent events, kept in memory.
//!
//! Event ids are cursors into this log: a subscriber resuming with a `Last-Event-ID` is sent every
//! retained event published after the one bearing that id. Retention is by count; the oldest
//! events are dropped first. When ids are reused, a lookup resolves to the earliest retained
//! event bearing the id, as the Mercure protocol asks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use crate::event::Event;

/// Bounded, ordered history with an id index.
#[derive(Debug)]
pub struct History {
    events: VecDeque<Arc<Event>>,
    by_id: HashMap<Arc<str>, u64>,
    capacity: usize,
}

impl History {
    /// A history retaining at most `capacity` events (0 keeps none).
    pub fn new(capacity: usize) -> Self {
        Self { events: VecDeque::new(), by_id: HashMap::new(), capacity }
    }

    /// Appends `event` (whose `seq` must follow the last one) and trims past the capacity.
    pub fn push(&mut self, event: Arc<Event>) {
        if self.capacity == 0 {
            return;
        }
        while self.events.len() >= self.capacity {
            if let Some(old) = self.events.pop_front() {
                if self.by_id.get(&old.id) == Some(&old.seq) {
                    self.by_id.remove(&old.id);
                }
            }
        }
        self.by_id.entry(event.id.clone()).or_insert(event.seq);
        self.events.push_back(event);
    }

    /// The log position of the earliest retained event with this id.
    pub fn position_of(&self, id: &str) -> Option<u64> {
        self.by_id.get(id).copied()
    }

    /// Retained events published after position `seq`, oldest first.
    pub fn after(&self, seq: u64) -> impl Iterator<Item = &Arc<Event>> {
        let skip = match self.events.front() {
            Some(first) if seq >= first.seq => (seq - first.seq + 1) as usize,
            _ => 0,
        };
        self.events.iter().skip(skip)
    }

    /// Every retained event, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Event>> {
        self.events.iter()
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Update;

    fn ev(seq: u64, id: &str) -> Arc<Event> {
        let u = Update { topics: vec!["t".into()], data: seq.to_string(), ..Default::default() };
        Arc::new(Event::new(seq, Arc::from(id), u).unwrap())
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Arc<Event>>) -> Vec<u64> {
        it.map(|e| e.seq).collect()
    }

    #[test]
    fn retention_by_count_drops_the_oldest_and_their_ids() {
        let mut h = History::new(3);
        for s in 1..=5 {
            h.push(ev(s, &format!("id{s}")));
        }
        assert_eq!(seqs(h.iter()), vec![3, 4, 5]);
        assert_eq!(h.position_of("id2"), None);
        assert_eq!(h.position_of("id3"), Some(3));
        assert_eq!(seqs(h.after(3)), vec![4, 5]);
        assert_eq!(seqs(h.after(5)), Vec::<u64>::new());
        assert_eq!(seqs(h.after(1)), vec![3, 4, 5]);
    }

    #[test]
    fn reused_ids_resolve_to_the_earliest() {
        let mut h = History::new(10);
        h.push(ev(1, "dup"));
        h.push(ev(2, "x"));
        h.push(ev(3, "dup"));
        assert_eq!(h.position_of("dup"), Some(1));
        assert_eq!(seqs(h.after(1)), vec![2, 3]);
    }

    #[test]
    fn zero_capacity_keeps_nothing() {
        let mut h = History::new(0);
        h.push(ev(1, "a"));
        assert!(h.is_empty());
        assert_eq!(h.position_of("a"), None);
    }
}
