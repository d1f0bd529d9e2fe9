//! A subscriber that behaves like a browser's `EventSource` through a restart: it keeps the id
//! of the last event and the `retry:` advice it was given, and whenever its stream ends or a
//! connection attempt fails it waits that long (or the `Retry-After` of a `503`) and connects
//! again with `Last-Event-ID`. It notes each outage: when the stream ended, when a new one was
//! open again, and the attempts that failed in between.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Semaphore};

use crate::http1::read_head;
use crate::payload::Clock;
use crate::target::Endpoints;
use crate::tracker::Tracker;

/// The reconnection delay before any `retry:` advice arrived (what browsers use).
const DEFAULT_RETRY: Duration = Duration::from_secs(3);
/// Longest `retry:` or `Retry-After` honoured, so that a bad advice cannot stall the run.
const LONGEST_WAIT: Duration = Duration::from_secs(30);
const READ_BUFFER: usize = 8192;

/// What every storm subscriber shares with the run.
#[derive(Debug)]
pub(super) struct Shared {
    pub endpoints: Endpoints,
    pub target: std::net::SocketAddr,
    pub sources: Vec<std::net::Ipv4Addr>,
    pub topics: usize,
    pub messages: usize,
    pub publishers: usize,
    pub clock: Clock,
    /// Limits the first connections only: reconnections come as they come, which is the storm.
    pub connecting: Semaphore,
    /// Subscribers with a stream open now.
    pub open: AtomicUsize,
    /// Subscribers that had a stream open at least once.
    pub ever_ready: AtomicUsize,
    /// Attempts refused by a `503` (a limit, e.g. the accept rate).
    pub refused_503: AtomicU64,
    /// Attempts that could not connect (nothing listening).
    pub refused_connect: AtomicU64,
    /// Other failed attempts (another status, a reset, a bad answer).
    pub other_failures: AtomicU64,
}

/// One outage: from the end of a stream to the next stream's `200`, on the run's clock.
#[derive(Debug, Clone, Copy)]
pub(super) struct Outage {
    pub ended_us: u64,
    /// `None`: not back when the run ended.
    pub back_us: Option<u64>,
    pub failed_attempts: u32,
}

/// What one subscriber saw over the run.
#[derive(Debug)]
pub(super) struct Outcome {
    pub tracker: Tracker,
    pub outages: Vec<Outage>,
    pub first_error: Option<String>,
}

/// How one attempt ended.
enum Attempt {
    /// The run said stop.
    Stopped,
    /// The stream was open, then ended (cleanly or not).
    Ended(Option<String>),
    /// No stream: wait this long (or the advised retry) and try again.
    Failed { wait: Option<Duration>, error: String },
}

/// Runs subscriber `index` until `stop` fires.
pub(super) async fn run(shared: &Shared, index: usize, mut stop: oneshot::Receiver<()>) -> Outcome {
    let topic_index = index % shared.topics;
    let topic = shared.endpoints.topic_name(topic_index);
    let source = shared.sources[index % shared.sources.len()];
    let mut tracker = Tracker::new(topic_index, shared.topics, shared.messages, shared.publishers);
    let mut state = Resume { last_event_id: None, retry: DEFAULT_RETRY };
    let mut outages: Vec<Outage> = Vec::new();
    let mut first_error = None;
    let mut permit = tokio::select! {
        biased;
        _ = &mut stop => return Outcome { tracker, outages, first_error },
        permit = shared.connecting.acquire() => permit.ok(),
    };
    loop {
        let attempt = tokio::select! {
            biased;
            _ = &mut stop => Attempt::Stopped,
            attempt = connect_and_read(shared, source, &topic, &mut state, &mut tracker, &mut outages, &mut permit) => attempt,
        };
        let wait = match attempt {
            Attempt::Stopped => break,
            Attempt::Ended(error) => {
                shared.open.fetch_sub(1, Ordering::Relaxed);
                outages.push(Outage { ended_us: shared.clock.now_us(), back_us: None, failed_attempts: 0 });
                if let Some(error) = error {
                    first_error.get_or_insert(error);
                }
                state.retry
            }
            Attempt::Failed { wait, error } => {
                if let Some(outage) = outages.last_mut() {
                    outage.failed_attempts += 1;
                }
                first_error.get_or_insert(error);
                wait.unwrap_or(state.retry)
            }
        };
        tokio::select! {
            biased;
            _ = &mut stop => break,
            () = tokio::time::sleep(wait.min(LONGEST_WAIT)) => {}
        }
    }
    Outcome { tracker, outages, first_error }
}

/// Counts a failed attempt under `counter`.
fn failed(counter: &AtomicU64, wait: Option<Duration>, error: String) -> Attempt {
    counter.fetch_add(1, Ordering::Relaxed);
    Attempt::Failed { wait, error }
}

/// What a reconnecting EventSource remembers.
struct Resume {
    last_event_id: Option<String>,
    retry: Duration,
}

/// One connection: the request (resuming after the last id), the head, then events until the
/// stream ends.
async fn connect_and_read(
    shared: &Shared,
    source: std::net::Ipv4Addr,
    topic: &str,
    state: &mut Resume,
    tracker: &mut Tracker,
    outages: &mut [Outage],
    permit: &mut Option<tokio::sync::SemaphorePermit<'_>>,
) -> Attempt {
    let mut stream = match crate::net::connect_from(source, shared.target).await {
        Ok(stream) => stream,
        Err(e) => return failed(&shared.refused_connect, None, format!("connect: {e}")),
    };
    let request = shared.endpoints.sse_request_after(topic, state.last_event_id.as_deref());
    if let Err(e) = stream.write_all(request.as_bytes()).await {
        return failed(&shared.other_failures, None, format!("send request: {e}"));
    }
    let mut buf = Vec::with_capacity(READ_BUFFER);
    let head = match read_head(&mut stream, &mut buf).await {
        Ok(head) => head,
        Err(e) => return failed(&shared.other_failures, None, format!("response head: {e}")),
    };
    match head.status {
        200 => {}
        503 => {
            let wait = head.retry_after.map(Duration::from_secs);
            return failed(&shared.refused_503, wait, "status 503".to_owned());
        }
        status => return failed(&shared.other_failures, None, format!("status {status}")),
    }
    // Open: the outage (if any) is over.
    *permit = None;
    shared.open.fetch_add(1, Ordering::Relaxed);
    match outages.last_mut() {
        Some(outage) if outage.back_us.is_none() => outage.back_us = Some(shared.clock.now_us()),
        Some(_) => {}
        None => {
            shared.ever_ready.fetch_add(1, Ordering::Relaxed);
        }
    }
    let mut body = head.body;
    let mut parser = herald_sse::Parser::new();
    let mut events = Vec::new();
    loop {
        let fed = body.feed(&buf, &mut |piece| events.extend(parser.feed(piece)));
        let now = shared.clock.now_us();
        for event in events.drain(..) {
            tracker.record(event.data.as_bytes(), now);
        }
        if let Some(retry) = parser.retry() {
            state.retry = Duration::from_millis(retry);
        }
        if !parser.last_event_id().is_empty() {
            state.last_event_id = Some(parser.last_event_id().to_owned());
        }
        match fed {
            Ok(true) => return Attempt::Ended(None),
            Ok(false) => {}
            Err(e) => return Attempt::Ended(Some(format!("response body: {e}"))),
        }
        buf.clear();
        match stream.read_buf(&mut buf).await {
            Ok(0) => return Attempt::Ended(None),
            Ok(_) => {}
            Err(e) => return Attempt::Ended(Some(format!("read: {e}"))),
        }
    }
}
