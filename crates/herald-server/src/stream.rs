//! The body of a streaming subscription: Server-Sent Events, newline-delimited JSON, or the
//! "forever frame" of `<script>` chunks.
//!
//! Each [`Wire`] format opens with a prelude (which also makes the response start at once),
//! then yields each event's pre-encoded form, a shared `Bytes` that no subscriber copies. When a
//! whole heartbeat period passed without an event (so after one to two periods of silence), it
//! sends the format's heartbeat, so proxies and load balancers keep the connection open. It ends
//! when the subscription ends: cleanly when the hub shuts down, and with an error (so the server
//! drops the connection at once) when the client fell too far behind; either way the client
//! reconnects with its last id and loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use herald_core::{Event, Subscription};
use tokio::time::{Instant, Sleep};

const SSE_HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");
const NDJSON_HEARTBEAT: Bytes = Bytes::from_static(b"{\"type\":\"heartbeat\"}\n");
const HTML_HEARTBEAT: Bytes = Bytes::from_static(b"<script>e({\"type\":\"heartbeat\"});</script>\n");
const NEWLINE: Bytes = Bytes::from_static(b"\n");
/// Browsers start running a streamed page's scripts only after its first kilobyte or so.
const HTML_PADDING: usize = 1024;

/// How events are written on a streaming response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wire {
    /// `text/event-stream`, opening with the reconnection delay to advise, if any.
    Sse { retry: Option<Duration> },
    /// `application/x-ndjson`: one JSON object per line, as the WebSocket transport sends them.
    Ndjson,
    /// `text/html` whose `<script>` chunks call `parent[callback](message)`.
    HtmlFile { callback: String },
}

impl Wire {
    pub fn content_type(&self) -> &'static str {
        match self {
            Wire::Sse { .. } => "text/event-stream",
            Wire::Ndjson => "application/x-ndjson",
            Wire::HtmlFile { .. } => "text/html; charset=utf-8",
        }
    }

    fn prelude(&self) -> Bytes {
        match self {
            Wire::Sse { retry: Some(retry) } => {
                let mut prelude = BytesMut::new();
                herald_sse::encode_retry(retry.as_millis() as u64, &mut prelude);
                prelude.freeze()
            }
            Wire::Sse { retry: None } => SSE_HEARTBEAT,
            Wire::Ndjson => NDJSON_HEARTBEAT,
            Wire::HtmlFile { callback } => {
                // `callback` is a plain identifier (checked when the request was read).
                let mut page = format!(
                    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Herald</title></head><body>\n\
                     <script>function e(m){{try{{window.parent[\"{callback}\"](m)}}catch(x){{}}}}</script>\n<!--"
                );
                page.push_str(&" ".repeat(HTML_PADDING));
                page.push_str("-->\n");
                Bytes::from(page)
            }
        }
    }

    fn heartbeat(&self) -> Bytes {
        match self {
            Wire::Sse { .. } => SSE_HEARTBEAT,
            Wire::Ndjson => NDJSON_HEARTBEAT,
            Wire::HtmlFile { .. } => HTML_HEARTBEAT,
        }
    }

    /// The event's shared encoding, and what follows it (the line end of NDJSON).
    fn encode(&self, event: &Event) -> (Bytes, Option<Bytes>) {
        match self {
            Wire::Sse { .. } => (event.sse_frame().clone(), None),
            Wire::Ndjson => (event.json_message().clone(), Some(NEWLINE)),
            Wire::HtmlFile { .. } => (event.html_script().clone(), None),
        }
    }
}

/// The stream's end when the client fell too far behind.
#[derive(Debug)]
pub struct Overflow;

impl std::fmt::Display for Overflow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("subscriber too slow: its queue overflowed")
    }
}

impl std::error::Error for Overflow {}

/// A subscription rendered as chunks of one wire format.
pub struct EventStream {
    wire: Wire,
    /// What to send before the next event: the prelude, or the end of the previous event.
    pending: Option<Bytes>,
    subscription: Subscription,
    heartbeat_every: Duration,
    heartbeat: Pin<Box<Sleep>>,
    /// Whether anything was sent since the heartbeat timer last fired. The timer is re-armed only
    /// when it fires (not on every event), which keeps the timer wheel out of the hot path.
    active: bool,
}

impl EventStream {
    pub fn new(subscription: Subscription, wire: Wire, heartbeat_every: Duration) -> Self {
        Self {
            pending: Some(wire.prelude()),
            wire,
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
        if let Some(pending) = this.pending.take() {
            return Poll::Ready(Some(Ok(pending)));
        }
        match this.subscription.poll_recv(cx) {
            Poll::Ready(Some(event)) => {
                this.active = true;
                let (chunk, after) = this.wire.encode(&event);
                this.pending = after;
                Poll::Ready(Some(Ok(chunk)))
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
                    return Poll::Ready(Some(Ok(this.wire.heartbeat())));
                }
                // Events went out during this period: re-armed, and polled again to register.
            },
        }
    }
}
