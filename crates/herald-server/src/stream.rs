//! The body of a streaming subscription: Server-Sent Events, newline-delimited JSON, or the
//! "forever frame" of `<script>` chunks.
//!
//! Each [`Wire`] format opens with a prelude (which also makes the response start at once),
//! then yields the events in the batches the subscription hands over, so a burst goes out in
//! one write: a lone event as its pre-encoded form, a shared `Bytes` that no subscriber copies,
//! several as one chunk gathering their pre-encoded forms (a copy costs far less than the
//! system call per event it saves). When a
//! whole heartbeat period passed without an event (so after one to two periods of silence), it
//! sends the format's heartbeat, so proxies and load balancers keep the connection open. It ends
//! when the subscription ends: cleanly when the hub shuts down or the subscriber's token expires,
//! and with an error (so the server drops the connection at once) when the client fell too far
//! behind; either way the client reconnects with its last id and loses nothing.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use herald_core::{Event, Subscription};
use tokio::time::{Instant, Sleep};

const SSE_HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");
const NDJSON_HEARTBEAT: Bytes = Bytes::from_static(b"{\"type\":\"heartbeat\"}\n");
const HTML_HEARTBEAT: Bytes = Bytes::from_static(b"<script>e({\"type\":\"heartbeat\"});</script>\n");
/// Most events written as one chunk.
const MAX_BATCH: usize = 128;
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

    /// The opening chunk. `position` is where a fresh subscription starts in the log: an SSE
    /// frame with only an `id` sets the client's last event id without dispatching an event
    /// (WHATWG's parsing rules), and NDJSON says it in a `position` line, so that a client whose
    /// connection drops before its first event still resumes without a gap.
    fn prelude(&self, position: Option<&str>) -> Bytes {
        match (self, position) {
            (Wire::Sse { retry: None }, None) => SSE_HEARTBEAT,
            (Wire::Sse { retry }, position) => {
                let mut prelude = BytesMut::new();
                let retry = retry.map(|r| r.as_millis() as u64);
                // Event ids never contain line breaks or NUL (publishing refuses them); should one,
                // the position is left out rather than break the stream.
                if herald_sse::encode_control(retry, position, &mut prelude).is_err() {
                    prelude.clear();
                    match retry {
                        Some(ms) => herald_sse::encode_retry(ms, &mut prelude),
                        None => return SSE_HEARTBEAT,
                    }
                }
                prelude.freeze()
            }
            (Wire::Ndjson, Some(id)) => {
                let line = serde_json::json!({"type": "position", "last_event_id": id});
                Bytes::from(format!("{line}\n"))
            }
            (Wire::Ndjson, None) => NDJSON_HEARTBEAT,
            (Wire::HtmlFile { callback }, _) => {
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

    /// One event's shared encoding, as it appears in the stream.
    fn encoded<'e>(&self, event: &'e Event) -> &'e Bytes {
        match self {
            Wire::Sse { .. } => event.sse_frame(),
            Wire::Ndjson => event.json_message(),
            Wire::HtmlFile { .. } => event.html_script(),
        }
    }

    /// A batch of events as one chunk: a lone event's shared encoding as is, several gathered.
    fn encode(&self, events: &[Arc<Event>]) -> Bytes {
        let line_end: &[u8] = if *self == Wire::Ndjson { b"\n" } else { b"" };
        if let [event] = events {
            if line_end.is_empty() {
                return self.encoded(event).clone();
            }
        }
        let len = events.iter().map(|e| self.encoded(e).len() + line_end.len()).sum();
        let mut chunk = BytesMut::with_capacity(len);
        for event in events {
            chunk.extend_from_slice(self.encoded(event));
            chunk.extend_from_slice(line_end);
        }
        chunk.freeze()
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
    /// The prelude, until sent.
    pending: Option<Bytes>,
    subscription: Subscription,
    heartbeat_every: Duration,
    heartbeat: Pin<Box<Sleep>>,
    /// Whether anything was sent since the heartbeat timer last fired. The timer is re-armed only
    /// when it fires (not on every event), which keeps the timer wheel out of the hot path.
    active: bool,
    /// When the subscriber's token expires, the stream ends.
    expiry: Option<Pin<Box<Sleep>>>,
}

impl EventStream {
    pub fn new(subscription: Subscription, wire: Wire, heartbeat_every: Duration) -> Self {
        Self {
            pending: Some(wire.prelude(subscription.starts_after())),
            wire,
            subscription,
            heartbeat_every,
            heartbeat: Box::pin(tokio::time::sleep(heartbeat_every)),
            active: true,
            expiry: None,
        }
    }

    /// Ends the stream at `deadline` (the subscriber's token expiry), if any.
    pub fn until(mut self, deadline: Option<Instant>) -> Self {
        self.expiry = deadline.map(|at| Box::pin(tokio::time::sleep_until(at)));
        self
    }
}

impl Stream for EventStream {
    type Item = Result<Bytes, Overflow>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if let Some(pending) = this.pending.take() {
            return Poll::Ready(Some(Ok(pending)));
        }
        if this.expiry.as_mut().is_some_and(|expiry| expiry.as_mut().poll(cx).is_ready()) {
            return Poll::Ready(None);
        }
        let mut batch = Vec::new();
        match this.subscription.poll_recv_many(cx, &mut batch, MAX_BATCH) {
            Poll::Ready(0) if this.subscription.overflowed() => {
                // An error (not a clean end) makes the server drop the connection at once,
                // instead of first flushing to a client that is not reading.
                Poll::Ready(Some(Err(Overflow)))
            }
            Poll::Ready(0) => Poll::Ready(None),
            Poll::Ready(_) => {
                this.active = true;
                Poll::Ready(Some(Ok(this.wire.encode(&batch))))
            }
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
