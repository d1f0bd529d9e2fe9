//! The body of a streaming subscription, whatever its wire format (Server-Sent Events, NDJSON,
//! the forever frame: see [`StreamFormat`]).
//!
//! It opens with the format's prelude (which also makes the response start at once), then
//! yields the events in the batches the subscription hands over, so a burst goes out in one
//! write. When a whole heartbeat period passed without an event (so after one to two periods of
//! silence), it sends the format's heartbeat, so proxies and load balancers keep the connection
//! open. How the feed ended decides how the response ends: cleanly when the hub shuts down or
//! the subscriber's token expires, with an error (so the server drops the connection at once,
//! instead of first flushing to a client that is not reading) when the client fell too far
//! behind or history could not be read. Either way the client reconnects with its last id and
//! loses nothing.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;
use herald_core::{Ended, Event, Subscription};
use tokio::time::Sleep;

use crate::metrics::connections::{Open, Transport};
use crate::metrics::histogram;

/// Most events written as one chunk of a streamed response.
const EVENTS_PER_CHUNK: usize = 128;

/// A wire format of streamed responses: each owns its prelude, heartbeat and per-event bytes.
pub(crate) trait StreamFormat: Send + Unpin + 'static {
    /// The response's `Content-Type`.
    const CONTENT_TYPE: &'static str;

    /// The transport, as the connections metric names it.
    const TRANSPORT: Transport;

    /// The opening chunk. `position` is where a fresh subscription starts in the log (the id of
    /// the newest event before it), which the format tells the client so that a connection that
    /// drops before its first event still resumes without a gap.
    fn prelude(&self, position: Option<&str>) -> Bytes;

    /// What keeps an idle connection open.
    fn heartbeat(&self) -> Bytes;

    /// A batch of events as one chunk, from their shared per-event encodings.
    fn batch(&self, events: &[Arc<Event>]) -> Bytes;
}

/// The end of a stream that must not close cleanly.
#[derive(Debug)]
pub(crate) struct Aborted(Ended);

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "event stream aborted: {}", self.0)
    }
}

impl std::error::Error for Aborted {}

/// A subscription rendered as chunks of one wire format.
pub(crate) struct EventStream<F> {
    format: F,
    /// The prelude, until sent.
    pending: Option<Bytes>,
    subscription: Subscription,
    heartbeat_every: Duration,
    heartbeat: Pin<Box<Sleep>>,
    /// Whether anything was sent since the heartbeat timer last fired. The timer is re-armed only
    /// when it fires (not on every event), which keeps the timer wheel out of the hot path.
    active: bool,
    /// Counts the stream in `herald_connections` while it lives.
    _open: Open,
}

impl<F: StreamFormat> EventStream<F> {
    pub(crate) fn new(subscription: Subscription, format: F, heartbeat_every: Duration) -> Self {
        Self {
            pending: Some(format.prelude(subscription.starts_after())),
            format,
            subscription,
            heartbeat_every,
            heartbeat: Box::pin(tokio::time::sleep(heartbeat_every)),
            active: true,
            _open: Open::new(F::TRANSPORT),
        }
    }
}

impl<F: StreamFormat> Stream for EventStream<F> {
    type Item = Result<Bytes, Aborted>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(pending) = this.pending.take() {
            return Poll::Ready(Some(Ok(pending)));
        }
        let mut batch = Vec::new();
        let live = this.subscription.is_live();
        match this.subscription.poll_recv_many(cx, &mut batch, EVENTS_PER_CHUNK) {
            Poll::Ready(Ok(_)) => {
                this.active = true;
                if live {
                    histogram::written_live(&batch);
                }
                Poll::Ready(Some(Ok(this.format.batch(&batch))))
            }
            Poll::Ready(Err(Ended::Closed | Ended::Expired)) => Poll::Ready(None),
            Poll::Ready(Err(why @ (Ended::Overflowed | Ended::StoreFailed))) => Poll::Ready(Some(Err(Aborted(why)))),
            Poll::Pending => loop {
                if this.heartbeat.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let next = crate::timing::after(this.heartbeat_every);
                this.heartbeat.as_mut().reset(next);
                if !std::mem::replace(&mut this.active, false) {
                    return Poll::Ready(Some(Ok(this.format.heartbeat())));
                }
                // Events went out during this period: re-armed, and polled again to register.
            },
        }
    }
}

/// Joins the shared encodings of `events` into one buffer, each followed by `separator`: one
/// copy per batch costs far less than the system call per event it saves. A lone event without
/// separator is its shared buffer itself, copied by no one.
pub(crate) fn gather<'e>(
    events: &'e [Arc<Event>],
    encoded: impl Fn(&'e Event) -> Cow<'e, Bytes>,
    separator: &[u8],
) -> Bytes {
    if let ([event], []) = (events, separator) {
        return encoded(event).into_owned();
    }
    let len = events.iter().map(|e| encoded(e).len() + separator.len()).sum();
    let mut chunk = bytes::BytesMut::with_capacity(len);
    for event in events {
        chunk.extend_from_slice(&encoded(event));
        chunk.extend_from_slice(separator);
    }
    chunk.freeze()
}
