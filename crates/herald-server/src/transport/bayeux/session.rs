//! One Bayeux session: its subscriptions, its place in the hub's log, and the `/meta/connect`
//! that delivers to it.
//!
//! The session keeps, for each subscribed channel, the log position up to which that channel's
//! events were delivered (`from`). Its feed is one hub subscription over all its channels,
//! starting after the smallest `from`; an event is delivered when a channel that selects it has
//! not had it yet (`seq > from`). So the feed can be rebuilt at any time, from history, without
//! losing or repeating anything: when the channels change, when the session fell too far behind
//! (its queue overflowed), when the ack extension says a batch never arrived, when a client
//! resumes from an event id. A new channel starts at the newest event of the log, or after the
//! id the client gave (Herald's resume extension).
//!
//! Events reach the client only in `/meta/connect` replies, on every transport: a connect waits
//! for the first event (or its timeout), takes what else is queued, and is answered with them.
//! One connect is outstanding per session; a newer one replaces it (the older is answered at
//! once, with nothing, so a connection that silently died never holds events back). With the ack
//! extension, each reply with messages is a numbered batch, and a connect acknowledging an older
//! batch than the last one sent rewinds the session to resend what followed.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use herald_core::{Cursor, Ended, Event, Matcher, Subscription};
use parking_lot::Mutex;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::delivery;
use super::message::{Failure, Reconnect};
use crate::metrics::connections::{Open, Transport};
use crate::ops::{self, MatchKind, MatcherSpec, Publisher, SubscribeFailure, SubscribeRequest, Subscriber};
use crate::AppState;

/// Most events in one `/meta/connect` reply; the client connects again at once for the rest.
const EVENTS_PER_REPLY: usize = 1000;
/// Most replies remembered for acknowledgement; a client further behind resumes from the oldest.
const UNACKED_BATCHES: usize = 16;

/// A subscribed channel (or pattern) and how far it was delivered.
#[derive(Debug, Clone)]
struct Channel {
    name: String,
    /// Every event up to this log position that this channel selects was delivered (or
    /// predates the subscription).
    from: u64,
}

/// A reply with messages, not yet acknowledged.
#[derive(Debug)]
struct Sent {
    batch: u64,
    /// The position of its last event.
    last: u64,
    /// Each channel's `from` before the batch.
    before: Vec<(String, u64)>,
}

/// The feed a connect waits on, with the channels it was built for.
struct Feed {
    subscription: Subscription,
    generation: u64,
    matchers: Vec<(Matcher, u64)>,
}

#[derive(Debug)]
struct Inner {
    channels: Vec<Channel>,
    /// Bumped by every change that calls for a new feed.
    generation: u64,
    /// The feed between connects, when still valid.
    feed: Option<FeedSlot>,
    /// Where the client resumed from at its handshake (Herald's resume extension): channels
    /// subscribed before anything was delivered start there rather than at the newest event.
    resumed: Option<u64>,
    unacked: VecDeque<Sent>,
    next_batch: u64,
    /// The number of the newest connect; an older one still waiting was replaced.
    connects: u64,
    holding: bool,
    last_seen: Instant,
    ended: bool,
}

/// `Feed` is not `Debug`; the slot only says it is there.
struct FeedSlot(Feed);

impl std::fmt::Debug for FeedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Feed")
    }
}

/// What a `/meta/connect` found.
#[derive(Debug)]
pub(crate) enum Connected {
    /// The messages to deliver (possibly none) and, with the ack extension, the batch number.
    Delivered { messages: Vec<Bytes>, batch: Option<u64> },
    /// A newer `/meta/connect` of the same session took over.
    Replaced,
    /// The session cannot go on.
    Refused(Failure),
}

/// A Bayeux client's session.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) id: Arc<str>,
    pub(crate) client: Option<IpAddr>,
    pub(crate) subscriber: Subscriber,
    pub(crate) publisher: Publisher,
    /// The ack extension was negotiated.
    ack: bool,
    /// Replies are remembered until acknowledged: by the ack extension's batch number, or by
    /// the last event id the client has (Herald's extension, `ext.herald.lastEventId`).
    tracked: bool,
    inner: Mutex<Inner>,
    wake: Notify,
    _open: Open,
}

impl Session {
    pub(crate) fn new(
        id: Arc<str>,
        client: Option<IpAddr>,
        subscriber: Subscriber,
        publisher: Publisher,
        ack: bool,
        tracked: bool,
        resumed: Option<u64>,
    ) -> Self {
        let inner = Inner {
            channels: Vec::new(),
            generation: 0,
            feed: None,
            resumed,
            unacked: VecDeque::new(),
            next_batch: 1,
            connects: 0,
            holding: false,
            last_seen: Instant::now(),
            ended: false,
        };
        Self {
            id,
            client,
            subscriber,
            publisher,
            ack,
            tracked: ack || tracked,
            inner: Mutex::new(inner),
            wake: Notify::new(),
            _open: Open::new(Transport::Bayeux),
        }
    }

    /// Whether no `/meta/connect` came yet (the first is answered at once, with the advice).
    pub(crate) fn never_connected(&self) -> bool {
        self.inner.lock().connects == 0
    }

    /// Whether the session was idle (no connect waiting) for longer than `limit`.
    pub(crate) fn expired(&self, now: Instant, limit: Duration) -> bool {
        let inner = self.inner.lock();
        inner.ended || (!inner.holding && now.saturating_duration_since(inner.last_seen) > limit)
    }

    /// Ends the session: a waiting connect returns.
    pub(crate) fn end(&self) {
        let mut inner = self.inner.lock();
        inner.ended = true;
        inner.feed = None;
        drop(inner);
        self.wake.notify_waiters();
    }

    /// Adds channels, each starting after log position `from` (or where the session resumed
    /// from, if nothing was delivered since). Fails (changing nothing) when the session would
    /// hold more than `max` channels.
    pub(crate) fn subscribe(&self, names: &[String], from: u64, max: usize) -> Result<(), usize> {
        let mut inner = self.inner.lock();
        let from = inner.resumed.map_or(from, |resumed| resumed.min(from));
        let new: Vec<&String> = names.iter().filter(|n| !inner.channels.iter().any(|c| &c.name == *n)).collect();
        if inner.channels.len() + new.len() > max {
            return Err(max);
        }
        for name in new {
            inner.channels.push(Channel { name: name.clone(), from });
        }
        // Resubscribing with an earlier position rewinds an existing channel too.
        for channel in inner.channels.iter_mut().filter(|c| names.contains(&c.name)) {
            channel.from = channel.from.min(from);
        }
        self.changed(inner);
        Ok(())
    }

    /// Removes channels.
    pub(crate) fn unsubscribe(&self, names: &[String]) {
        let mut inner = self.inner.lock();
        inner.channels.retain(|c| !names.contains(&c.name));
        self.changed(inner);
    }

    /// Records a change of channels: the next connect builds a new feed.
    fn changed(&self, mut inner: parking_lot::MutexGuard<'_, Inner>) {
        inner.generation += 1;
        inner.feed = None;
        drop(inner);
        self.wake.notify_waiters();
    }

    /// Serves one `/meta/connect`: waits up to `hold` for events (none when zero), after
    /// acknowledging what the client says it has.
    pub(crate) async fn connect(&self, state: &AppState, hold: Duration, acked: Acked) -> Connected {
        let me = {
            let mut inner = self.inner.lock();
            if inner.ended {
                return Connected::Refused(Failure::unknown_client(&self.id));
            }
            inner.connects += 1;
            inner.holding = true;
            if self.tracked {
                inner.acknowledge(acked);
            }
            inner.connects
        };
        // An older connect still waiting returns now.
        self.wake.notify_waiters();
        let _holding = Holding { session: self, me };
        let deadline = Instant::now().checked_add(hold).unwrap_or_else(Instant::now);
        self.serve_connect(state, me, deadline).await
    }

    async fn serve_connect(&self, state: &AppState, me: u64, deadline: Instant) -> Connected {
        let mut store_failures = 0;
        loop {
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let plan = {
                let mut inner = self.inner.lock();
                if inner.connects != me {
                    return Connected::Replaced;
                }
                if inner.ended {
                    return Connected::Refused(Failure::unknown_client(&self.id));
                }
                match inner.feed.take() {
                    Some(FeedSlot(feed)) if feed.generation == inner.generation => Plan::Wait(feed),
                    _ if inner.channels.is_empty() => Plan::Idle,
                    _ => Plan::Build { channels: inner.channels.clone(), generation: inner.generation },
                }
            };
            let mut feed = match plan {
                Plan::Wait(feed) => feed,
                Plan::Idle => {
                    tokio::select! {
                        () = &mut woken => continue,
                        () = tokio::time::sleep_until(deadline) => {}
                        () = state.hub.draining() => {}
                    }
                    return self.nothing();
                }
                Plan::Build { channels, generation } => match self.build(state, channels, generation).await {
                    Ok(feed) => feed,
                    Err(failure) => return Connected::Refused(failure),
                },
            };
            let mut events = Vec::new();
            let outcome = tokio::select! {
                biased;
                () = &mut woken => None,
                received = std::future::poll_fn(|cx| feed.subscription.poll_recv_many(cx, &mut events, EVENTS_PER_REPLY)) => Some(received),
                () = tokio::time::sleep_until(deadline) => Some(Ok(0)),
                () = state.hub.draining() => Some(Ok(0)),
            };
            match outcome {
                // Replaced, ended or changed: look again.
                None => {
                    self.put_back(feed);
                    continue;
                }
                Some(Ok(_)) => {
                    if !events.is_empty() {
                        let room = EVENTS_PER_REPLY - events.len();
                        let _ = feed.subscription.try_recv_many(&mut events, room);
                    }
                    match self.commit(me, feed, &events) {
                        Some(connected) => return connected,
                        // The channels changed meanwhile: build again.
                        None => continue,
                    }
                }
                // Too far behind: the store has what the queue dropped.
                Some(Err(Ended::Overflowed)) => continue,
                Some(Err(Ended::StoreFailed)) => {
                    store_failures += 1;
                    if store_failures > 1 {
                        return Connected::Refused(
                            Failure::new(503, "", "history could not be read; retry").advise(Reconnect::Retry),
                        );
                    }
                }
                Some(Err(Ended::Expired)) => {
                    self.end();
                    return Connected::Refused(
                        Failure::new(401, "", "token expired: handshake with a new one").advise(Reconnect::Handshake),
                    );
                }
                // The hub is shutting down.
                Some(Err(Ended::Closed)) => return self.nothing(),
            }
        }
    }

    /// A reply with no messages.
    fn nothing(&self) -> Connected {
        let batch = self.ack.then(|| self.inner.lock().next_batch - 1);
        Connected::Delivered { messages: Vec::new(), batch }
    }

    fn put_back(&self, feed: Feed) {
        let mut inner = self.inner.lock();
        if feed.generation == inner.generation && !inner.ended && inner.feed.is_none() {
            inner.feed = Some(FeedSlot(feed));
        }
    }

    /// A feed over `channels`, starting after the smallest position any of them was delivered
    /// to (or the session's start).
    async fn build(&self, state: &AppState, channels: Vec<Channel>, generation: u64) -> Result<Feed, Failure> {
        let after = channels.iter().map(|c| c.from).min().unwrap_or_default();
        let matchers =
            channels.iter().filter_map(|c| Matcher::channel_pattern(&c.name).ok().map(|m| (m, c.from))).collect();
        let request = SubscribeRequest {
            matchers: channels.into_iter().map(|c| MatcherSpec { kind: MatchKind::Channel, value: c.name }).collect(),
            cursor: Some(Cursor::Position(after)),
        };
        match ops::subscribe(state, &self.subscriber, request).await {
            Ok(subscription) => Ok(Feed { subscription, generation, matchers }),
            Err(SubscribeFailure::Auth(e)) => Err(Failure::new(401, "", e.to_string()).advise(Reconnect::Handshake)),
            Err(e) => Err(Failure::new(503, "", e.to_string()).advise(Reconnect::Retry)),
        }
    }

    /// Turns the events a connect took into its reply and advances the channels; `None` when
    /// the channels changed since the feed was built (the events are dropped: a new feed will
    /// deliver them).
    fn commit(&self, me: u64, feed: Feed, events: &[Arc<Event>]) -> Option<Connected> {
        let mut inner = self.inner.lock();
        if inner.connects != me {
            return Some(Connected::Replaced);
        }
        if inner.ended {
            return Some(Connected::Refused(Failure::unknown_client(&self.id)));
        }
        if feed.generation != inner.generation {
            return None;
        }
        let messages: Vec<Bytes> =
            events.iter().filter_map(|event| deliverable(&feed.matchers, event)).map(|m| m.into_owned()).collect();
        let batch = match events.last() {
            Some(last) if self.tracked && !messages.is_empty() => {
                let batch = inner.next_batch;
                inner.next_batch += 1;
                let before = inner.channels.iter().map(|c| (c.name.clone(), c.from)).collect();
                inner.unacked.push_back(Sent { batch, last: last.seq, before });
                if inner.unacked.len() > UNACKED_BATCHES {
                    inner.unacked.pop_front();
                }
                batch
            }
            _ => inner.next_batch - 1,
        };
        let batch = self.ack.then_some(batch);
        if let Some(last) = events.last() {
            for channel in &mut inner.channels {
                channel.from = channel.from.max(last.seq);
            }
        }
        if !messages.is_empty() {
            inner.resumed = None;
        }
        inner.feed = Some(FeedSlot(feed));
        Some(Connected::Delivered { messages, batch })
    }
}

/// What a connect does next.
enum Plan {
    Wait(Feed),
    Idle,
    Build { channels: Vec<Channel>, generation: u64 },
}

/// The event's message, if a channel that selects it has not had it yet, on the first of its
/// topics such a channel selects.
fn deliverable<'e>(matchers: &[(Matcher, u64)], event: &'e Event) -> Option<std::borrow::Cow<'e, Bytes>> {
    event
        .topics
        .iter()
        .position(|topic| matchers.iter().any(|(m, from)| event.seq > *from && m.matches(topic)))
        .map(|topic| delivery::message(event, topic))
}

/// What a connect says the client has.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acked {
    /// The ack extension's last batch received.
    pub batch: Option<u64>,
    /// The log position of the last event received (Herald's extension).
    pub position: Option<u64>,
}

impl Inner {
    /// Forgets the replies the client has; if it lacks later ones, they were lost: rewinds the
    /// channels to what it has, so they are sent again.
    fn acknowledge(&mut self, acked: Acked) {
        let has = |sent: &Sent| {
            acked.batch.is_some_and(|b| sent.batch <= b) || acked.position.is_some_and(|p| sent.last <= p)
        };
        while self.unacked.front().is_some_and(has) {
            self.unacked.pop_front();
        }
        if acked.batch.is_none() && acked.position.is_none() {
            return;
        }
        let Some(first_lost) = self.unacked.front() else {
            return;
        };
        let before = first_lost.before.clone();
        // Events up to the position the client names did arrive (a reply is read in order).
        let floor = acked.position.unwrap_or(0);
        for channel in &mut self.channels {
            if let Some((_, from)) = before.iter().find(|(name, _)| *name == channel.name) {
                channel.from = channel.from.min((*from).max(floor));
            }
        }
        self.unacked.clear();
        self.generation += 1;
        self.feed = None;
    }
}

/// Marks the end of a connect, however it ends (answered, replaced, or dropped with its
/// connection): the session's idle time counts from here.
struct Holding<'a> {
    session: &'a Session,
    me: u64,
}

impl Drop for Holding<'_> {
    fn drop(&mut self) {
        let mut inner = self.session.inner.lock();
        if inner.connects == self.me {
            inner.holding = false;
            inner.last_seen = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A session on `/a` that sent two replies: events up to position 10, then up to 20.
    fn after_two_replies() -> Inner {
        let sent = |batch, last, before| Sent { batch, last, before: vec![("/a".to_owned(), before)] };
        Inner {
            channels: vec![Channel { name: "/a".into(), from: 20 }],
            generation: 0,
            feed: None,
            resumed: None,
            unacked: VecDeque::from([sent(1, 10, 0), sent(2, 20, 10)]),
            next_batch: 3,
            connects: 2,
            holding: false,
            last_seen: Instant::now(),
            ended: false,
        }
    }

    #[test]
    fn a_batch_acknowledged_before_the_last_sends_the_rest_again() {
        let mut inner = after_two_replies();
        inner.acknowledge(Acked { batch: Some(1), position: None });
        assert_eq!(inner.channels[0].from, 10, "batch 2 goes out again");
        assert!(inner.unacked.is_empty());
        assert_eq!(inner.generation, 1, "a new feed is built");
    }

    #[test]
    fn an_event_id_acknowledges_up_to_its_position() {
        let mut inner = after_two_replies();
        inner.acknowledge(Acked { batch: None, position: Some(15) });
        assert_eq!(inner.channels[0].from, 15, "what the client has of batch 2 is not sent again");
        let mut none_received = after_two_replies();
        none_received.acknowledge(Acked { batch: None, position: Some(0) });
        assert_eq!(none_received.channels[0].from, 0, "everything goes out again");
    }

    #[test]
    fn acknowledging_everything_or_nothing_changes_nothing() {
        let mut inner = after_two_replies();
        inner.acknowledge(Acked { batch: Some(2), position: None });
        assert_eq!((inner.channels[0].from, inner.generation), (20, 0));
        assert!(inner.unacked.is_empty(), "both forgotten");
        let mut silent = after_two_replies();
        silent.acknowledge(Acked::default());
        assert_eq!((silent.channels[0].from, silent.generation, silent.unacked.len()), (20, 0, 2));
    }
}
