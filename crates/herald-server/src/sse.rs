//! The body of an event-stream response.
//!
//! The stream opens with the `retry:` advice (which also makes the response start at once), then
//! yields each event's pre-encoded frame, a shared `Bytes` that no subscriber copies. When a whole
//! heartbeat period passed without an event (so after one to two periods of silence), it sends a
//! `:` comment, so proxies and load balancers keep the connection open. It ends when the
//! subscription ends: cleanly when the hub shuts down, and with an error (so the server drops the
//! connection at once) when the client fell too far behind; either way the client reconnects
//! with its last id and loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use herald_core::Subscription;
use tokio::time::{Instant, Sleep};

const HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");

/// The stream's end when the client fell too far behind.
#[derive(Debug)]
pub struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("subscriber too slow: its queue overflowed")
    }
}

impl std::error::Error for Overflow {}

/// A subscription rendered as `text/event-stream` chunks.
pub struct EventStream {
    prelude: Option<Bytes>,
    subscription: Subscription,
    heartbeat_every: Duration,
    heartbeat: Pin<Box<Sleep>>,
    /// Whether anything was sent since the heartbeat timer last fired. The timer is re-armed only
    /// when it fires (not on every event), which keeps the timer wheel out of the hot path.
    active: bool,
}

impl EventStream {
    pub fn new(subscription: Subscription, retry: Option<Duration>, heartbeat_every: Duration) -> Self {
        let mut prelude = BytesMut::new();
        match retry {
            Some(retry) => herald_sse::encode_retry(retry.as_millis() as u64, &mut prelude),
            None => prelude.extend_from_slice(&HEARTBEAT),
        }
        Self {
            prelude: Some(prelude.freeze()),
            subscription,
            heartbeat_every,
            heartbeat: Box::pin(tokio::time::sleep(heartbeat_every)),
            active: true,
        }
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Overflow>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(prelude) = this.prelude.take() {
            return Poll::Ready(Some(Ok(prelude)));
        }
        match this.subscription.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                this.active = true;
                Poll::Ready(Some(Ok(event.sse_frame().clone())))
            }
            // An error (not a clean end) makes the server drop the connection at once,
            // instead of first flushing to a client that is not reading.
            Poll::Ready(None) if this.subscription.overflowed() => Poll::Ready(Some(Err(Overflow))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => loop {
                if this.heartbeat.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let next = Instant::now() + this.heartbeat_every;
                this.heartbeat.as_mut().reset(next);
                if !std::mem::replace(&mut this.active, false) {
                    return Poll::Ready(Some(Ok(HEARTBEAT)));
                }
                // Events went out during this period: re-armed, and polled again to register.
            },
        }
    }
}
