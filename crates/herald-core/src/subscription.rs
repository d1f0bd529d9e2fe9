//! One subscriber's feed: replayed history first, then live events, in log order.
//!
//! A subscription that resumes from within the in-memory history is registered at once, with its
//! replay taken under the same lock. One that resumes from further back (only possible with a
//! durable store) first *catches up*: it reads the store page by page as its reader consumes,
//! unregistered so that no live event can overflow its queue meanwhile, and registers, under
//! the lock, as soon as memory covers the rest. Store pages are read inline; an embedded store
//! answers them from its caches in microseconds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::event::Event;
use crate::hub::Hub;
use crate::mailbox::Mailbox;
use crate::retention::now_ms;

/// Events read from the store per step while catching up.
const PAGE: usize = 256;

/// The state of a subscription still reading history from the store.
pub(crate) struct CatchUp {
    /// The position of the last event considered.
    pub after: u64,
    /// The subscriber's mailbox, registered once it joins the live feed.
    pub mailbox: Arc<Mailbox>,
}

/// A subscriber's feed. The stream ends (`None`) when the subscriber fell too far behind, the
/// store failed, or the hub shut down. Dropping it unregisters the subscriber.
pub struct Subscription {
    hub: Arc<Hub>,
    key: Option<u64>,
    catch_up: Option<Box<CatchUp>>,
    replay: VecDeque<Arc<Event>>,
    mailbox: Arc<Mailbox>,
    resumed_from: Option<String>,
    starts_after: Option<Arc<str>>,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").field("key", &self.key).field("resumed_from", &self.resumed_from).finish()
    }
}

impl Subscription {
    pub(crate) fn new(hub: Arc<Hub>, mailbox: Arc<Mailbox>, resumed_from: Option<String>) -> Self {
        Self { hub, key: None, catch_up: None, replay: VecDeque::new(), mailbox, resumed_from, starts_after: None }
    }

    pub(crate) fn set_live(&mut self, key: Option<u64>, replay: Vec<Arc<Event>>) {
        self.key = key;
        self.replay.extend(replay);
    }

    pub(crate) fn set_catching_up(&mut self, catch_up: Box<CatchUp>) {
        self.catch_up = Some(catch_up);
    }

    pub(crate) fn set_starts_after(&mut self, head: Option<Arc<str>>) {
        self.starts_after = head;
    }

    /// For a subscriber that started live (without a cursor): the id of the newest event
    /// published before it started, if history holds one. A client that resumes from it misses
    /// nothing, even if its connection drops before its first event.
    pub fn starts_after(&self) -> Option<&str> {
        self.starts_after.as_deref()
    }

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
        let mut one = Vec::with_capacity(1);
        self.poll_recv_many(cx, &mut one, 1).map(|_| one.pop())
    }

    /// Polls for the events waiting: moves up to `max` of them into `out` (waiting when there
    /// are none) and returns how many; `Ready(0)` means the feed ended. Transports write each
    /// batch at once.
    pub fn poll_recv_many(&mut self, cx: &mut Context<'_>, out: &mut Vec<Arc<Event>>, max: usize) -> Poll<usize> {
        if max == 0 {
            return Poll::Ready(0);
        }
        loop {
            if !self.replay.is_empty() {
                let n = self.replay.len().min(max);
                out.extend(self.replay.drain(..n));
                return Poll::Ready(n);
            }
            match self.catch_up.take() {
                Some(catch_up) => {
                    if !self.catch_up_step(catch_up) {
                        return Poll::Ready(0);
                    }
                }
                None => return self.mailbox.poll_take(cx, out, max),
            }
        }
    }

    /// The next event if one is already waiting.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        let mut one = Vec::with_capacity(1);
        self.try_recv_many(&mut one, 1);
        one.pop()
    }

    /// Moves up to `max` events that are already waiting into `out`; returns how many.
    pub fn try_recv_many(&mut self, out: &mut Vec<Arc<Event>>, max: usize) -> usize {
        let mut taken = 0;
        while taken < max {
            if !self.replay.is_empty() {
                let n = self.replay.len().min(max - taken);
                out.extend(self.replay.drain(..n));
                taken += n;
                continue;
            }
            match self.catch_up.take() {
                Some(catch_up) => {
                    if !self.catch_up_step(catch_up) {
                        break;
                    }
                }
                None => {
                    taken += self.mailbox.take(out, max - taken);
                    break;
                }
            }
        }
        taken
    }

    /// For polling transports: moves up to `max` waiting events into `out` and returns the id to
    /// poll from next. That is the last event taken, unless every waiting event was taken while
    /// the subscription is live: then it is the newest event of the hub-wide log when that is
    /// later, so that the next poll does not scan again past events this subscriber does not
    /// want. The log head is read before the final drain, so no wanted event up to it can still
    /// be on its way. `None` when no position is known (nothing taken, nothing in history).
    pub fn drain(&mut self, max: usize, out: &mut Vec<Arc<Event>>) -> Option<Arc<str>> {
        self.try_recv_many(out, max.saturating_sub(out.len()));
        if out.len() < max {
            let head = self.key.and_then(|key| self.hub.head_if_subscribed(key));
            self.try_recv_many(out, max - out.len());
            if out.len() < max {
                if let Some((seq, id)) = head {
                    if out.last().is_none_or(|last| last.seq < seq) {
                        return Some(id);
                    }
                }
            }
        }
        out.last().map(|event| event.id.clone())
    }

    /// After the feed ended: true when it ended because this subscriber fell too far behind
    /// (its transport should then drop the connection at once rather than end it cleanly).
    pub fn overflowed(&self) -> bool {
        self.key.is_some_and(|key| self.hub.take_overflowed(key))
    }

    /// Reads one more page from the store, or registers once memory covers the rest.
    /// Returns false when the feed must end (store failure).
    fn catch_up_step(&mut self, catch_up: Box<CatchUp>) -> bool {
        // Past what was delivered, the store may already hold a batch that is not delivered
        // yet: reading stops before it, since registering will receive it live.
        let (mut catch_up, delivered_upto) = match self.hub.join_live(catch_up) {
            Ok((key, replay)) => {
                self.set_live(key, replay);
                return true;
            }
            Err(behind) => behind,
        };
        let retention = self.hub.config().retention;
        let Some(store) = &self.hub.store else {
            return false;
        };
        let page = match store.read_after(catch_up.after, PAGE) {
            Ok(page) => page,
            Err(e) => {
                tracing::error!("catching up from the store failed: {e}");
                return false;
            }
        };
        let now = now_ms();
        let mut considered = 0;
        for event in page.into_iter().take_while(|e| e.seq <= delivered_upto) {
            considered += 1;
            catch_up.after = event.seq;
            if !retention.expired(event.published_ms, now) && catch_up.mailbox.selection.wants(&event) {
                self.replay.push_back(event);
            }
        }
        if considered == 0 {
            // Nothing more in the store up to what was delivered: memory covers the rest.
            catch_up.after = delivered_upto;
        }
        self.catch_up = Some(catch_up);
        true
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.hub.unsubscribe(key);
        }
    }
}
