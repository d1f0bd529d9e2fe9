//! One subscriber's feed: replayed history first, then live events, in log order, until it ends
//! for a reason the transport can act on ([`Ended`]).
//!
//! A subscription that resumes from within the in-memory history is registered at once, with its
//! replay taken under the same lock. One that resumes from further back (only possible with a
//! durable store) first *catches up*: it reads the store page by page as its reader consumes,
//! unregistered so that no live event can overflow its queue meanwhile, and registers, under
//! the lock, as soon as memory covers the rest. Store pages are read on tokio's blocking pool,
//! never inside a poll on an async worker, so a slow disk delays only this subscriber.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use tokio::task::JoinHandle;
use tokio::time::{Instant, Sleep};

use crate::event::Event;
use crate::hub::Hub;
use crate::mailbox::Mailbox;
use crate::retention::now_ms;
use crate::store::{Store, StoreError};

/// Events read from the store per step while catching up.
const STORE_PAGE: usize = 256;

/// Why a subscription's feed ended, like tokio's `RecvError`: each transport maps it once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ended {
    /// The hub closed it (it is shutting down).
    Closed,
    /// The subscriber fell too far behind: its queue overflowed. It resumes from history.
    Overflowed,
    /// Reading history from the store failed.
    StoreFailed,
    /// The subscriber's rights expired (its token's `exp`, see [`Subscription::expire_at`]).
    Expired,
}

impl fmt::Display for Ended {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Closed => "the hub is shutting down",
            Self::Overflowed => "too far behind: reconnect with your last event id",
            Self::StoreFailed => "history could not be read: reconnect with your last event id",
            Self::Expired => "token expired: reconnect with a new one",
        })
    }
}

impl std::error::Error for Ended {}

/// A page of history being read from the store.
enum PageRead {
    /// On the blocking pool.
    Reading(JoinHandle<Result<Vec<Arc<Event>>, StoreError>>),
    /// Read inline, outside a tokio runtime.
    Done(Option<Result<Vec<Arc<Event>>, StoreError>>),
}

impl PageRead {
    fn start(store: Arc<dyn Store>, after: u64) -> Self {
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => Self::Reading(runtime.spawn_blocking(move || store.read_after(after, STORE_PAGE))),
            Err(_) => Self::Done(Some(store.read_after(after, STORE_PAGE))),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<Arc<Event>>, String>> {
        match self {
            Self::Reading(task) => Pin::new(task).poll(cx).map(|joined| match joined {
                Ok(page) => page.map_err(|e| e.to_string()),
                Err(e) => Err(format!("the store read stopped: {e}")),
            }),
            Self::Done(page) => Poll::Ready(match page.take() {
                Some(page) => page.map_err(|e| e.to_string()),
                None => Err("the store page was already taken".to_owned()),
            }),
        }
    }
}

/// The state of a subscription still reading history from the store.
pub(crate) struct CatchUp {
    /// The position of the last event considered.
    pub after: u64,
    /// The subscriber's mailbox, registered once it joins the live feed.
    pub mailbox: Arc<Mailbox>,
    /// The page being read, and the last delivered position it may reach.
    reading: Option<(PageRead, u64)>,
}

impl CatchUp {
    pub(crate) fn new(after: u64, mailbox: Arc<Mailbox>) -> Box<Self> {
        Box::new(Self { after, mailbox, reading: None })
    }
}

/// A subscriber's feed. It ends ([`Ended`]) when the subscriber fell too far behind, the store
/// failed, its rights expired, or the hub shut down. Dropping it unregisters the subscriber.
pub struct Subscription {
    hub: Arc<Hub>,
    key: Option<u64>,
    catch_up: Option<Box<CatchUp>>,
    replay: VecDeque<Arc<Event>>,
    mailbox: Arc<Mailbox>,
    resumed_from: Option<String>,
    starts_after: Option<Arc<str>>,
    expiry: Option<Pin<Box<Sleep>>>,
    ended: Option<Ended>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("key", &self.key)
            .field("resumed_from", &self.resumed_from)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    pub(crate) fn new(hub: Arc<Hub>, mailbox: Arc<Mailbox>, resumed_from: Option<String>) -> Self {
        Self {
            hub,
            key: None,
            catch_up: None,
            replay: VecDeque::new(),
            mailbox,
            resumed_from,
            starts_after: None,
            expiry: None,
            ended: None,
        }
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

    /// Ends the feed at `deadline` with [`Ended::Expired`] (the subscriber's token expiry).
    pub fn expire_at(&mut self, deadline: Instant) {
        self.expiry = Some(Box::pin(tokio::time::sleep_until(deadline)));
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
    pub async fn recv(&mut self) -> Result<Arc<Event>, Ended> {
        let mut one = Vec::with_capacity(1);
        std::future::poll_fn(|cx| self.poll_recv_many(cx, &mut one, 1)).await?;
        one.pop().ok_or(Ended::Closed)
    }

    /// Polls for the events waiting: moves up to `max` of them into `out` (waiting when there
    /// are none) and returns how many, or why the feed ended. Transports write each batch at once.
    pub fn poll_recv_many(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Arc<Event>>,
        max: usize,
    ) -> Poll<Result<usize, Ended>> {
        self.poll_feed(cx, out, max, true)
    }

    /// Moves up to `max` events already in memory into `out` (replay and queue; this never
    /// reads the store) and returns how many, or why the feed ended.
    pub fn try_recv_many(&mut self, out: &mut Vec<Arc<Event>>, max: usize) -> Result<usize, Ended> {
        let mut taken = self.take_replay(out, max);
        if taken < max && self.catch_up.is_none() {
            if let Some(why) = self.ended {
                return if taken == 0 { Err(why) } else { Ok(taken) };
            }
            match self.mailbox.take(out, max - taken) {
                Ok(n) => taken += n,
                Err(why) if taken == 0 => return Err(why),
                Err(_) => {}
            }
        }
        Ok(taken)
    }

    /// The next event if one is already in memory.
    pub fn try_recv(&mut self) -> Option<Arc<Event>> {
        let mut one = Vec::with_capacity(1);
        self.try_recv_many(&mut one, 1).ok()?;
        one.pop()
    }

    /// For polling transports: moves up to `max` events into `out` without waiting for new ones
    /// (it waits only for history being read from the store) and returns the id to poll from
    /// next. That is the last event taken, unless every waiting event was taken while the
    /// subscription is live: then it is the newest event of the hub-wide log when that is later,
    /// so that the next poll does not scan again past events this subscriber does not want. The
    /// log head is read before the final take, so no wanted event up to it can still be on its
    /// way. `Ok(None)` when no position is known (nothing taken, nothing in history); an error
    /// when the feed ended before anything was taken.
    pub async fn drain(&mut self, max: usize, out: &mut Vec<Arc<Event>>) -> Result<Option<Arc<str>>, Ended> {
        while out.len() < max {
            let room = max - out.len();
            match std::future::poll_fn(|cx| self.poll_feed(cx, out, room, false)).await {
                Ok(0) => break,
                Ok(_) => {}
                Err(why) if out.is_empty() => return Err(why),
                Err(_) => break,
            }
        }
        if out.len() < max && self.catch_up.is_none() {
            let head = self.key.and_then(|key| self.hub.head_if_subscribed(key));
            let _ = self.mailbox.take(out, max - out.len());
            if out.len() < max {
                if let Some((seq, id)) = head {
                    if out.last().is_none_or(|last| last.seq < seq) {
                        return Ok(Some(id));
                    }
                }
            }
        }
        Ok(out.last().map(|event| event.id.clone()))
    }

    /// Takes from the replay; returns how many.
    fn take_replay(&mut self, out: &mut Vec<Arc<Event>>, max: usize) -> usize {
        let n = self.replay.len().min(max);
        out.extend(self.replay.drain(..n));
        n
    }

    /// The feed: expiry first, then the replay, then the store pages, then the live queue
    /// (waited for when `wait_live`, else taken as it is).
    fn poll_feed(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Arc<Event>>,
        max: usize,
        wait_live: bool,
    ) -> Poll<Result<usize, Ended>> {
        if max == 0 {
            return Poll::Ready(Ok(0));
        }
        if self.ended.is_none() && self.expiry.as_mut().is_some_and(|expiry| expiry.as_mut().poll(cx).is_ready()) {
            self.end(Ended::Expired);
        }
        if self.ended == Some(Ended::Expired) {
            return Poll::Ready(Err(Ended::Expired));
        }
        loop {
            let n = self.take_replay(out, max);
            if n > 0 {
                return Poll::Ready(Ok(n));
            }
            if let Some(why) = self.ended {
                return Poll::Ready(Err(why));
            }
            let Some(catch_up) = self.catch_up.take() else {
                return if wait_live {
                    self.mailbox.poll_take(cx, out, max)
                } else {
                    Poll::Ready(self.mailbox.take(out, max))
                };
            };
            ready!(self.poll_catch_up(cx, catch_up));
        }
    }

    /// One step of catching up: registers once memory covers the rest, else reads (or finishes
    /// reading) one more page from the store into the replay.
    fn poll_catch_up(&mut self, cx: &mut Context<'_>, mut catch_up: Box<CatchUp>) -> Poll<()> {
        let Some((mut read, delivered_upto)) = catch_up.reading.take() else {
            // Past what was delivered, the store may already hold a batch that is not delivered
            // yet: reading stops before it, since registering will receive it live.
            match self.hub.join_live(catch_up) {
                Ok((key, replay)) => self.set_live(key, replay),
                Err((mut catch_up, delivered_upto)) => match &self.hub.store {
                    Some(store) => {
                        catch_up.reading = Some((PageRead::start(store.clone(), catch_up.after), delivered_upto));
                        self.catch_up = Some(catch_up);
                    }
                    None => self.end(Ended::StoreFailed),
                },
            }
            return Poll::Ready(());
        };
        let page = match read.poll(cx) {
            Poll::Pending => {
                catch_up.reading = Some((read, delivered_upto));
                self.catch_up = Some(catch_up);
                return Poll::Pending;
            }
            Poll::Ready(Ok(page)) => page,
            Poll::Ready(Err(e)) => {
                tracing::error!("catching up from the store failed: {e}");
                self.end(Ended::StoreFailed);
                return Poll::Ready(());
            }
        };
        let retention = self.hub.config().retention;
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
        Poll::Ready(())
    }

    /// Ends the feed for `why`, leaving the hub's registry at once.
    fn end(&mut self, why: Ended) {
        self.ended.get_or_insert(why);
        self.catch_up = None;
        if let Some(key) = self.key.take() {
            self.hub.unsubscribe(key);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.hub.unsubscribe(key);
        }
    }
}
