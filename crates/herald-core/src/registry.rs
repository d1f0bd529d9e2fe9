//! The subscriber registry: who is subscribed to what, and offering events to them.
//!
//! Subscribers whose matchers are all exact are indexed by topic, so an event visits only the
//! mailboxes of its topics; the others are checked one by one. Offering never waits: when a
//! mailbox is full, that one subscriber is dropped from the registry, its stream ends after
//! draining what it already has, and the client resumes from history on reconnect.
//!
//! The registry remembers the last event it offered; the fan-out runs behind the publishers,
//! under a lock of its own. A subscriber registered while recorded events are still on their
//! way replays history up to the last recorded one, and its mailbox skips those when they are
//! offered: each reaches it once.

use std::collections::HashMap;
use std::sync::Arc;
use std::task::Waker;

use crate::event::Event;
use crate::hub::Selection;
use crate::mailbox::{Mailbox, Offer};
use crate::matcher::Matcher;
use crate::subscription::Ended;

/// The registered subscribers, and how far the fan-out has reached.
pub(crate) struct Registry {
    pub(crate) subscribers: HashMap<u64, Arc<Mailbox>>,
    /// Subscribers whose matchers are all exact, by topic.
    pub(crate) by_topic: HashMap<Box<str>, Vec<Arc<Mailbox>>>,
    /// Subscribers with at least one non-exact matcher.
    pub(crate) broad: Vec<Arc<Mailbox>>,
    /// Set on shutdown: no new registrations.
    pub(crate) closed: bool,
    /// Position of the last event offered (0 before the first): every registered subscriber
    /// was offered everything up to it that it selects.
    pub(crate) offered_upto: u64,
    /// The position and id of the newest event offered (or in history when the hub opened).
    pub(crate) last_offered: Option<(u64, Arc<str>)>,
}

impl Registry {
    /// An empty registry whose subscribers start after position `offered_upto` (the log's
    /// head when the hub opens); `last_offered` is the newest event history holds then.
    pub(crate) fn new(offered_upto: u64, last_offered: Option<(u64, Arc<str>)>) -> Self {
        Self {
            subscribers: HashMap::new(),
            by_topic: HashMap::new(),
            broad: Vec::new(),
            closed: false,
            offered_upto,
            last_offered,
        }
    }

    /// Adds a subscriber and returns its key; on a closed hub, closes its mailbox instead (its
    /// stream ends).
    pub(crate) fn register(&mut self, mailbox: Arc<Mailbox>) -> Option<u64> {
        if self.closed {
            mailbox.close(Ended::Closed);
            return None;
        }
        let key = mailbox.key;
        if indexed(&mailbox.selection) {
            for topic in mailbox.selection.matchers.iter().filter_map(Matcher::exact_topic) {
                let mailboxes = self.by_topic.entry(topic.into()).or_default();
                if !mailboxes.iter().any(|m| m.key == key) {
                    mailboxes.push(mailbox.clone());
                }
            }
        } else {
            self.broad.push(mailbox.clone());
        }
        self.subscribers.insert(key, mailbox);
        Some(key)
    }

    /// Drops a subscriber and closes its mailbox, saying why.
    pub(crate) fn remove(&mut self, key: u64, why: Ended) {
        let Some(mailbox) = self.subscribers.remove(&key) else {
            return;
        };
        mailbox.close(why);
        if indexed(&mailbox.selection) {
            for topic in mailbox.selection.matchers.iter().filter_map(Matcher::exact_topic) {
                if let Some(mailboxes) = self.by_topic.get_mut(topic) {
                    mailboxes.retain(|m| m.key != key);
                    if mailboxes.is_empty() {
                        self.by_topic.remove(topic);
                    }
                }
            }
        } else {
            self.broad.retain(|m| m.key != key);
        }
    }

    /// Ends every subscription and registers no one from now on.
    pub(crate) fn close_all(&mut self) {
        self.closed = true;
        for (_, mailbox) in self.subscribers.drain() {
            mailbox.close(Ended::Closed);
        }
        self.by_topic.clear();
        self.broad.clear();
    }

    /// Offers `events` (in log order) to every matching subscriber; the waiting subscribers'
    /// wakers go to `wakers`. Returns (queued, dropped for overflow).
    pub(crate) fn offer(&mut self, events: &[Arc<Event>], wakers: &mut Vec<Waker>) -> (u64, u64) {
        let mut outcome = FanOut::default();
        for event in events {
            self.offer_one(event, &mut outcome, wakers);
        }
        self.mark_offered(events);
        (outcome.delivered, outcome.overflowed)
    }

    /// Moves the fan-out's mark past `events`; never back (a pass taken from the queue may
    /// come after later events were marked offered to a registry with no one in it).
    pub(crate) fn mark_offered(&mut self, events: &[Arc<Event>]) {
        if let Some(last) = events.iter().max_by_key(|event| event.seq) {
            if last.seq > self.offered_upto {
                self.offered_upto = last.seq;
                self.last_offered = Some((last.seq, last.id.clone()));
            }
        }
    }

    fn offer_one(&mut self, event: &Arc<Event>, outcome: &mut FanOut, wakers: &mut Vec<Waker>) {
        for topic in &event.topics {
            if let Some(mailboxes) = self.by_topic.get(topic.as_str()) {
                for mailbox in mailboxes {
                    outcome.offer(mailbox, event, wakers);
                }
            }
        }
        for mailbox in &self.broad {
            if event.topics.iter().any(|t| mailbox.selection.matchers.iter().any(|m| m.matches(t))) {
                outcome.offer(mailbox, event, wakers);
            }
        }
        for key in std::mem::take(&mut outcome.overflowing) {
            self.remove(key, Ended::Overflowed);
        }
        for key in std::mem::take(&mut outcome.gone) {
            self.remove(key, Ended::Closed);
        }
    }
}

/// Whether a subscriber is found through the topic index (all its matchers are exact).
fn indexed(selection: &Selection) -> bool {
    selection.matchers.iter().all(|m| m.exact_topic().is_some())
}

/// What offering events did so far.
#[derive(Default)]
struct FanOut {
    delivered: u64,
    overflowed: u64,
    /// Subscribers already dropped (their mailbox closed meanwhile).
    gone: Vec<u64>,
    /// Subscribers whose queue is full: dropped as too slow.
    overflowing: Vec<u64>,
}

impl FanOut {
    fn offer(&mut self, mailbox: &Mailbox, event: &Arc<Event>, wakers: &mut Vec<Waker>) {
        if !mailbox.selection.access.allows(event) {
            return;
        }
        match mailbox.push_deferred(event, wakers) {
            Offer::Queued => self.delivered += 1,
            Offer::Duplicate => {}
            // Offered again through another of its topics: already counted.
            Offer::Full if self.overflowing.contains(&mailbox.key) => {}
            Offer::Full => {
                self.overflowed += 1;
                self.overflowing.push(mailbox.key);
            }
            Offer::Closed => self.gone.push(mailbox.key),
        }
    }
}
