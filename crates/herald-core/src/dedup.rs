//! Retry-safe publishing: the ids publishers gave that the hub accepted within the last
//! `--dedup-window`, with the position each got.
//!
//! A publisher that got no answer (a timeout, a node that died, a `503` after the write reached
//! the disk) retries with the same `id`; a publish whose id was accepted inside the window is
//! answered with that id again and not delivered a second time. Only ids the publisher gave
//! count (the hub's own are unique). Entries leave in the order they came, once older than the
//! window, so the table holds what the window holds and no more.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

/// Ids accepted within the window.
#[derive(Debug)]
pub(crate) struct Dedup {
    window_ms: u64,
    /// Id → (when it was accepted, in ms since the epoch; its position).
    accepted: HashMap<Arc<str>, (u64, u64)>,
    /// The same entries in acceptance order, for expiry.
    order: VecDeque<(u64, Arc<str>)>,
}

impl Dedup {
    pub(crate) fn new(window: Duration) -> Self {
        Self { window_ms: millis(window), accepted: HashMap::new(), order: VecDeque::new() }
    }

    /// The position of the event that was accepted with `id` within the window, if any.
    pub(crate) fn accepted(&mut self, id: &str, now_ms: u64) -> Option<u64> {
        self.expire(now_ms);
        self.accepted.get(id).map(|&(_, seq)| seq)
    }

    /// Whether an event accepted at `at_ms` is still within the window at `now_ms`.
    pub(crate) fn covers(&self, at_ms: u64, now_ms: u64) -> bool {
        now_ms.saturating_sub(at_ms) <= self.window_ms
    }

    /// Notes that `id` was accepted at `at_ms`, at position `seq`.
    pub(crate) fn record(&mut self, id: Arc<str>, at_ms: u64, seq: u64) {
        self.accepted.insert(id.clone(), (at_ms, seq));
        self.order.push_back((at_ms, id));
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((at_ms, _)) = self.order.front() {
            if self.covers(*at_ms, now_ms) {
                break;
            }
            if let Some((at_ms, id)) = self.order.pop_front() {
                // A later acceptance of the same id keeps its entry.
                if self.accepted.get(&id).is_some_and(|&(latest, _)| latest == at_ms) {
                    self.accepted.remove(&id);
                }
            }
        }
    }

    /// Ids in the table (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.accepted.len()
    }
}

/// Whether `at_ms` is at most `window` before `now_ms`.
pub(crate) fn within(window: Duration, at_ms: u64, now_ms: u64) -> bool {
    now_ms.saturating_sub(at_ms) <= millis(window)
}

fn millis(window: Duration) -> u64 {
    u64::try_from(window.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_remembered_for_the_window_and_forgotten_after() {
        let mut dedup = Dedup::new(Duration::from_secs(10));
        dedup.record("a".into(), 1_000, 7);
        assert_eq!(dedup.accepted("a", 1_000), Some(7));
        assert_eq!(dedup.accepted("a", 11_000), Some(7), "the window's edge is inside");
        assert_eq!(dedup.accepted("b", 11_000), None);
        assert_eq!(dedup.accepted("a", 11_001), None);
        assert_eq!(dedup.len(), 0, "expired entries leave the table");
    }

    #[test]
    fn a_later_acceptance_of_the_same_id_outlives_the_first() {
        let mut dedup = Dedup::new(Duration::from_secs(10));
        dedup.record("a".into(), 1_000, 1);
        dedup.record("a".into(), 6_000, 2);
        assert_eq!(dedup.accepted("a", 12_000), Some(2));
        assert_eq!(dedup.accepted("a", 16_001), None);
    }
}
