//! Subscribers: one task per connection, each counting what it receives in its own [`Tracker`].
//!
//! A subscriber connects (from its source address, at most `connect_concurrency` at a time),
//! says when it is ready to receive, then reads until the run tells it to stop or the target
//! closes the connection. Totals the run watches live (ready, failed, delivered, the time of the
//! latest delivery) are shared atomics, updated once per read rather than once per message.
//! A churning subscriber ([`cycle`]) instead disconnects once it has received its quota.

mod bayeux;
mod bayeux_long_poll;
mod bayeux_ws;
mod long_poll;
mod sse;
mod ws;
mod ws_deflate;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore, SemaphorePermit};

use crate::config::{BenchConfig, Transport};
use crate::payload::Clock;
use crate::target::Endpoints;
use crate::tracker::Tracker;

/// Connection attempts (connect, request, answer) before a subscriber gives up.
const CONNECT_ATTEMPTS: u32 = 5;

/// What every subscriber shares with the run.
#[derive(Debug)]
pub(crate) struct Shared {
    pub transport: Transport,
    pub topics: usize,
    pub messages: usize,
    pub publishers: usize,
    pub endpoints: Endpoints,
    pub target: SocketAddr,
    pub sources: Vec<Ipv4Addr>,
    pub clock: Clock,
    pub connecting: Semaphore,
    pub ready: AtomicUsize,
    pub failed: AtomicUsize,
    /// Attempts that failed before a subscriber became ready.
    pub retries: AtomicUsize,
    pub delivered: AtomicU64,
    pub last_delivery_us: AtomicU64,
    /// WebSocket subscribers offer permessage-deflate.
    pub ws_deflate: bool,
    /// Bytes WebSocket subscribers read from their connections (all of it: heads, frames).
    pub bytes_received: AtomicU64,
}

impl Shared {
    pub(crate) fn new(config: &BenchConfig, endpoints: Endpoints, clock: Clock) -> Result<Self, String> {
        Ok(Self {
            transport: config.transport,
            topics: config.topics,
            messages: if config.pace == crate::config::Pace::Idle { 0 } else { config.messages },
            publishers: config.publishers,
            endpoints,
            target: config.base_addr()?,
            sources: config.source_addrs.clone(),
            clock,
            connecting: Semaphore::new(config.connect_concurrency.max(1)),
            ready: AtomicUsize::new(0),
            failed: AtomicUsize::new(0),
            retries: AtomicUsize::new(0),
            delivered: AtomicU64::new(0),
            last_delivery_us: AtomicU64::new(0),
            ws_deflate: config.ws_deflate,
            bytes_received: AtomicU64::new(0),
        })
    }
}

/// How a subscriber's run ended.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub tracker: Tracker,
    /// It never became ready (the error says why).
    pub failed: bool,
    /// The connection ended before the run told it to stop.
    pub dropped: bool,
    pub error: Option<String>,
}

/// One subscriber's connection-time state.
pub(crate) struct Session<'a> {
    shared: &'a Shared,
    topic: String,
    permit: Option<SemaphorePermit<'a>>,
    ready: bool,
    /// Payloads received on this connection, ours or not.
    received: u64,
    /// Disconnect after this many payloads (churn); `None`: stay until stopped.
    quota: Option<u64>,
}

impl Session<'_> {
    /// The subscriber can receive: let the next one connect, and count it.
    fn mark_ready(&mut self) {
        if !self.ready {
            self.ready = true;
            self.permit = None;
            self.shared.ready.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records the payloads of one read; updates the live totals once.
    fn deliver<'p>(&mut self, tracker: &mut Tracker, payloads: impl IntoIterator<Item = &'p [u8]>) {
        let now = self.shared.clock.now_us();
        let mut fresh = 0;
        for payload in payloads {
            self.received += 1;
            fresh += u64::from(tracker.record(payload, now));
        }
        if fresh > 0 {
            self.shared.delivered.fetch_add(fresh, Ordering::Relaxed);
            self.shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
        }
    }

    /// Whether a churning subscriber has received what it came for.
    fn satisfied(&self) -> bool {
        self.quota.is_some_and(|quota| self.received >= quota)
    }
}

/// Why a receive loop returned without an error.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The run said stop.
    Stopped,
    /// The target closed the connection.
    Closed,
    /// The subscriber received its quota and disconnects (churn).
    Done,
}

/// Runs subscriber number `index` until `stop` fires (or its sender is dropped). Each subscriber
/// has its own channel, so waiting for it costs no shared lock on the receive path.
pub(crate) async fn run(shared: Arc<Shared>, index: usize, mut stop: oneshot::Receiver<()>) -> Outcome {
    let topic = index % shared.topics;
    let mut tracker = Tracker::new(topic, shared.topics, shared.messages, shared.publishers);
    let permit = shared.connecting.acquire().await.ok();
    let mut session = Session {
        shared: &shared,
        topic: shared.endpoints.topic_name(topic),
        permit,
        ready: false,
        received: 0,
        quota: None,
    };
    let mut attempt = 0;
    let result = loop {
        let result = connect_and_receive(&mut session, index, &mut tracker, &mut stop).await;
        // Until it is ready, a subscriber retries (as a browser's EventSource would reconnect).
        attempt += 1;
        if session.ready || attempt >= CONNECT_ATTEMPTS || matches!(result, Ok(End::Stopped)) {
            break result;
        }
        shared.retries.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
    };
    let failed = !session.ready;
    if failed {
        shared.failed.fetch_add(1, Ordering::Relaxed);
    }
    let (dropped, error) = match result {
        Ok(End::Stopped | End::Done) => (false, None),
        Ok(End::Closed) => (true, Some("closed by the target".to_owned())),
        Err(e) => (true, Some(e)),
    };
    if let Some(e) = &error {
        tracing::debug!("subscriber {index}: {e}");
    }
    Outcome { tracker, failed, dropped, error }
}

/// One connection of subscriber `index`, from its source address over its transport.
async fn connect_and_receive(
    session: &mut Session<'_>,
    index: usize,
    tracker: &mut Tracker,
    stop: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let shared = session.shared;
    let source = shared.sources[index % shared.sources.len()];
    let stream =
        crate::net::connect_from(source, shared.target).await.map_err(|e| format!("connect from {source}: {e}"))?;
    match shared.transport.for_subscriber(index) {
        Transport::Sse => sse::receive(session, stream, tracker, stop).await,
        Transport::Ws if shared.ws_deflate => ws_deflate::receive(session, stream, tracker, stop).await,
        Transport::Ws => ws::receive(session, stream, tracker, stop).await,
        Transport::LongPoll | Transport::Mixed => long_poll::receive(session, stream, tracker, stop).await,
        Transport::BayeuxWs => bayeux_ws::receive(session, stream, tracker, stop).await,
        Transport::BayeuxLongPoll => bayeux_long_poll::receive(session, stream, tracker, stop).await,
    }
}

/// How one churn connection ended.
#[derive(Debug)]
pub(crate) enum Cycle {
    /// Connected, received its quota, disconnected.
    Done,
    /// The run said stop.
    Stopped,
    /// It failed, or the target closed the connection first.
    Failed(String),
}

/// One churn connection of subscriber `index`: connect, receive `quota` payloads (of any
/// message: a churning subscriber does not track losses), disconnect. Returns how it ended and
/// how many payloads it received.
pub(crate) async fn cycle(shared: &Shared, index: usize, quota: u64, stop: &mut oneshot::Receiver<()>) -> (Cycle, u64) {
    let topic = index % shared.topics;
    let mut tracker = Tracker::new(topic, shared.topics, 0, shared.publishers);
    let permit = tokio::select! {
        biased;
        _ = &mut *stop => return (Cycle::Stopped, 0),
        permit = shared.connecting.acquire() => permit.ok(),
    };
    let mut session = Session {
        shared,
        topic: shared.endpoints.topic_name(topic),
        permit,
        ready: false,
        received: 0,
        quota: Some(quota),
    };
    let result = connect_and_receive(&mut session, index, &mut tracker, stop).await;
    let outcome = match result {
        Ok(End::Done) => Cycle::Done,
        Ok(End::Stopped) => Cycle::Stopped,
        Ok(End::Closed) => Cycle::Failed("closed by the target".to_owned()),
        Err(e) => Cycle::Failed(e),
    };
    (outcome, session.received)
}
