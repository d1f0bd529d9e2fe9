//! Fan-out: publishing an event to every matching subscriber, and subscribing with replay.
//!
//! One mutex guards the log position, the history and the subscriber registry, so that a
//! subscription's replay and its live feed meet with no gap and no duplicate: the history
//! snapshot and the registration happen under the same lock that publishing takes. The lock is
//! synchronous and never held across an await; encoding happens before it is taken.
//!
//! Each subscriber has a bounded queue of shared `Arc<Event>`s. Publishing never waits: when a
//! queue is full, that one subscriber is dropped from the registry, its stream ends after
//! draining what it already has, and the client resumes from history on reconnect. Subscribers
//! whose matchers are all exact are indexed by topic; the others are checked one by one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use url::Url;
use uuid::Uuid;

use crate::access::ReadAccess;
use crate::event::{Event, Update, UpdateError};
use crate::history::History;
use crate::matcher::Matcher;

/// Settings of a hub.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// How many recent events are kept for replay.
    pub history_size: usize,
    /// Events queued per subscriber before it is considered too slow and disconnected.
    pub queue_capacity: usize,
    /// The hub's public URL: relative topics and URL patterns resolve against it.
    pub hub_url: Url,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            history_size: 10_000,
            queue_capacity: 1_024,
            hub_url: Url::parse("http://localhost/.well-known/mercure").expect("static URL parses"),
        }
    }
}

/// Where a resuming subscriber wants to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cursor {
    /// Everything history holds.
    Earliest,
    /// Everything after the event bearing this id.
    After(String),
}

impl Cursor {
    /// Reads a `Last-Event-ID` value: `earliest` is reserved, anything else is an event id.
    pub fn parse(value: &str) -> Self {
        if value == "earliest" {
            Self::Earliest
        } else {
            Self::After(value.to_owned())
        }
    }
}

/// Counters describing the hub's activity since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HubStats {
    pub subscribers: u64,
    pub published: u64,
    pub delivered: u64,
    pub overflowed: u64,
    pub history_len: u64,
}

/// The hub: the shared state behind every transport.
#[derive(Debug)]
pub struct Hub {
    config: HubConfig,
    state: Mutex<State>,
    published: AtomicU64,
    delivered: AtomicU64,
    overflowed: AtomicU64,
}

#[derive(Debug)]
struct State {
    next_seq: u64,
    history: History,
    next_key: u64,
    subscribers: HashMap<u64, Subscriber>,
    /// Subscribers whose matchers are all exact, by topic.
    by_topic: HashMap<Box<str>, Vec<u64>>,
    /// Subscribers with at least one non-exact matcher.
    broad: Vec<u64>,
    /// Subscribers dropped because their queue was full, until their stream notices.
    overflowed: HashSet<u64>,
}

#[derive(Debug)]
struct Subscriber {
    matchers: Box<[Matcher]>,
    access: ReadAccess,
    tx: mpsc::Sender<Arc<Event>>,
    /// Last event queued, so an event with several matching topics is queued once.
    last_seq: u64,
    indexed: bool,
}

impl Hub {
    pub fn new(config: HubConfig) -> Arc<Self> {
        let state = State {
            next_seq: 1,
            history: History::new(config.history_size),
            next_key: 0,
            subscribers: HashMap::new(),
            by_topic: HashMap::new(),
            broad: Vec::new(),
            overflowed: HashSet::new(),
        };
        Arc::new(Self {
            config,
            state: Mutex::new(state),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        })
    }

    pub fn config(&self) -> &HubConfig {
        &self.config
    }

    /// Validates `update`, records it in history and queues it for every matching subscriber.
    pub fn publish(&self, mut update: Update) -> Result<Arc<Event>, UpdateError> {
        update.validate(&self.config.hub_url)?;
        let id: Arc<str> = match update.id.take().filter(|id| !id.is_empty()) {
            Some(id) => id.into(),
            None => format!("urn:uuid:{}", Uuid::now_v7()).into(),
        };
        let mut event = Event::new(0, id, update).map_err(|e| UpdateError::Unencodable(e.to_string()))?;

        let mut state = self.state.lock();
        event.seq = state.next_seq;
        state.next_seq += 1;
        let event = Arc::new(event);
        state.history.push(event.clone());
        let (delivered, overflowed) = state.fan_out(&event);
        drop(state);

        self.published.fetch_add(1, Ordering::Relaxed);
        self.delivered.fetch_add(delivered, Ordering::Relaxed);
        self.overflowed.fetch_add(overflowed, Ordering::Relaxed);
        Ok(event)
    }

    /// Subscribes to topics selected by `matchers`, first replaying history after `from`.
    ///
    /// An unknown or trimmed id replays everything history still holds, and the subscription's
    /// [`Subscription::resumed_from`] says `earliest` so the client can tell.
    pub fn subscribe(
        self: &Arc<Self>,
        matchers: Vec<Matcher>,
        access: ReadAccess,
        from: Option<Cursor>,
    ) -> Subscription {
        let (tx, rx) = mpsc::channel(self.config.queue_capacity.max(1));
        let mut state = self.state.lock();
        let wanted =
            |e: &&Arc<Event>| access.allows(e) && e.topics.iter().any(|t| matchers.iter().any(|m| m.matches(t)));
        let (replay, resumed_from): (Vec<_>, _) = match from {
            None => (Vec::new(), None),
            Some(Cursor::After(id)) if state.history.position_of(&id).is_some() => {
                let seq = state.history.position_of(&id).unwrap_or_default();
                (state.history.after(seq).filter(wanted).cloned().collect(), Some(id))
            }
            Some(_) => (state.history.iter().filter(wanted).cloned().collect(), Some("earliest".to_owned())),
        };
        let key = state.register(Subscriber {
            indexed: matchers.iter().all(|m| m.exact_topic().is_some()),
            matchers: matchers.into(),
            access,
            tx,
            last_seq: 0,
        });
        drop(state);
        Subscription { hub: self.clone(), key, replay: replay.into_iter(), rx, resumed_from }
    }

    /// Ends every subscription (their streams finish after draining), e.g. on shutdown.
    pub fn disconnect_all(&self) {
        let mut state = self.state.lock();
        state.subscribers.clear();
        state.by_topic.clear();
        state.broad.clear();
    }

    pub fn stats(&self) -> HubStats {
        let state = self.state.lock();
        HubStats {
            subscribers: state.subscribers.len() as u64,
            history_len: state.history.len() as u64,
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            overflowed: self.overflowed.load(Ordering::Relaxed),
        }
    }

    fn unsubscribe(&self, key: u64) {
        let mut state = self.state.lock();
        state.remove(key);
        state.overflowed.remove(&key);
    }

    fn take_overflowed(&self, key: u64) -> bool {
        self.state.lock().overflowed.remove(&key)
    }
}

impl State {
    fn register(&mut self, sub: Subscriber) -> u64 {
        let key = self.next_key;
        self.next_key += 1;
        if sub.indexed {
            for m in sub.matchers.iter() {
                if let Some(topic) = m.exact_topic() {
                    let keys = self.by_topic.entry(topic.into()).or_default();
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
        } else {
            self.broad.push(key);
        }
        self.subscribers.insert(key, sub);
        key
    }

    fn remove(&mut self, key: u64) {
        let Some(sub) = self.subscribers.remove(&key) else {
            return;
        };
        if sub.indexed {
            for topic in sub.matchers.iter().filter_map(Matcher::exact_topic) {
                if let Some(keys) = self.by_topic.get_mut(topic) {
                    keys.retain(|k| *k != key);
                    if keys.is_empty() {
                        self.by_topic.remove(topic);
                    }
                }
            }
        } else {
            self.broad.retain(|k| *k != key);
        }
    }

    /// Queues `event` for every matching subscriber; returns (queued, dropped for overflow).
    fn fan_out(&mut self, event: &Arc<Event>) -> (u64, u64) {
        let mut outcome = FanOut::default();
        for topic in &event.topics {
            if let Some(keys) = self.by_topic.get(topic.as_str()) {
                for key in keys {
                    if let Some(sub) = self.subscribers.get_mut(key) {
                        outcome.offer(*key, sub, event);
                    }
                }
            }
        }
        for key in &self.broad {
            if let Some(sub) = self.subscribers.get_mut(key) {
                if event.topics.iter().any(|t| sub.matchers.iter().any(|m| m.matches(t))) {
                    outcome.offer(*key, sub, event);
                }
            }
        }
        for key in std::mem::take(&mut outcome.gone) {
            self.remove(key);
        }
        self.overflowed.extend(outcome.overflowing.iter().copied());
        (outcome.delivered, outcome.overflowed)
    }
}

#[derive(Default)]
struct FanOut {
    delivered: u64,
    overflowed: u64,
    gone: Vec<u64>,
    overflowing: Vec<u64>,
}

impl FanOut {
    fn offer(&mut self, key: u64, sub: &mut Subscriber, event: &Arc<Event>) {
        if sub.last_seq == event.seq || !sub.access.allows(event) {
            return;
        }
        sub.last_seq = event.seq;
        match sub.tx.try_send(event.clone()) {
            Ok(()) => self.delivered += 1,
            Err(TrySendError::Full(_)) => {
                self.overflowed += 1;
                self.gone.push(key);
                self.overflowing.push(key);
            }
            Err(TrySendError::Closed(_)) => self.gone.push(key),
        }
    }
}

/// One subscriber's feed: replayed history first, then live events, in log order.
///
/// The stream ends (`None`) when the subscriber fell too far behind or the hub shut down.
/// Dropping it unregisters the subscriber.
#[derive(Debug)]
pub struct Subscription {
    hub: Arc<Hub>,
    key: u64,
    replay: std::vec::IntoIter<Arc<Event>>,
    rx: mpsc::Receiver<Arc<Event>>,
    resumed_from: Option<String>,
}

impl Subscription {
    /// For a resuming subscriber: the id of the event preceding the first one it will receive,
    /// or `earliest` when history no longer reaches back to the requested id.
    pub fn resumed_from(&self) -> Option<&str> {
        self.resumed_from.as_deref()
    }

    /// The next event, waiting for one to be published.
    pub async fn recv(&mut self) -> Option<Arc<Event>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next event.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Event>>> {
        match self.replay.next() {
            Some(event) => Poll::Ready(Some(event)),
            None => self.rx.poll_recv(cx),
        }
    }

    /// After the feed ended: true when it ended because this subscriber fell too far behind
    /// (its transport should then drop the connection at once rather than end it cleanly).
    pub fn overflowed(&self) -> bool {
        self.hub.take_overflowed(self.key)
    }

    /// The next event if one is already waiting (used to batch writes).
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        self.replay.next().or_else(|| self.rx.try_recv().ok())
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(history: usize, queue: usize) -> Arc<Hub> {
        Hub::new(HubConfig { history_size: history, queue_capacity: queue, ..Default::default() })
    }

    fn update(topic: &str, data: &str) -> Update {
        Update { topics: vec![topic.into()], data: data.into(), ..Default::default() }
    }

    fn exact(topics: &[&str]) -> Vec<Matcher> {
        topics.iter().map(|t| Matcher::exact(t).unwrap()).collect()
    }

    fn drain(sub: &mut Subscription) -> Vec<String> {
        std::iter::from_fn(|| sub.try_recv()).map(|e| e.data.clone()).collect()
    }

    #[test]
    fn events_reach_matching_subscribers_once_and_in_order() {
        let hub = hub(100, 100);
        let mut a = hub.subscribe(exact(&["a", "b"]), ReadAccess::public_only(), None);
        let mut all = hub.subscribe(vec![Matcher::exact("*").unwrap()], ReadAccess::public_only(), None);
        let mut tpl = hub.subscribe(vec![Matcher::legacy_topic("/x/{id}").unwrap()], ReadAccess::public_only(), None);
        hub.publish(update("a", "1")).unwrap();
        hub.publish(Update { topics: vec!["a".into(), "b".into()], data: "2".into(), ..Default::default() }).unwrap();
        hub.publish(update("/x/9", "3")).unwrap();
        hub.publish(update("c", "4")).unwrap();
        assert_eq!(drain(&mut a), ["1", "2"]);
        assert_eq!(drain(&mut all), ["1", "2", "3", "4"]);
        assert_eq!(drain(&mut tpl), ["3"]);
        assert_eq!(hub.stats().delivered, 2 + 4 + 1);
    }

    #[test]
    fn generated_ids_are_unique_and_given_ids_kept() {
        let hub = hub(10, 10);
        let a = hub.publish(update("t", "")).unwrap();
        let b = hub.publish(update("t", "")).unwrap();
        assert!(a.id.starts_with("urn:uuid:") && a.id != b.id);
        let c = hub.publish(Update { id: Some("mine".into()), ..update("t", "") }).unwrap();
        assert_eq!(&*c.id, "mine");
        assert!(a.seq < b.seq && b.seq < c.seq);
    }

    #[test]
    fn replay_resumes_after_the_given_id_and_reports_where() {
        let hub = hub(100, 100);
        let ids: Vec<_> = (0..5).map(|i| hub.publish(update("t", &i.to_string())).unwrap().id.clone()).collect();
        hub.publish(update("other", "x")).unwrap();
        let mut sub = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::After(ids[1].to_string())));
        assert_eq!(sub.resumed_from(), Some(&*ids[1]));
        hub.publish(update("t", "live")).unwrap();
        assert_eq!(drain(&mut sub), ["2", "3", "4", "live"]);

        let mut from_start = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::Earliest));
        assert_eq!(from_start.resumed_from(), Some("earliest"));
        assert_eq!(drain(&mut from_start), ["0", "1", "2", "3", "4", "live"]);
    }

    #[test]
    fn a_trimmed_id_replays_what_is_left_and_says_earliest() {
        let hub = hub(3, 100);
        let first = hub.publish(update("t", "0")).unwrap();
        for i in 1..5 {
            hub.publish(update("t", &i.to_string())).unwrap();
        }
        let mut sub =
            hub.subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::After(first.id.to_string())));
        assert_eq!(sub.resumed_from(), Some("earliest"));
        assert_eq!(drain(&mut sub), ["2", "3", "4"]);
    }

    #[test]
    fn a_full_queue_disconnects_only_that_subscriber() {
        let hub = hub(100, 2);
        let mut slow = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None);
        let mut fast = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None);
        for i in 0..2 {
            hub.publish(update("t", &i.to_string())).unwrap();
        }
        assert_eq!(drain(&mut fast), ["0", "1"]);
        hub.publish(update("t", "2")).unwrap();
        assert_eq!(drain(&mut fast), ["2"]);
        assert_eq!(hub.stats().overflowed, 1);
        // The slow one keeps what it had, then its stream ends.
        assert_eq!(drain(&mut slow), ["0", "1"]);
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        assert!(rt.block_on(slow.recv()).is_none());
        assert!(slow.overflowed());
        assert!(!fast.overflowed());
        assert_eq!(hub.stats().subscribers, 1);
    }

    #[test]
    fn private_updates_need_read_access_live_and_on_replay() {
        let hub = hub(100, 100);
        let mut anon = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None);
        let rights = ReadAccess::with_private(exact(&["t"]));
        let mut allowed = hub.subscribe(exact(&["t"]), rights.clone(), None);
        hub.publish(Update { private: true, ..update("t", "secret") }).unwrap();
        hub.publish(update("t", "public")).unwrap();
        assert_eq!(drain(&mut anon), ["public"]);
        assert_eq!(drain(&mut allowed), ["secret", "public"]);
        let mut anon_replay = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), Some(Cursor::Earliest));
        assert_eq!(drain(&mut anon_replay), ["public"]);
        let mut allowed_replay = hub.subscribe(exact(&["t"]), rights, Some(Cursor::Earliest));
        assert_eq!(drain(&mut allowed_replay), ["secret", "public"]);
    }

    #[test]
    fn dropping_a_subscription_unregisters_it() {
        let hub = hub(10, 10);
        let a = hub.subscribe(exact(&["t"]), ReadAccess::public_only(), None);
        let b = hub.subscribe(vec![Matcher::exact("*").unwrap()], ReadAccess::public_only(), None);
        assert_eq!(hub.stats().subscribers, 2);
        drop(a);
        drop(b);
        assert_eq!(hub.stats().subscribers, 0);
        hub.publish(update("t", "x")).unwrap();
        assert_eq!(hub.stats().delivered, 0);
    }

    #[test]
    fn invalid_updates_are_refused_and_not_recorded() {
        let hub = hub(10, 10);
        assert_eq!(hub.publish(update("*", "x")).unwrap_err(), UpdateError::WildcardTopic);
        assert_eq!(hub.stats().history_len, 0);
        assert_eq!(hub.stats().published, 0);
    }
}
