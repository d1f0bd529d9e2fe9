//! Subscribers: one task per connection, each counting what it receives in its own [`Tracker`].
//!
//! A subscriber connects (from its source address, at most `connect_concurrency` at a time),
//! says when it is ready to receive, then reads until the run tells it to stop or the target
//! closes the connection. Totals the run watches live (ready, failed, delivered, the time of the
//! latest delivery) are shared atomics, updated once per read rather than once per message.

mod long_poll;
mod sse;
mod ws;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, Semaphore, SemaphorePermit};

use crate::config::{BenchConfig, Transport};
use crate::payload::Clock;
use crate::target::{topic_name, Endpoints};
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
    fn deliver<'p>(&self, tracker: &mut Tracker, payloads: impl IntoIterator<Item = &'p [u8]>) {
        let now = self.shared.clock.now_us();
        let fresh = payloads.into_iter().filter(|payload| tracker.record(payload, now)).count() as u64;
        if fresh > 0 {
            self.shared.delivered.fetch_add(fresh, Ordering::Relaxed);
            self.shared.last_delivery_us.fetch_max(now, Ordering::Relaxed);
        }
    }
}

/// Why a receive loop returned without an error.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The run said stop.
    Stopped,
    /// The target closed the connection.
    Closed,
}

/// Runs subscriber number `index` until `stop` fires (or its sender is dropped). Each subscriber
/// has its own channel, so waiting for it costs no shared lock on the receive path.
pub(crate) async fn run(shared: Arc<Shared>, index: usize, mut stop: oneshot::Receiver<()>) -> Outcome {
    let topic = index % shared.topics;
    let mut tracker = Tracker::new(topic, shared.topics, shared.messages, shared.publishers);
    let permit = shared.connecting.acquire().await.ok();
    let mut session = Session { shared: &shared, topic: topic_name(topic), permit, ready: false };
    let source = shared.sources[index % shared.sources.len()];
    let mut attempt = 0;
    let result = loop {
        let result = match crate::net::connect_from(source, shared.target).await {
            Ok(stream) => match shared.transport {
                Transport::Sse => sse::receive(&mut session, stream, &mut tracker, &mut stop).await,
                Transport::Ws => ws::receive(&mut session, stream, &mut tracker, &mut stop).await,
                Transport::LongPoll => long_poll::receive(&mut session, stream, &mut tracker, &mut stop).await,
            },
            Err(e) => Err(format!("connect from {source}: {e}")),
        };
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
        Ok(End::Stopped) => (false, None),
        Ok(End::Closed) => (true, Some("closed by the target".to_owned())),
        Err(e) => (true, Some(e)),
    };
    if let Some(e) = &error {
        tracing::debug!("subscriber {index}: {e}");
    }
    Outcome { tracker, failed, dropped, error }
}
