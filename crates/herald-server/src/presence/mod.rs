//! Who is listening: the active subscriptions of this node (`--subscriptions`).
//!
//! Every subscription made through the operations layer, whatever its transport, joins the
//! [`Presence`] registry and leaves it when its feed is dropped (the client went away, its token
//! expired, it was too slow, the hub is draining), through the [`Joined`] guard the subscription
//! holds. The registry keeps, per topic matcher, the subscribers using it, so joining, leaving and
//! counting are O(1). Each change is also an event (see `events`), and the registry answers the
//! subscriptions API (see `api`).
//!
//! Clients whose subscription is a series of requests (long-polling, polling, and Bayeux, whose
//! feed is rebuilt when its channels change) would flicker in and out between two requests, so
//! their subscriptions *linger*: when the last request ends, the subscriber stays present for
//! `--presence-window`, and leaves only if no request of it arrives by then. A polling client
//! keeps its identity across requests with the opaque `presence` handle its answers carry (hub
//! made, random: a client cannot choose its identifier, only reuse its own); a Bayeux session
//! keeps its own.

pub(crate) mod api;
pub(crate) mod cluster;
pub(crate) mod events;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;

use crate::ops::subscribe::{MatchKind, MatcherSpec};

/// A topic matcher as the Mercure subscription resources name it: its type and its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct MatcherKey {
    /// `exact`, `urlpattern`, or `topic` (the legacy parameter), `channel` (Bayeux).
    pub match_type: &'static str,
    /// The matcher as the subscriber gave it.
    pub value: Arc<str>,
}

impl MatcherKey {
    fn of(spec: &MatcherSpec) -> Self {
        let match_type = match spec.kind {
            MatchKind::Exact => "exact",
            MatchKind::UrlPattern => "urlpattern",
            MatchKind::Topic => "topic",
            MatchKind::Channel => "channel",
        };
        Self { match_type, value: spec.value.as_str().into() }
    }
}

/// One active subscription: a subscriber using a matcher.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Active {
    pub matcher: MatcherKey,
    pub subscriber: Arc<str>,
    /// The `payload` of the subscriber's token, if it had one.
    pub payload: Option<Arc<Value>>,
}

/// A subscriber's entry under one matcher: its payload, how many of its subscriptions use it
/// (a connection may subscribe to the same matcher twice), and, once none does, until when it
/// lingers.
#[derive(Debug)]
struct Entry {
    payload: Option<Arc<Value>>,
    uses: u32,
    lingers_until: Option<Instant>,
}

/// The registry's state, under one lock.
#[derive(Debug, Default)]
struct State {
    by_matcher: HashMap<MatcherKey, HashMap<Arc<str>, Entry>>,
    /// Entries left lingering, in the order their windows end.
    lingering: VecDeque<(Instant, MatcherKey, Arc<str>)>,
    /// Polling clients' handles → their subscriber identifiers, and when each was last used.
    handles: HashMap<Arc<str>, (Arc<str>, Instant)>,
}

/// The active subscriptions of this node.
#[derive(Debug)]
pub(crate) struct Presence {
    state: Mutex<State>,
    /// Where the changes go to be published, when subscription events are on.
    events: Option<events::Sink>,
    /// How long a subscription made of requests stays after its last one.
    window: Duration,
    /// This node's name in the cluster's presence.
    pub(crate) node: Arc<str>,
    /// The other nodes' subscriptions, on a node of a shared log.
    pub(crate) remote: Option<cluster::Remote>,
}

impl Presence {
    /// A registry whose changes are published through `events`, with lingering subscriptions
    /// kept for `window`.
    #[cfg(test)]
    pub(crate) fn new(events: Option<events::Sink>, window: Duration) -> Arc<Self> {
        Self::with_node(events, window, new_subscriber_id(), None)
    }

    /// A registry for the node `node`; with `clustered`, it also keeps the other nodes' view, in
    /// which a node silent that long is gone.
    pub(crate) fn with_node(
        events: Option<events::Sink>,
        window: Duration,
        node: Arc<str>,
        clustered: Option<Duration>,
    ) -> Arc<Self> {
        let remote = clustered.map(cluster::Remote::new);
        Arc::new(Self { state: Mutex::default(), events, window, node, remote })
    }

    /// The subscriber identifier a polling client's `handle` stands for, and the handle to give
    /// it back; a missing or unknown handle gets a new subscriber.
    pub(crate) fn polling_subscriber(&self, handle: Option<&str>) -> (Arc<str>, Arc<str>) {
        let now = Instant::now();
        let mut state = self.state.lock();
        if let Some((id, used)) = handle.and_then(|h| state.handles.get_mut(h)) {
            *used = now;
            let id = id.clone();
            let handle = state.handles.get_key_value(handle.unwrap_or_default()).map(|(h, _)| h.clone());
            if let Some(handle) = handle {
                return (id, handle);
            }
        }
        let (id, handle) = (new_subscriber_id(), new_subscriber_id());
        state.handles.insert(handle.clone(), (id.clone(), now));
        (id, handle)
    }

    /// Ends what lingered past its window and forgets unused polling handles; returns the
    /// subscriptions that ended (also sent as events).
    pub(crate) fn sweep(&self, now: Instant) -> Vec<Active> {
        let mut ended = Vec::new();
        {
            let mut state = self.state.lock();
            while state.lingering.front().is_some_and(|(deadline, _, _)| *deadline <= now) {
                let Some((_, key, subscriber)) = state.lingering.pop_front() else {
                    break;
                };
                let Some(subscribers) = state.by_matcher.get_mut(&key) else {
                    continue;
                };
                // Still lingering (not taken up again by a later request, nor re-lingering later).
                let over = subscribers
                    .get(&subscriber)
                    .is_some_and(|e| e.uses == 0 && e.lingers_until.is_some_and(|until| until <= now));
                if over {
                    let payload = subscribers.remove(&subscriber).and_then(|e| e.payload);
                    let left = subscribers.len();
                    if subscribers.is_empty() {
                        state.by_matcher.remove(&key);
                    }
                    ended.push((Active { matcher: key, subscriber, payload }, left));
                }
            }
            let window = self.window;
            state.handles.retain(|_, (_, used)| now.saturating_duration_since(*used) <= window * 2);
        }
        let actives = ended.iter().map(|(active, _)| active.clone()).collect();
        if let Some(events) = &self.events {
            events.send(ended, false);
        }
        actives
    }

    /// Records `subscriber` as using each of `matchers` (each with the payload its token gives
    /// that subscription) until the returned guard is dropped.
    /// A `lingering` subscription stays for the window after the guard is dropped (see the
    /// module's documentation).
    pub(crate) fn join(
        self: &Arc<Self>,
        subscriber: Arc<str>,
        matchers: &[(MatcherSpec, Option<Arc<Value>>)],
        lingering: bool,
    ) -> Joined {
        let mut keyed: Vec<(MatcherKey, Option<Arc<Value>>)> =
            matchers.iter().map(|(spec, payload)| (MatcherKey::of(spec), payload.clone())).collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        keyed.dedup_by(|a, b| a.0 == b.0);
        let keys: Vec<MatcherKey> = keyed.iter().map(|(key, _)| key.clone()).collect();
        let mut started = Vec::new();
        {
            let mut state = self.state.lock();
            for (key, payload) in &keyed {
                let mut fresh = false;
                let entry =
                    state.by_matcher.entry(key.clone()).or_default().entry(subscriber.clone()).or_insert_with(|| {
                        fresh = true;
                        Entry { payload: payload.clone(), uses: 0, lingers_until: None }
                    });
                entry.uses += 1;
                // Taken up again while lingering: still the same subscription, no event.
                entry.lingers_until = None;
                if fresh {
                    let now = state.by_matcher.get(key).map_or(0, HashMap::len);
                    let active =
                        Active { matcher: key.clone(), subscriber: subscriber.clone(), payload: payload.clone() };
                    started.push((active, now));
                }
            }
        }
        if let Some(events) = &self.events {
            events.send(started, true);
        }
        Joined { presence: self.clone(), subscriber, keys, lingering }
    }

    fn leave(&self, subscriber: &Arc<str>, keys: &[MatcherKey], lingering: bool) {
        let mut ended = Vec::new();
        {
            let until = Instant::now() + self.window;
            let state = &mut *self.state.lock();
            for key in keys {
                let Some(subscribers) = state.by_matcher.get_mut(key) else {
                    continue;
                };
                if let Some(entry) = subscribers.get_mut(subscriber) {
                    entry.uses = entry.uses.saturating_sub(1);
                    if entry.uses == 0 && lingering {
                        entry.lingers_until = Some(until);
                        state.lingering.push_back((until, key.clone(), subscriber.clone()));
                    } else if entry.uses == 0 {
                        let payload = subscribers.remove(subscriber).and_then(|e| e.payload);
                        let active = Active { matcher: key.clone(), subscriber: subscriber.clone(), payload };
                        ended.push((active, subscribers.len()));
                    }
                }
                if subscribers.is_empty() {
                    state.by_matcher.remove(key);
                }
            }
        }
        if let Some(events) = &self.events {
            events.send(ended, false);
        }
    }

    /// The active subscriptions of the whole cluster (this node's alone on a single node), of
    /// one matcher or of all, ordered by matcher then subscriber.
    pub(crate) fn list(&self, matcher: Option<&MatcherKey>) -> Vec<Active> {
        let mut out = self.unsorted_local(matcher);
        if let Some(remote) = &self.remote {
            out.extend(remote.list(matcher));
        }
        out.sort_by(|a, b| (&a.matcher, &a.subscriber).cmp(&(&b.matcher, &b.subscriber)));
        out
    }

    /// This node's own active subscriptions, in no order.
    fn unsorted_local(&self, matcher: Option<&MatcherKey>) -> Vec<Active> {
        let state = self.state.lock();
        let by_matcher = &state.by_matcher;
        match matcher {
            Some(key) => by_matcher.get_key_value(key).into_iter().flat_map(|(k, subs)| actives(k, subs)).collect(),
            None => by_matcher.iter().flat_map(|(k, subs)| actives(k, subs)).collect(),
        }
    }

    /// This node's own active subscriptions (what its snapshots tell the other nodes).
    pub(crate) fn list_local(&self) -> Vec<Active> {
        self.unsorted_local(None)
    }

    /// One subscription, if active (on any node).
    pub(crate) fn get(&self, matcher: &MatcherKey, subscriber: &str) -> Option<Active> {
        let local = {
            let state = self.state.lock();
            state.by_matcher.get(matcher).and_then(|subs| subs.get(subscriber)).map(|entry| Active {
                matcher: matcher.clone(),
                subscriber: subscriber.into(),
                payload: entry.payload.clone(),
            })
        };
        local.or_else(|| self.remote.as_ref().and_then(|remote| remote.get(matcher, subscriber)))
    }

    /// How many subscribers use `matcher` now (in the whole cluster): O(1) on one node.
    pub(crate) fn count(&self, matcher: &MatcherKey) -> usize {
        let local = self.state.lock().by_matcher.get(matcher).map_or(0, HashMap::len);
        local + self.remote.as_ref().map_or(0, |remote| remote.count(matcher))
    }

    /// The `n` matchers with the most subscribers, with their counts, most first.
    pub(crate) fn busiest(&self, n: usize) -> Vec<(MatcherKey, usize)> {
        let state = self.state.lock();
        let mut counts: Vec<(MatcherKey, usize)> =
            state.by_matcher.iter().map(|(k, subs)| (k.clone(), subs.len())).collect();
        drop(state);
        counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(n);
        counts
    }
}

fn actives<'a>(key: &'a MatcherKey, subscribers: &'a HashMap<Arc<str>, Entry>) -> impl Iterator<Item = Active> + 'a {
    subscribers.iter().map(move |(subscriber, entry)| Active {
        matcher: key.clone(),
        subscriber: subscriber.clone(),
        payload: entry.payload.clone(),
    })
}

/// A subscription's place in the registry: dropping it leaves.
#[derive(Debug)]
pub(crate) struct Joined {
    presence: Arc<Presence>,
    subscriber: Arc<str>,
    keys: Vec<MatcherKey>,
    lingering: bool,
}

impl Drop for Joined {
    fn drop(&mut self) {
        self.presence.leave(&self.subscriber, &self.keys, self.lingering);
    }
}

/// Sweeps `presence` every second until it is dropped.
pub(crate) fn start_sweeper(presence: &Arc<Presence>, runtime: &tokio::runtime::Handle) {
    let presence = Arc::downgrade(presence);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(presence) = presence.upgrade() else {
                return;
            };
            presence.sweep(Instant::now());
        }
    });
}

/// A fresh subscriber identifier: random, so it tells other subscribers nothing about who it is.
pub(crate) fn new_subscriber_id() -> Arc<str> {
    format!("urn:uuid:{}", uuid::Uuid::new_v4()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: MatchKind, value: &str) -> (MatcherSpec, Option<Arc<Value>>) {
        (MatcherSpec { kind, value: value.into() }, None)
    }

    fn key(match_type: &'static str, value: &str) -> MatcherKey {
        MatcherKey { match_type, value: value.into() }
    }

    #[test]
    fn subscribers_join_per_matcher_and_leave_when_their_guard_drops() {
        let presence = Presence::new(None, Duration::from_secs(5));
        let a =
            presence.join("a".into(), &[spec(MatchKind::Exact, "/t"), spec(MatchKind::UrlPattern, "/r/:id")], false);
        let payload = Arc::new(serde_json::json!({"name": "b"}));
        let with_payload = (spec(MatchKind::Exact, "/t").0, Some(payload.clone()));
        let b = presence.join("b".into(), &[with_payload], false);
        assert_eq!(presence.count(&key("exact", "/t")), 2);
        assert_eq!(presence.count(&key("urlpattern", "/r/:id")), 1);
        assert_eq!(presence.list(None).len(), 3);
        let on_t: Vec<_> = presence.list(Some(&key("exact", "/t"))).into_iter().map(|s| s.subscriber).collect();
        assert_eq!(on_t, [Arc::from("a"), Arc::from("b")]);
        assert_eq!(presence.get(&key("exact", "/t"), "b").and_then(|s| s.payload), Some(payload));
        assert_eq!(presence.busiest(1), [(key("exact", "/t"), 2)]);

        drop(a);
        assert_eq!(presence.count(&key("exact", "/t")), 1);
        assert_eq!(presence.count(&key("urlpattern", "/r/:id")), 0);
        assert!(presence.get(&key("exact", "/t"), "a").is_none());
        drop(b);
        assert!(presence.list(None).is_empty());
        assert!(presence.busiest(5).is_empty(), "no empty matcher is kept");
    }

    #[test]
    fn one_subscriber_using_a_matcher_twice_stays_until_both_uses_end() {
        let presence = Presence::new(None, Duration::from_secs(5));
        let first = presence.join("a".into(), &[spec(MatchKind::Exact, "/t"), spec(MatchKind::Exact, "/t")], false);
        let second = presence.join("a".into(), &[spec(MatchKind::Exact, "/t")], false);
        assert_eq!(presence.count(&key("exact", "/t")), 1);
        drop(first);
        assert_eq!(presence.count(&key("exact", "/t")), 1, "the second subscription still uses it");
        drop(second);
        assert_eq!(presence.count(&key("exact", "/t")), 0);
    }

    #[test]
    fn a_lingering_subscription_taken_up_within_the_window_stays_and_ends_after_it() {
        let presence = Presence::new(None, Duration::from_secs(5));
        let (id, handle) = presence.polling_subscriber(None);
        let first = presence.join(id.clone(), &[spec(MatchKind::Exact, "/t")], true);
        drop(first);
        assert_eq!(presence.count(&key("exact", "/t")), 1, "it lingers between two polls");
        let (again, same) = presence.polling_subscriber(Some(&handle));
        assert_eq!((&again, &same), (&id, &handle), "the handle keeps the identity");
        let second = presence.join(again, &[spec(MatchKind::Exact, "/t")], true);
        assert!(presence.sweep(Instant::now() + Duration::from_secs(6)).is_empty(), "taken up again: not ended");
        drop(second);
        assert!(presence.sweep(Instant::now() + Duration::from_secs(1)).is_empty(), "within the window");
        let ended = presence.sweep(Instant::now() + Duration::from_secs(6));
        assert_eq!(ended.iter().map(|a| a.subscriber.clone()).collect::<Vec<_>>(), [id]);
        assert_eq!(presence.count(&key("exact", "/t")), 0);
        let (other, _) = presence.polling_subscriber(Some("forged"));
        assert_ne!(&*other, "forged", "an unknown handle gets a new identity");
    }
}
