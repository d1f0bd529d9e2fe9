//! Open subscriptions by transport, for `herald_connections{transport}`.
//!
//! Each transport holds an [`Open`] for as long as its subscriber is connected (a stream, a
//! WebSocket, a long-poll waiting); opening and dropping it is one atomic add, and a scrape reads
//! the counters.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};

/// A transport, as the `transport` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Server-Sent Events.
    Sse,
    /// Newline-delimited JSON.
    Ndjson,
    /// The forever frame.
    HtmlFile,
    /// A WebSocket (subscribed or not).
    WebSocket,
    /// A long-poll waiting for events.
    LongPoll,
    /// A poll being answered.
    Poll,
    /// A Bayeux session (over any of its transports).
    Bayeux,
}

const ALL: [Transport; 7] = [
    Transport::Sse,
    Transport::Ndjson,
    Transport::HtmlFile,
    Transport::WebSocket,
    Transport::LongPoll,
    Transport::Poll,
    Transport::Bayeux,
];

static OPEN: [AtomicI64; ALL.len()] = [const { AtomicI64::new(0) }; ALL.len()];

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Sse => "sse",
            Self::Ndjson => "ndjson",
            Self::HtmlFile => "htmlfile",
            Self::WebSocket => "websocket",
            Self::LongPoll => "long-poll",
            Self::Poll => "poll",
            Self::Bayeux => "bayeux",
        }
    }
}

/// One open connection of a transport, counted until dropped.
#[derive(Debug)]
pub(crate) struct Open(Transport);

impl Open {
    pub(crate) fn new(transport: Transport) -> Self {
        OPEN[transport as usize].fetch_add(1, Ordering::Relaxed);
        Self(transport)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        OPEN[self.0 as usize].fetch_sub(1, Ordering::Relaxed);
    }
}

/// The open subscriptions of every transport, by label.
pub(crate) fn open() -> [(&'static str, u64); ALL.len()] {
    ALL.map(|transport| (transport.label(), OPEN[transport as usize].load(Ordering::Relaxed).max(0).unsigned_abs()))
}

/// Appends the gauge in the Prometheus text format.
pub(crate) fn render(out: &mut String) {
    out.push_str("# HELP herald_connections Subscribers connected now, by transport (WebSocket: every open socket)\n");
    out.push_str("# TYPE herald_connections gauge\n");
    for transport in ALL {
        let open = OPEN[transport as usize].load(Ordering::Relaxed).max(0);
        let _ = writeln!(out, "herald_connections{{transport=\"{}\"}} {open}", transport.label());
    }
}
