//! What one subscriber saw: each expected message once, in order per publisher, and how late.
//!
//! Subscriber `i` listens to topic `t = i % topics`, which carries the messages `k ≡ t (mod
//! topics)`. A bit per expected message tells a duplicate from a first delivery; the last index
//! seen from each publisher (publisher `k % publishers` sends its messages in increasing `k`,
//! one after the other) tells a reordering. Latencies are kept raw, in microseconds, and merged
//! into percentiles once the run is over.

use crate::payload;

/// One subscriber's tally.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    topic: u64,
    topics: u64,
    publishers: u64,
    expected: u64,
    seen: Vec<u64>,
    /// Per publisher: 1 + the last message index received from it (0: none yet).
    last_from: Vec<u64>,
    pub received: u64,
    pub duplicated: u64,
    pub reordered: u64,
    /// Messages that were not ours or not for this topic.
    pub foreign: u64,
    pub latencies_us: Vec<u32>,
}

impl Tracker {
    /// The tracker of a subscriber to topic `topic` of `topics`, in a run of `messages` messages
    /// sent by `publishers` publishers.
    pub(crate) fn new(topic: usize, topics: usize, messages: usize, publishers: usize) -> Self {
        let expected = Self::expected_for(topic, topics, messages);
        let (topic, topics) = (topic as u64, topics.max(1) as u64);
        Self {
            topic,
            topics,
            publishers: publishers.max(1) as u64,
            expected,
            seen: vec![0; expected.div_ceil(64) as usize],
            last_from: vec![0; publishers.max(1)],
            ..Self::default()
        }
    }

    /// How many of `messages` go to topic `topic` of `topics`.
    pub(crate) fn expected_for(topic: usize, topics: usize, messages: usize) -> u64 {
        let (topic, topics, messages) = (topic as u64, topics.max(1) as u64, messages as u64);
        if messages > topic {
            (messages - topic).div_ceil(topics)
        } else {
            0
        }
    }

    /// Records one delivered payload, received at `now_us` on the run's clock. Returns whether it
    /// was a first delivery of one of this subscriber's messages.
    pub(crate) fn record(&mut self, payload: &[u8], now_us: u64) -> bool {
        let Some((k, sent_us)) = payload::decode(payload) else {
            self.foreign += 1;
            return false;
        };
        if k % self.topics != self.topic || k / self.topics >= self.expected {
            self.foreign += 1;
            return false;
        }
        let slot = k / self.topics;
        let (word, bit) = ((slot / 64) as usize, 1u64 << (slot % 64));
        if self.seen[word] & bit != 0 {
            self.duplicated += 1;
            return false;
        }
        self.seen[word] |= bit;
        self.received += 1;
        let publisher = (k % self.publishers) as usize;
        if self.last_from[publisher] > k + 1 {
            self.reordered += 1;
        }
        self.last_from[publisher] = self.last_from[publisher].max(k + 1);
        self.latencies_us.push(u32::try_from(now_us.saturating_sub(sent_us)).unwrap_or(u32::MAX));
        true
    }

    /// Expected messages that never arrived.
    pub(crate) fn lost(&self) -> u64 {
        self.expected - self.received
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::encode;

    fn deliver(tracker: &mut Tracker, k: u64) -> bool {
        tracker.record(encode(k, 10, 20, crate::config::PayloadStyle::Filler).as_bytes(), 25)
    }

    #[test]
    fn counts_expected_messages_of_its_topic() {
        assert_eq!(Tracker::expected_for(0, 3, 10), 4); // 0 3 6 9
        assert_eq!(Tracker::expected_for(2, 3, 10), 3); // 2 5 8
        assert_eq!(Tracker::expected_for(5, 10, 3), 0);
    }

    #[test]
    fn in_order_delivery_is_clean() {
        let mut tracker = Tracker::new(1, 2, 10, 2);
        for k in [1, 3, 5, 7, 9] {
            assert!(deliver(&mut tracker, k));
        }
        assert_eq!((tracker.received, tracker.lost(), tracker.duplicated, tracker.reordered), (5, 0, 0, 0));
        assert_eq!(tracker.latencies_us, [15; 5]);
    }

    #[test]
    fn duplicates_reorders_losses_and_strangers() {
        let mut tracker = Tracker::new(0, 1, 6, 2);
        deliver(&mut tracker, 0);
        deliver(&mut tracker, 4);
        deliver(&mut tracker, 2); // publisher 0 sent 2 before 4
        deliver(&mut tracker, 1); // publisher 1: first message, in order
        deliver(&mut tracker, 4);
        deliver(&mut tracker, 99);
        assert!(!tracker.record(b"hello", 0));
        assert_eq!(tracker.received, 4);
        assert_eq!(tracker.lost(), 2);
        assert_eq!(tracker.duplicated, 1);
        assert_eq!(tracker.reordered, 1);
        assert_eq!(tracker.foreign, 2);
    }
}
