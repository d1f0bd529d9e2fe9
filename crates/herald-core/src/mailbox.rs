//! A subscriber's bounded queue: the hub pushes shared events in, the subscriber's connection
//! task takes them out in batches.
//!
//! Fan-out pushes one event into thousands of these per publish, so a push is kept to one
//! short uncontended lock and no allocation in the steady state. The consumer is woken only
//! when it is waiting, once per batch rather than once per event; it then takes everything
//! queued under one lock, so its transport can write the whole batch with one system call. An
//! empty queue that grew during a burst gives its buffer back, so idle connections stay small.
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

/// Queue capacity kept allocated once a burst has drained.
const KEEP_CAPACITY: usize = 16;

/// The outcome of offering an event to a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    Queued,
    /// This event was already queued (it has several topics the subscriber selects).
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
    /// Position of the last event queued.
    last_seq: u64,
}

impl Mailbox {
    pub(crate) fn new(key: u64, selection: Arc<Selection>, capacity: usize) -> Self {
        let inner = Inner { queue: VecDeque::new(), waker: None, closed: None, last_seq: 0 };
        Self { key, selection, capacity: capacity.max(1), inner: Mutex::new(inner) }
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
        if inner.last_seq == event.seq {
            return Offer::Duplicate;
        }
        if inner.queue.len() >= self.capacity {
            return Offer::Full;
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
        match (inner.take(out, max), inner.closed) {
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
        match (inner.take(out, max), inner.closed) {
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
    fn take(&mut self, out: &mut Vec<Arc<Event>>, max: usize) -> usize {
        let n = self.queue.len().min(max);
        out.extend(self.queue.drain(..n));
        if self.queue.is_empty() && self.queue.capacity() > KEEP_CAPACITY {
            self.queue.shrink_to(KEEP_CAPACITY);
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
        assert!(mailbox.inner.lock().queue.capacity() <= KEEP_CAPACITY);
    }
}
