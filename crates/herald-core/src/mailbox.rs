//! A subscriber's bounded queue: the hub pushes shared events in, the subscriber's connection
//! task takes them out in batches.
//!
//! Fan-out pushes one event into thousands of these per publish, so a push is kept to one
//! short uncontended lock and no allocation in the steady state. The consumer is woken only
//! when it is waiting, once per batch rather than once per event; it then takes everything
//! queued under one lock, so its transport can write the whole batch with one system call. An
//! empty queue that grew during a burst gives its buffer back, so idle connections stay small.
//!
//! A burst fills the queues of thousands of subscribers together, and a queue doubles as it
//! grows: were they all the same size, every one of them would be reallocated on the same
//! publish (at 10,000 subscribers, each 2^k-th event of a burst took the writer 2 to 6 ms more
//! to deliver). Each queue therefore starts from, and shrinks back to, a capacity of its own
//! between [`KEEP_CAPACITY`] and twice that, so their growth is spread over many publishes.
//!
//! The queue is closed by the hub when it drops the subscriber (too slow, hub shutting down);
//! the consumer still receives what was queued, then sees the end.

use std::collections::VecDeque;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use crate::event::Event;
use crate::hub::Selection;
use crate::subscription::Ended;

/// Least queue capacity kept allocated once a burst has drained (each mailbox keeps its
/// [`Mailbox::base_capacity`], up to twice this).
const KEEP_CAPACITY: usize = 16;

/// The outcome of offering an event to a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// This event was already queued (it has several topics the subscriber selects), or it
    /// comes before the subscriber's start.
    Duplicate,
    /// The queue is full: the subscriber is too slow.
    Full,
    /// The hub already dropped this subscriber.
    Closed,
}

/// One subscriber's queue, with what it selects.
pub(crate) struct Mailbox {
    /// The subscriber's key in the hub's registry.
    pub key: u64,
    pub selection: Arc<Selection>,
    capacity: usize,
    inner: Mutex<Inner>,
}

struct Inner {
    queue: VecDeque<Arc<Event>>,
    /// Set while the consumer waits for an event.
    waker: Option<Waker>,
    /// Set when the hub dropped the subscriber, with why.
    closed: Option<Ended>,
    /// Position of the last event queued, or of the last one before the subscriber's start:
    /// events come in log order, so nothing at or before it is queued again.
    last_seq: u64,
}

impl Mailbox {
    pub(crate) fn new(key: u64, selection: Arc<Selection>, capacity: usize) -> Self {
        let inner = Inner { queue: VecDeque::new(), waker: None, closed: None, last_seq: 0 };
        Self { key, selection, capacity: capacity.max(1), inner: Mutex::new(inner) }
    }

    /// The capacity this mailbox's queue is first given and shrinks back to: from
    /// [`KEEP_CAPACITY`] to twice that less one, by key, so that queues filled together grow
    /// on different events.
    fn base_capacity(&self) -> usize {
        let spread = KEEP_CAPACITY as u64;
        KEEP_CAPACITY + (self.key % spread) as usize
    }

    /// Makes the feed start after position `seq`: events up to there reach the subscriber
    /// through its replay (or not at all), and are not queued when offered.
    pub(crate) fn start_after(&self, seq: u64) {
        let mut inner = self.inner.lock();
        inner.last_seq = inner.last_seq.max(seq);
    }

    /// Queues `event` without waiting; wakes the consumer if it waits.
    #[cfg(test)]
    pub(crate) fn push(&self, event: &Arc<Event>) -> Offer {
        let mut wakers = Vec::new();
        let offer = self.push_deferred(event, &mut wakers);
        wakers.into_iter().for_each(Waker::wake);
        offer
    }

    /// Queues `event` without waiting. If the consumer waits, its waker goes to `wakers`, for
    /// the hub to wake once it released its lock and answered the publishers: waking thousands
    /// of tasks takes longer than queueing for them, and neither needs to wait for it.
    pub(crate) fn push_deferred(&self, event: &Arc<Event>, wakers: &mut Vec<Waker>) -> Offer {
        let mut inner = self.inner.lock();
        if inner.closed.is_some() {
            return Offer::Closed;
        }
        if event.seq <= inner.last_seq {
            return Offer::Duplicate;
        }
        if inner.queue.len() >= self.capacity {
            return Offer::Full;
        }
        if inner.queue.capacity() == 0 {
            inner.queue.reserve_exact(self.base_capacity());
        }
        inner.last_seq = event.seq;
        inner.queue.push_back(event.clone());
        wakers.extend(inner.waker.take());
        Offer::Queued
    }

    /// Ends the queue: the consumer gets what is queued, then the end, with `why`. The first
    /// reason given is kept.
    pub(crate) fn close(&self, why: Ended) {
        let waker = {
            let mut inner = self.inner.lock();
            inner.closed.get_or_insert(why);
            inner.waker.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Moves up to `max` queued events into `out`; returns how many, or why the queue ended
    /// once it is closed and empty.
    pub(crate) fn take(&self, out: &mut Vec<Arc<Event>>, max: usize) -> Result<usize, Ended> {
        let mut inner = self.inner.lock();
        match (inner.take(out, max, self.base_capacity()), inner.closed) {
            (0, Some(why)) if max > 0 => Err(why),
            (n, _) => Ok(n),
        }
    }

    /// Like [`take`](Self::take), but when nothing is queued, waits: `Pending` until an event
    /// arrives or the queue closes.
    pub(crate) fn poll_take(
        &self,
        cx: &mut Context<'_>,
        out: &mut Vec<Arc<Event>>,
        max: usize,
    ) -> Poll<Result<usize, Ended>> {
        let mut inner = self.inner.lock();
        match (inner.take(out, max, self.base_capacity()), inner.closed) {
            (0, None) => {
                match &mut inner.waker {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    slot => *slot = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
            (0, Some(why)) => Poll::Ready(Err(why)),
            (n, _) => Poll::Ready(Ok(n)),
        }
    }
}

impl Inner {
    /// Moves up to `max` events into `out`; an emptied queue larger than `keep` shrinks to it.
    fn take(&mut self, out: &mut Vec<Arc<Event>>, max: usize, keep: usize) -> usize {
        let n = self.queue.len().min(max);
        out.extend(self.queue.drain(..n));
        if self.queue.is_empty() && self.queue.capacity() > keep {
            self.queue.shrink_to(keep);
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;
    use crate::access::ReadAccess;
    use crate::event::Update;

    struct CountingWaker(AtomicUsize);

    impl Wake for CountingWaker {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn mailbox(capacity: usize) -> Mailbox {
        let selection = Arc::new(Selection { matchers: Box::new([]), access: ReadAccess::public_only() });
        Mailbox::new(7, selection, capacity)
    }

    fn event(seq: u64) -> Arc<Event> {
        let update = Update { topics: vec!["t".into()], data: seq.to_string(), ..Update::default() };
        let mut event = Event::new(seq, format!("e{seq}").into(), 0, update).expect("encodable");
        event.seq = seq;
        Arc::new(event)
    }

    #[test]
    fn batches_come_out_in_order_and_the_waiting_consumer_is_woken_once() {
        let mailbox = mailbox(8);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        assert_eq!(mailbox.poll_take(&mut cx, &mut out, 10), Poll::Pending);
        for seq in 1..=3 {
            assert_eq!(mailbox.push(&event(seq)), Offer::Queued);
        }
        assert_eq!(counter.0.load(Ordering::SeqCst), 1, "woken once for the batch");
        assert_eq!(mailbox.poll_take(&mut cx, &mut out, 2), Poll::Ready(Ok(2)));
        assert_eq!(mailbox.take(&mut out, 10), Ok(1));
        let seqs: Vec<u64> = out.iter().map(|e| e.seq).collect();
        assert_eq!(seqs, [1, 2, 3]);
    }

    #[test]
    fn a_full_queue_refuses_and_a_repeated_event_is_queued_once() {
        let mailbox = mailbox(2);
        assert_eq!(mailbox.push(&event(1)), Offer::Queued);
        assert_eq!(mailbox.push(&event(1)), Offer::Duplicate);
        assert_eq!(mailbox.push(&event(2)), Offer::Queued);
        assert_eq!(mailbox.push(&event(3)), Offer::Full);
    }

    #[test]
    fn closing_delivers_what_is_queued_then_the_end() {
        let mailbox = mailbox(4);
        let counter = Arc::new(CountingWaker(AtomicUsize::new(0)));
        let waker = Waker::from(counter.clone());
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        assert_eq!(mailbox.push(&event(1)), Offer::Queued);
        mailbox.close(Ended::Overflowed);
        mailbox.close(Ended::Closed);
        assert_eq!(mailbox.push(&event(2)), Offer::Closed);
        assert_eq!(mailbox.poll_take(&mut cx, &mut out, 10), Poll::Ready(Ok(1)));
        assert_eq!(mailbox.poll_take(&mut cx, &mut out, 10), Poll::Ready(Err(Ended::Overflowed)), "the first reason");
        assert_eq!(mailbox.take(&mut out, 10), Err(Ended::Overflowed));
    }

    #[test]
    fn a_drained_burst_gives_its_buffer_back() {
        let mailbox = mailbox(1024);
        for seq in 1..=500 {
            mailbox.push(&event(seq));
        }
        let mut out = Vec::new();
        assert_eq!(mailbox.take(&mut out, usize::MAX), Ok(500));
        assert_eq!(mailbox.inner.lock().queue.capacity(), mailbox.base_capacity());
        assert!(mailbox.base_capacity() < 2 * KEEP_CAPACITY);
    }

    /// The queue length at which each event pushed into `mailbox` made it reallocate.
    fn growth_points(mailbox: &Mailbox, events: u64) -> Vec<usize> {
        let mut points = Vec::new();
        let mut capacity = mailbox.inner.lock().queue.capacity();
        for seq in 1..=events {
            mailbox.push(&event(seq));
            let now = mailbox.inner.lock().queue.capacity();
            if now != capacity {
                points.push(mailbox.inner.lock().queue.len());
                capacity = now;
            }
        }
        points
    }

    #[test]
    fn queues_filled_by_the_same_burst_grow_on_different_events() {
        let selection = Arc::new(Selection { matchers: Box::new([]), access: ReadAccess::public_only() });
        let mut seen = std::collections::BTreeSet::new();
        for key in 0..KEEP_CAPACITY as u64 {
            let mailbox = Mailbox::new(key, selection.clone(), 1024);
            let points = growth_points(&mailbox, 1000);
            // Allocated at the first event, then grown a few times up to 1,000 events.
            assert_eq!(points.first(), Some(&1), "{points:?}");
            assert!(points.len() >= 5, "{points:?}");
            for later in &points[1..] {
                assert!(seen.insert(*later), "key {key} grows at {later}, as another queue does");
            }
        }
    }
}
