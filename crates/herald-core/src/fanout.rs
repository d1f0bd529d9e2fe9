//! The fan-out thread: offers recorded events to the subscribers, apart from the publishers.
//!
//! Recording an event (its position, history, the dedup window) is quick; offering it to
//! 10,000 mailboxes takes milliseconds. So the two happen on different threads under different
//! locks: whoever records an event (a publisher without a store, the writer thread once the
//! event is durable, a shared log's follower) appends it to this queue and answers at once, and
//! one thread per hub takes everything queued and offers it to the registry, then wakes the
//! subscribers it reached. A publisher is never answered later because of the fan-out, and the
//! fan-out gathers what arrived meanwhile into one pass.
//!
//! The queue is bounded ([`QUEUE_EVENTS`]): when the subscribers' side falls that far behind,
//! recording waits for room (without holding the log's lock), so publishers are slowed to what
//! the fan-out can deliver rather than memory growing without end.

use std::sync::{Arc, Weak};
use std::task::Waker;

use parking_lot::{Condvar, Mutex};

use crate::event::Event;
use crate::hub::Hub;

/// Events recorded but not yet taken by the fan-out thread before recording waits for room
/// (one publisher's batch is never split, so it may go past this once).
pub(crate) const QUEUE_EVENTS: usize = 16_384;

/// Events waiting for the fan-out thread, in log order.
#[derive(Default)]
pub(crate) struct Queue {
    inner: Mutex<Inner>,
    /// Told when events are queued or the queue closes.
    work: Condvar,
    /// Told when the fan-out thread took what was queued: room for threads waiting to record.
    room: Condvar,
    /// The same, for tasks waiting to record.
    room_async: tokio::sync::Notify,
}

#[derive(Default)]
struct Inner {
    events: Vec<Arc<Event>>,
    /// Set when the hub is gone, or its fan-out thread could not start.
    closed: bool,
    /// Set by a test to keep the fan-out thread from taking anything.
    #[cfg(test)]
    held: bool,
}

impl Inner {
    /// Whether the fan-out thread has something to take now.
    fn ready(&self) -> bool {
        #[cfg(test)]
        if self.held && !self.closed {
            return false;
        }
        !self.events.is_empty()
    }
}

impl Queue {
    /// Appends `events`, recorded just now: the caller holds the log's lock, so that events
    /// are queued in the order of their positions.
    pub(crate) fn push(&self, events: &[Arc<Event>]) {
        let mut inner = self.inner.lock();
        let was_empty = inner.events.is_empty();
        inner.events.extend_from_slice(events);
        if was_empty {
            self.work.notify_one();
        }
    }

    /// Whether nothing is waiting for the fan-out thread (it may still be offering what it took).
    pub(crate) fn is_empty(&self) -> bool {
        self.inner.lock().events.is_empty()
    }

    /// Whether the fan-out thread takes what is queued (false once the hub is gone, or when
    /// the thread could not start).
    pub(crate) fn is_open(&self) -> bool {
        !self.inner.lock().closed
    }

    fn has_room(inner: &Inner) -> bool {
        inner.closed || inner.events.len() < QUEUE_EVENTS
    }

    /// Blocks until the queue has room (a thread that records: the writer, the follower).
    pub(crate) fn wait_for_room(&self) {
        let mut inner = self.inner.lock();
        while !Self::has_room(&inner) {
            self.room.wait(&mut inner);
        }
    }

    /// Waits until the queue has room (a publisher recording on its own task); false when it is
    /// closed instead.
    pub(crate) async fn room(&self) -> bool {
        loop {
            let told = self.room_async.notified();
            tokio::pin!(told);
            told.as_mut().enable();
            {
                let inner = self.inner.lock();
                if Self::has_room(&inner) {
                    return !inner.closed;
                }
            }
            told.await;
        }
    }

    /// Stops the fan-out thread once it has offered what is queued.
    pub(crate) fn close(&self) {
        self.inner.lock().closed = true;
        self.work.notify_all();
        self.room.notify_all();
        self.room_async.notify_waiters();
    }

    /// Waits for events and moves them all into `out` (empty); false once closed and empty.
    fn take(&self, out: &mut Vec<Arc<Event>>) -> bool {
        let mut inner = self.inner.lock();
        while !inner.ready() && !inner.closed {
            self.work.wait(&mut inner);
        }
        if inner.events.is_empty() {
            return false;
        }
        std::mem::swap(&mut inner.events, out);
        drop(inner);
        self.room.notify_all();
        self.room_async.notify_waiters();
        true
    }
}

#[cfg(test)]
impl Queue {
    /// Keeps the fan-out thread from taking events (`true`) until released (`false`).
    pub(crate) fn hold(&self, held: bool) {
        self.inner.lock().held = held;
        self.work.notify_all();
    }
}

/// Starts the fan-out thread of `hub`, taking from `queue`. If it cannot start, the queue is
/// closed: publishing then fails as if the hub were shutting down, and the log says why.
pub(crate) fn spawn(hub: Weak<Hub>, queue: Arc<Queue>) {
    let taken = queue.clone();
    let spawned = std::thread::Builder::new().name("herald-fanout".into()).spawn(move || run(&hub, &taken));
    if let Err(e) = spawned {
        tracing::error!("cannot start the fan-out thread: {e}");
        queue.close();
    }
}

fn run(hub: &Weak<Hub>, queue: &Queue) {
    let mut events = Vec::new();
    // The subscribers to wake after each pass; kept to reuse its allocation.
    let mut wakers: Vec<Waker> = Vec::new();
    while queue.take(&mut events) {
        let Some(hub) = hub.upgrade() else {
            break;
        };
        hub.offer(&events, &mut wakers);
        // The hub may be dropped here, on this thread: that closes the queue and ends the loop.
        drop(hub);
        events.clear();
        wakers.drain(..).for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::Context;

    use super::*;
    use crate::access::ReadAccess;
    use crate::config::HubConfig;
    use crate::event::Update;
    use crate::hub::Cursor;
    use crate::matcher::Matcher;
    use crate::subscription::Subscription;
    use crate::test_store::PATIENCE;

    fn update(data: &str) -> Update {
        Update::new("t", data)
    }

    async fn subscribe(hub: &Arc<Hub>, from: Option<Cursor>) -> Subscription {
        hub.subscribe(vec![Matcher::exact("t").unwrap()], ReadAccess::public_only(), from).await.unwrap()
    }

    async fn received(hub: &Hub, subscription: &mut Subscription) -> Vec<String> {
        hub.flush().await;
        std::iter::from_fn(|| subscription.try_recv()).map(|e| e.data.clone()).collect()
    }

    #[tokio::test]
    async fn publishers_are_answered_while_the_fan_out_is_busy() {
        let hub = Hub::new(HubConfig::default());
        let mut subscription = subscribe(&hub, None).await;
        // A fan-out pass in progress on another thread holds the registry.
        let (held, is_held) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn({
            let hub = hub.clone();
            move || {
                let _registry = hub.registry.lock();
                held.send(()).unwrap();
                let _ = released.recv();
            }
        });
        is_held.recv().unwrap();
        for i in 0..3 {
            let answered = tokio::time::timeout(PATIENCE, hub.publish(update(&i.to_string()))).await;
            assert_eq!(answered.expect("the publisher waited for the fan-out").unwrap().seq, i + 1);
        }
        assert_eq!(hub.head(), 3, "recorded");
        release.send(()).unwrap();
        holder.join().unwrap();
        assert_eq!(received(&hub, &mut subscription).await, ["0", "1", "2"]);
        assert_eq!(hub.stats().delivered, 3);
    }

    #[tokio::test]
    async fn subscribers_joining_before_recorded_events_are_offered_get_each_once() {
        let hub = Hub::new(HubConfig::default());
        let first = hub.publish(update("1")).await.unwrap();
        hub.flush().await;
        let mut early = subscribe(&hub, None).await;
        hub.fanout.hold(true);
        hub.publish(update("2")).await.unwrap();
        hub.publish(update("3")).await.unwrap();
        // Events 2 and 3 are recorded, not yet offered to anyone.
        let mut live = subscribe(&hub, None).await;
        let mut resuming = subscribe(&hub, Some(Cursor::After(first.id.to_string()))).await;
        let mut from_start = subscribe(&hub, Some(Cursor::Earliest)).await;
        let mut ahead = subscribe(&hub, Some(Cursor::Position(5))).await;
        assert_eq!(live.starts_after(), Some(&*hub.last_event_id().unwrap()), "it starts after event 3");
        hub.fanout.hold(false);
        hub.publish(update("4")).await.unwrap();
        assert_eq!(received(&hub, &mut early).await, ["2", "3", "4"]);
        assert_eq!(received(&hub, &mut live).await, ["4"]);
        assert_eq!(received(&hub, &mut resuming).await, ["2", "3", "4"]);
        assert_eq!(received(&hub, &mut from_start).await, ["1", "2", "3", "4"]);
        hub.publish(update("5")).await.unwrap();
        hub.publish(update("6")).await.unwrap();
        assert_eq!(received(&hub, &mut ahead).await, ["6"], "nothing at or before its position");
    }

    #[tokio::test]
    async fn events_nobody_watches_are_offered_without_the_fan_out_thread() {
        let hub = Hub::new(HubConfig::default());
        hub.fanout.hold(true);
        hub.publish(update("1")).await.unwrap();
        tokio::time::timeout(PATIENCE, hub.flush()).await.expect("it waited for the fan-out thread");
        // Once someone listens, events go through the thread.
        let mut live = subscribe(&hub, None).await;
        let mut from_start = subscribe(&hub, Some(Cursor::Earliest)).await;
        hub.publish(update("2")).await.unwrap();
        assert!(live.try_recv().is_none(), "offered while the fan-out thread was held");
        assert_eq!(hub.stats().delivered, 0);
        hub.fanout.hold(false);
        assert_eq!(received(&hub, &mut live).await, ["2"]);
        assert_eq!(received(&hub, &mut from_start).await, ["1", "2"]);
    }

    #[tokio::test]
    async fn recording_waits_for_room_when_the_fan_out_falls_behind() {
        let hub = Hub::new(HubConfig::default());
        let mut subscription = subscribe(&hub, None).await;
        hub.fanout.hold(true);
        // One batch may fill the queue at once, whole.
        let url = hub.config().hub_url.clone();
        let batch = (0..QUEUE_EVENTS).map(|i| update(&i.to_string()).into_valid(&url).unwrap()).collect();
        assert_eq!(hub.publish_batch_valid(batch).await.unwrap().len(), QUEUE_EVENTS);
        let mut next = Box::pin(hub.publish(update("next")));
        let waker = std::task::Waker::noop();
        assert!(next.as_mut().poll(&mut Context::from_waker(waker)).is_pending(), "recorded past the bound");
        assert_eq!(hub.stats().published, QUEUE_EVENTS as u64);
        hub.fanout.hold(false);
        let answered = tokio::time::timeout(PATIENCE, next).await.expect("no room was made");
        assert_eq!(answered.unwrap().seq, QUEUE_EVENTS as u64 + 1);
        hub.flush().await;
        // Its queue holds far fewer than the burst: it got the first events, then was dropped.
        assert_eq!(hub.stats().overflowed, 1);
        assert_eq!(subscription.try_recv().map(|event| event.data.clone()).as_deref(), Some("0"));
    }
}
