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
use crate::hub::{Hub, Joined};
use crate::mailbox::Mailbox;
use crate::retention::now_ms;
use crate::store::{Durable, StoreError};

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
    fn start(store: Durable, after: u64) -> Self {
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
    /// Once live: the last event recorded when it joined (see [`Joined::upto`]).
    joined_upto: Option<(u64, Arc<str>)>,
    expiry: Option<Pin<Box<Sleep>>>,
    ended: Option<Ended>,
    /// What lives as long as the subscription (see [`Subscription::hold`]).
    held: Option<Box<dyn std::any::Any + Send + Sync>>,
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
            joined_upto: None,
            expiry: None,
            ended: None,
            held: None,
        }
    }

    /// Keeps `value` until the subscription is dropped: a transport's record of the subscriber
    /// (its presence) ends exactly when the feed does, whatever the transport.
    pub fn hold(&mut self, value: Box<dyn std::any::Any + Send + Sync>) {
        self.held = Some(value);
    }

    pub(crate) fn set_live(&mut self, joined: Joined) {
        self.key = joined.key;
        self.replay.extend(joined.replay);
        self.joined_upto = joined.upto;
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

    /// Whether the events it hands over now come straight from the hub as they are published:
    /// its replay and its catch-up from the store are done.
    pub fn is_live(&self) -> bool {
        self.replay.is_empty() && self.catch_up.is_none()
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
        if self.ended.is_none() && self.expiry.as_ref().is_some_and(|expiry| expiry.deadline() <= Instant::now()) {
            self.end(Ended::Expired);
        }
        if self.ended == Some(Ended::Expired) {
            return Err(Ended::Expired);
        }
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
    /// subscription is live: then it is the newest event known to be past it when that is later
    /// (the last one offered to the subscribers, or the last recorded when it joined), so that
    /// the next poll does not scan again past events this subscriber does not want. That head
    /// is read before the final take, so no wanted event up to it can still be on its way.
    /// `Ok(None)` when no position is known (nothing taken, nothing in history); an error when
    /// the feed ended before anything was taken.
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
            // What was offered to every subscriber, or what was recorded when this one joined
            // (offered to others later, perhaps not yet): whichever is later.
            let offered = self.key.and_then(|key| self.hub.head_if_subscribed(key));
            let head = offered.into_iter().chain(self.joined_upto.clone()).max_by_key(|(seq, _)| *seq);
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
                Ok(joined) => self.set_live(joined),
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::{Wake, Waker};
    use std::time::Duration;

    use super::*;
    use crate::access::ReadAccess;
    use crate::config::HubConfig;
    use crate::event::Update;
    use crate::hub::Cursor;
    use crate::matcher::Matcher;
    use crate::test_store::{Call, Calls, TestStore, PATIENCE};

    /// A waker that counts how often it was woken.
    struct Counting(AtomicUsize);

    impl Wake for Counting {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting_waker() -> (Arc<Counting>, Waker) {
        let counter = Arc::new(Counting(AtomicUsize::new(0)));
        (counter.clone(), Waker::from(counter))
    }

    fn memory_hub(queue_capacity: usize) -> Arc<Hub> {
        Hub::new(HubConfig { queue_capacity, ..HubConfig::default() })
    }

    /// A hub over a store holding events 1 to `events` (ids `e1`...), the newest `cache` of
    /// them also in memory; the calls made while building it are forgotten.
    fn store_hub(events: u64, cache: u64) -> (Arc<Hub>, Arc<TestStore>, Calls) {
        let (store, mut calls) = TestStore::with_events(events);
        let hub = Hub::with_store(HubConfig { cache_size: cache, ..HubConfig::default() }, store.clone()).unwrap();
        calls.clear();
        (hub, store, calls)
    }

    /// An update on topic `t` with the id `e{n}`, like the events the test store holds.
    fn update(n: u64) -> Update {
        Update { topics: vec!["t".into()], data: n.to_string(), id: Some(format!("e{n}")), ..Update::default() }
    }

    async fn subscribe(hub: &Arc<Hub>, from: Option<Cursor>) -> Subscription {
        hub.subscribe(vec![Matcher::exact("t").unwrap()], ReadAccess::public_only(), from).await.unwrap()
    }

    fn after(id: &str) -> Option<Cursor> {
        Some(Cursor::After(id.into()))
    }

    async fn recv(subscription: &mut Subscription) -> Result<Arc<Event>, Ended> {
        tokio::time::timeout(PATIENCE, subscription.recv()).await.expect("no event came")
    }

    async fn recv_seqs(subscription: &mut Subscription, n: usize) -> Vec<u64> {
        let mut seqs = Vec::new();
        for _ in 0..n {
            seqs.push(recv(subscription).await.expect("an event").seq);
        }
        seqs
    }

    fn seqs(events: &[Arc<Event>]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn expire_at_ends_a_waiting_feed_at_the_deadline() {
        let hub = memory_hub(16);
        let mut subscription = subscribe(&hub, None).await;
        subscription.expire_at(Instant::now() + Duration::from_secs(60));
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        assert!(subscription.poll_recv_many(&mut cx, &mut out, 8).is_pending());

        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0, "not woken before the deadline");
        hub.publish(update(1)).await.unwrap();
        hub.settle();
        assert_eq!(subscription.poll_recv_many(&mut cx, &mut out, 8), Poll::Ready(Ok(1)), "still live");
        assert!(subscription.poll_recv_many(&mut cx, &mut out, 8).is_pending());
        let before = wakes.0.load(Ordering::SeqCst);

        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(wakes.0.load(Ordering::SeqCst) > before, "the deadline wakes the waiting subscriber");
        assert_eq!(subscription.poll_recv_many(&mut cx, &mut out, 8), Poll::Ready(Err(Ended::Expired)));
        assert_eq!(hub.stats().subscribers, 0, "it left the registry at once");
        hub.publish(update(2)).await.unwrap();
        hub.settle();
        assert_eq!(hub.stats().delivered, 1);
        assert_eq!(recv(&mut subscription).await.unwrap_err(), Ended::Expired, "and stays ended");
        assert_eq!(seqs(&out), [1]);
    }

    #[tokio::test(start_paused = true)]
    async fn expiry_wins_over_queued_events() {
        let hub = memory_hub(16);
        for n in 1..=3 {
            hub.publish(update(n)).await.unwrap();
        }
        let mut subscription = subscribe(&hub, Some(Cursor::Earliest)).await;
        subscription.expire_at(Instant::now() + Duration::from_secs(1));
        hub.publish(update(4)).await.unwrap();
        hub.settle();
        tokio::time::advance(Duration::from_secs(1)).await;
        // Three events to replay and one queued live, yet the rights ran out first.
        let mut out = Vec::new();
        assert_eq!(subscription.drain(10, &mut out).await, Err(Ended::Expired));
        assert!(out.is_empty());
        assert_eq!(recv(&mut subscription).await.unwrap_err(), Ended::Expired);
        assert_eq!(hub.stats().subscribers, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn taking_without_waiting_sees_the_expiry_too() {
        let hub = memory_hub(16);
        hub.publish(update(1)).await.unwrap();
        let mut subscription = subscribe(&hub, Some(Cursor::Earliest)).await;
        subscription.expire_at(Instant::now() + Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        let mut out = Vec::new();
        assert_eq!(subscription.try_recv_many(&mut out, 10), Err(Ended::Expired), "no timer poll needed");
        assert!(out.is_empty() && subscription.try_recv().is_none());
        assert_eq!(hub.stats().subscribers, 0);
    }

    #[tokio::test]
    async fn an_overflowed_feed_returns_what_it_holds_then_overflowed() {
        let hub = memory_hub(2);
        for n in 1..=2 {
            hub.publish(update(n)).await.unwrap();
        }
        let mut subscription = subscribe(&hub, Some(Cursor::Earliest)).await;
        for n in 3..=5 {
            hub.publish(update(n)).await.unwrap();
        }
        hub.flush().await;
        assert_eq!(hub.stats().overflowed, 1, "the third live event found its queue full");
        assert_eq!(hub.stats().subscribers, 0);
        // The replay, then the two queued live events, then the end: event 5 never comes.
        assert_eq!(recv_seqs(&mut subscription, 4).await, [1, 2, 3, 4]);
        assert_eq!(recv(&mut subscription).await.unwrap_err(), Ended::Overflowed);
        let mut out = Vec::new();
        assert_eq!(subscription.drain(10, &mut out).await, Err(Ended::Overflowed));
    }

    #[tokio::test]
    async fn catching_up_reads_store_pages_off_the_runtime_thread() {
        let (store, mut calls) = TestStore::with_events(10);
        let hub = Hub::with_store(HubConfig { cache_size: 2, ..HubConfig::default() }, store.clone()).unwrap();
        let here = std::thread::current().id();
        // The fixture records threads faithfully: building the hub reads inline, on this one.
        assert_eq!(calls.next().await, Call::Read { after: 8, thread: here });

        let mut subscription = subscribe(&hub, after("e3")).await;
        assert_eq!(subscription.resumed_from(), Some("e3"));
        assert_eq!(hub.stats().subscribers, 0, "unregistered while catching up");
        assert_eq!(recv_seqs(&mut subscription, 7).await, (4..=10).collect::<Vec<_>>());
        let Call::Read { after, thread } = calls.next().await else { panic!("a store read") };
        assert_eq!(after, 3);
        assert_ne!(thread, here, "the page was read on the blocking pool, not on the runtime's thread");

        // Memory covers the rest: it joins the live feed, with what was published meanwhile.
        hub.publish(update(11)).await.unwrap();
        assert_eq!(recv_seqs(&mut subscription, 1).await, [11]);
        assert_eq!(hub.stats().subscribers, 1);
        hub.publish(update(12)).await.unwrap();
        assert_eq!(recv_seqs(&mut subscription, 1).await, [12]);
        assert!(calls.so_far().iter().all(|call| matches!(call, Call::Append { .. })), "no other read");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_blocked_store_read_holds_up_only_its_own_subscriber() {
        let (hub, store, mut calls) = store_hub(10, 2);
        store.reads.close();
        // As many subscribers catching up as there are async workers: if their store reads ran
        // inside a poll, they would hold both workers and no task could receive anything.
        let mut readers = Vec::new();
        for _ in 0..2 {
            let mut subscription = subscribe(&hub, after("e3")).await;
            readers.push(tokio::spawn(async move { recv_seqs(&mut subscription, 8).await }));
        }
        for _ in 0..2 {
            assert!(matches!(calls.next().await, Call::Read { after: 3, .. }));
        }
        let mut live = subscribe(&hub, None).await;
        let listener = tokio::spawn(async move { recv(&mut live).await.map(|e| e.seq) });
        let published = hub.publish(update(11)).await.unwrap();
        let received = tokio::time::timeout(PATIENCE, listener).await.expect("the live subscriber is held up");
        assert_eq!(received.unwrap(), Ok(published.seq));
        assert!(readers.iter().all(|reader| !reader.is_finished()), "the readers still wait for the store");

        store.reads.open();
        for reader in readers {
            let seqs = tokio::time::timeout(PATIENCE, reader).await.unwrap().unwrap();
            assert_eq!(seqs, (4..=11).collect::<Vec<_>>(), "the store up to 10, then 11 from memory");
        }
    }

    #[tokio::test]
    async fn a_failing_store_read_ends_the_feed_after_the_events_already_read() {
        let (hub, store, _calls) = store_hub(10, 2);
        store.page.store(3, Ordering::SeqCst);
        let mut subscription = subscribe(&hub, after("e1")).await;
        assert_eq!(recv_seqs(&mut subscription, 1).await, [2]);
        // The first page (2 to 4) is in; reading the next one fails.
        store.fail_reads.store(true, Ordering::SeqCst);
        assert_eq!(recv_seqs(&mut subscription, 2).await, [3, 4]);
        assert_eq!(recv(&mut subscription).await.unwrap_err(), Ended::StoreFailed);
        assert_eq!(recv(&mut subscription).await.unwrap_err(), Ended::StoreFailed, "it stays ended");
        let mut out = Vec::new();
        assert_eq!(subscription.drain(10, &mut out).await, Err(Ended::StoreFailed));
        assert_eq!(hub.stats().subscribers, 0, "it never joined the live feed");
        store.fail_reads.store(false, Ordering::SeqCst);
        hub.publish(update(11)).await.unwrap();
        hub.flush().await;
        assert!(subscription.try_recv().is_none());
    }

    #[tokio::test]
    async fn drain_waits_for_store_pages_and_meets_the_live_feed_without_gap_or_duplicate() {
        let (hub, store, mut calls) = store_hub(10, 2);
        store.page.store(4, Ordering::SeqCst);
        store.reads.close();
        let mut subscription = subscribe(&hub, after("e3")).await;
        let draining = tokio::spawn(async move {
            let mut out = Vec::new();
            let next = subscription.drain(5, &mut out).await;
            (subscription, out, next)
        });
        assert!(matches!(calls.next().await, Call::Read { after: 3, .. }));
        assert!(!draining.is_finished(), "drain waits for the page being read");
        // Published while the subscriber catches up: stored and delivered, but not to it.
        assert_eq!(hub.publish(update(11)).await.unwrap().seq, 11);
        assert_eq!(hub.publish(update(12)).await.unwrap().seq, 12);
        store.reads.open();

        let (mut subscription, out, next) = tokio::time::timeout(PATIENCE, draining).await.unwrap().unwrap();
        assert_eq!(seqs(&out), [4, 5, 6, 7, 8], "a page of four, and one of the next page");
        assert_eq!(next, Ok(Some("e8".into())), "resume after the last event taken");
        let mut all = out;

        let mut out = Vec::new();
        let next = subscription.drain(100, &mut out).await;
        assert_eq!(seqs(&out), [9, 10, 11, 12]);
        assert_eq!(next, Ok(Some("e12".into())));
        assert_eq!(hub.stats().subscribers, 1, "caught up: live");
        all.extend(out);

        hub.publish(update(13)).await.unwrap();
        let other = Update { topics: vec!["other".into()], ..update(14) };
        hub.publish(other).await.unwrap();
        hub.flush().await;
        let mut out = Vec::new();
        let next = subscription.drain(100, &mut out).await;
        assert_eq!(seqs(&out), [13]);
        assert_eq!(next, Ok(Some("e14".into())), "past the newest event it does not want");
        all.extend(out);
        let mut out = Vec::new();
        assert_eq!(subscription.drain(100, &mut out).await, Ok(Some("e14".into())));
        assert!(out.is_empty());

        assert_eq!(seqs(&all), (4..=13).collect::<Vec<_>>(), "every event once, in order");
        let reads: Vec<u64> = calls
            .so_far()
            .into_iter()
            .filter_map(|call| match call {
                Call::Read { after, .. } => Some(after),
                Call::Append { .. } => None,
            })
            .collect();
        assert_eq!(reads, [7], "after the first page, one more page was read");
    }

    #[tokio::test]
    async fn a_poll_past_events_not_yet_offered_never_moves_its_cursor_back() {
        let hub = memory_hub(16);
        let other = |n| Update { topics: vec!["other".into()], ..update(n) };
        hub.publish(update(1)).await.unwrap();
        hub.flush().await;
        // Events 2 and 3 are recorded, not offered to anyone yet; the poller has seen 2.
        hub.fanout.hold(true);
        hub.publish(other(2)).await.unwrap();
        hub.publish(other(3)).await.unwrap();
        let mut polling = subscribe(&hub, after("e2")).await;
        let mut out = Vec::new();
        let next = polling.drain(100, &mut out).await;
        assert!(out.is_empty());
        assert_eq!(next, Ok(Some("e3".into())), "past what it saw, not back to the last event offered (e1)");
        hub.fanout.hold(false);
        hub.publish(update(4)).await.unwrap();
        hub.flush().await;
        assert_eq!(polling.drain(100, &mut out).await, Ok(Some("e4".into())));
        assert_eq!(seqs(&out), [4]);
    }

    #[tokio::test]
    async fn a_batch_stored_but_not_yet_delivered_reaches_a_catching_up_subscriber_once() {
        let (hub, store, mut calls) = store_hub(10, 2);
        store.appends.close();
        let publisher = tokio::spawn({
            let hub = hub.clone();
            async move { hub.publish(update(11)).await }
        });
        assert_eq!(calls.next().await, Call::Append { len: 1 });
        // Event 11 is in the store, and the writer has not delivered it yet.
        let mut subscription = subscribe(&hub, after("e3")).await;
        assert_eq!(recv_seqs(&mut subscription, 7).await, (4..=10).collect::<Vec<_>>());
        assert!(matches!(calls.next().await, Call::Read { after: 3, .. }));
        // Nothing more to read up to what was delivered: it joins the live feed and waits.
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        assert!(subscription.poll_recv_many(&mut cx, &mut out, 8).is_pending());
        assert_eq!(hub.stats().subscribers, 1);

        store.appends.open();
        let published = tokio::time::timeout(PATIENCE, publisher).await.unwrap().unwrap().unwrap();
        assert_eq!(published.seq, 11);
        // The writer answers its publishers; the fan-out thread offers the event and wakes it.
        tokio::time::timeout(PATIENCE, async {
            while wakes.0.load(Ordering::SeqCst) == 0 {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the subscriber was never woken");
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(subscription.poll_recv_many(&mut cx, &mut out, 8), Poll::Ready(Ok(1)));
        assert_eq!(seqs(&out), [11]);
        assert!(subscription.poll_recv_many(&mut cx, &mut out, 8).is_pending(), "event 11 came once");
    }
}
