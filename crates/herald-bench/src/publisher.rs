//! Publishers: each sends its share of the messages, one request at a time on its own
//! keep-alive HTTP/1.1 connection.
//!
//! Publisher `p` of `C` sends messages `k = p, p + C, p + 2C, …` in that order, message `k` to
//! topic `k % topics`, so the order each subscriber sees can be checked per publisher. With a
//! rate, message `k` is due at `k / rate` seconds after the start; a publisher that falls behind
//! sends late rather than skipping, and the payload carries the real send time. With a batch
//! size, a publisher sends its messages that many at a time, in order, as one NDJSON request.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::config::Pace;
use crate::payload::{self, Clock};
use crate::target::Endpoints;

/// Tries per message before it is counted as failed.
const ATTEMPTS: u32 = 3;
/// Pause between the tries of a publisher that retries until acknowledged.
const PERSISTENT_PAUSE: Duration = Duration::from_millis(100);

/// What all publishers share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub endpoints: Endpoints,
    pub addr: SocketAddr,
    pub topics: usize,
    pub messages: usize,
    pub publishers: usize,
    pub payload_size: usize,
    pub payload_style: crate::config::PayloadStyle,
    pub pace: Pace,
    pub clock: Clock,
    /// When the publish phase started, on `clock`.
    pub start_us: u64,
    pub sent: AtomicU64,
    /// Retry each message until the target acknowledges it, this many times at most, a moment
    /// apart, each message with an id from `id_prefix` so that the target can recognise a retry
    /// of what it already accepted (through a restart, say). `None`: a few quick tries, no id.
    pub persistent: Option<Persistent>,
    /// Tries beyond the first, over all publishers.
    pub retried: AtomicU64,
    /// Messages per request (1 unless publishing in batches).
    pub batch: usize,
}

impl Shared {
    /// What the publishers of a run of `config` share: `messages` messages from `start_us` on
    /// `clock`.
    pub(crate) fn new(
        config: &crate::config::BenchConfig,
        endpoints: &Endpoints,
        messages: usize,
        clock: Clock,
        start_us: u64,
        persistent: Option<Persistent>,
    ) -> Self {
        Self {
            endpoints: endpoints.clone(),
            addr: endpoints.publish_addr(),
            topics: config.topics,
            messages,
            publishers: config.publishers,
            payload_size: config.payload_size,
            payload_style: config.payload_style,
            pace: config.pace,
            clock,
            start_us,
            sent: AtomicU64::new(0),
            batch: if persistent.is_some() { 1 } else { config.batch.max(1) },
            persistent,
            retried: AtomicU64::new(0),
        }
    }
}

/// How a publisher that must get every message through retries.
#[derive(Debug, Clone)]
pub(crate) struct Persistent {
    /// Tries per message, at most.
    pub attempts: u32,
    /// The message's id is this followed by its index.
    pub id_prefix: String,
}

/// One publisher's tally.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub sent: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    /// For each acknowledged message, microseconds from sending its (last) try to the end of
    /// the answer.
    pub ack_us: Vec<u32>,
}

/// A publisher's keep-alive connection.
pub(crate) type Connection = SendRequest<http_body_util::Full<bytes::Bytes>>;

/// Runs publisher number `index` until its messages are sent.
pub(crate) async fn run(shared: Arc<Shared>, index: usize) -> Outcome {
    run_on(shared, index, None).await
}

/// Runs publisher number `index` until its messages are sent, on `connection` if it is given
/// one (it connects, and reconnects after a failure, by itself).
pub(crate) async fn run_on(shared: Arc<Shared>, index: usize, mut connection: Option<Connection>) -> Outcome {
    if shared.batch > 1 {
        return run_batches(&shared, index, connection).await;
    }
    let mut outcome = Outcome::default();
    for k in (index..shared.messages).step_by(shared.publishers) {
        wait_until_due(&shared, k).await;
        let topic = shared.endpoints.topic_name(k % shared.topics);
        let (attempts, id) = match &shared.persistent {
            Some(persistent) => (persistent.attempts.max(1), Some(format!("{}{k}", persistent.id_prefix))),
            None => (ATTEMPTS, None),
        };
        let mut result = Err(String::new());
        for attempt in 0..attempts {
            if attempt > 0 {
                shared.retried.fetch_add(1, Ordering::Relaxed);
                if id.is_some() {
                    tokio::time::sleep(PERSISTENT_PAUSE).await;
                }
            }
            let text = payload::encode(k as u64, shared.clock.now_us(), shared.payload_size, shared.payload_style);
            let sent_at = std::time::Instant::now();
            result = publish_one(&shared, &mut connection, &topic, id.as_deref(), &text).await;
            if result.is_ok() {
                outcome.ack_us.push(u32::try_from(sent_at.elapsed().as_micros()).unwrap_or(u32::MAX));
                break;
            }
            connection = None;
        }
        match result {
            Ok(()) => {
                outcome.sent += 1;
                shared.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                outcome.failed += 1;
                outcome.first_error.get_or_insert(e);
            }
        }
    }
    outcome
}

/// Publisher number `index`'s messages, `shared.batch` at a time, each request tried a few
/// times; every message of a request is acknowledged (and counted) with it.
async fn run_batches(shared: &Shared, index: usize, mut connection: Option<Connection>) -> Outcome {
    let mut outcome = Outcome::default();
    let mine: Vec<usize> = (index..shared.messages).step_by(shared.publishers).collect();
    for chunk in mine.chunks(shared.batch) {
        wait_until_due(shared, chunk[0]).await;
        let mut result = Err(String::new());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                shared.retried.fetch_add(1, Ordering::Relaxed);
            }
            let now = shared.clock.now_us();
            let messages: Vec<(String, String)> = chunk
                .iter()
                .map(|&k| {
                    (
                        shared.endpoints.topic_name(k % shared.topics),
                        payload::encode(k as u64, now, shared.payload_size, shared.payload_style),
                    )
                })
                .collect();
            let sent_at = std::time::Instant::now();
            result = match shared.endpoints.publish_batch_request(&messages) {
                Ok(request) => send(shared, &mut connection, request).await,
                Err(e) => Err(e.to_string()),
            };
            if result.is_ok() {
                let ack = u32::try_from(sent_at.elapsed().as_micros()).unwrap_or(u32::MAX);
                outcome.ack_us.extend(std::iter::repeat_n(ack, chunk.len()));
                break;
            }
            connection = None;
        }
        let count = chunk.len() as u64;
        match result {
            Ok(()) => {
                outcome.sent += count;
                shared.sent.fetch_add(count, Ordering::Relaxed);
            }
            Err(e) => {
                outcome.failed += count;
                outcome.first_error.get_or_insert(e);
            }
        }
    }
    outcome
}

/// With a rate, sleeps until message `k` is due.
async fn wait_until_due(shared: &Shared, k: usize) {
    if let Pace::Rate { per_second } = shared.pace {
        let due_us = shared.start_us + (k as f64 * 1e6 / per_second) as u64;
        let now = shared.clock.now_us();
        if due_us > now {
            tokio::time::sleep(Duration::from_micros(due_us - now)).await;
        }
    }
}

async fn publish_one(
    shared: &Shared,
    connection: &mut Option<Connection>,
    topic: &str,
    id: Option<&str>,
    payload: &str,
) -> Result<(), String> {
    let request = shared.endpoints.publish_request(topic, id, payload).map_err(|e| e.to_string())?;
    send(shared, connection, request).await
}

/// Sends one publish request on `connection` (connecting first if there is none); `Ok` once
/// the target answered with a success.
async fn send(
    shared: &Shared,
    connection: &mut Option<Connection>,
    request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
) -> Result<(), String> {
    let sender = match connection {
        Some(sender) => sender,
        None => connection.insert(connect(shared.addr).await?),
    };
    sender.ready().await.map_err(|e| format!("publish connection: {e}"))?;
    let response = sender.send_request(request).await.map_err(|e| format!("publish: {e}"))?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(|e| format!("publish answer: {e}"))?.to_bytes();
    if status.is_success() && shared.endpoints.publish_accepted(&body) {
        Ok(())
    } else {
        Err(format!("publish refused: {status} {}", String::from_utf8_lossy(&body).trim()))
    }
}

/// Nice value of the publishers' thread: ahead of the load generator's readers, as a backend on
/// a machine of its own would be (see [`spawn`]).
const PUBLISH_NICE: i32 = -10;

/// Spawns `task` on the publishers' runtime: a thread of their own, so that a publisher is not
/// queued behind the thousands of subscriber tasks of the load generator's main runtime and its
/// acknowledgement times measure the target, not the load generator. The thread runs at nice
/// [`PUBLISH_NICE`] where that is allowed, so that its own turn on a core, which it shares with
/// the readers and the target, is not counted as the target's. Falls back to the current
/// runtime if that thread cannot be started.
pub(crate) fn spawn<F>(task: F) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    static RUNTIME: std::sync::OnceLock<Option<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("bench-publish")
            .on_thread_start(raise_priority)
            .enable_all()
            .build()
            .map_err(|e| tracing::warn!("publishers share the main runtime: {e}"))
            .ok()
    });
    match runtime {
        Some(runtime) => runtime.spawn(task),
        None => tokio::spawn(task),
    }
}

/// Gives the calling thread nice value [`PUBLISH_NICE`]; without the right (`CAP_SYS_NICE` or a
/// nice limit), it keeps the process's and says so at debug level.
fn raise_priority() {
    if let Err(e) = herald_core::priority::set_current_thread_nice(PUBLISH_NICE) {
        tracing::debug!("the publishers' thread keeps the process's priority: nice {PUBLISH_NICE} was refused ({e})");
    }
}

/// A keep-alive connection to `addr` for publishing.
pub(crate) async fn connect(addr: SocketAddr) -> Result<Connection, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect to {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let (sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("publish connection ended: {e}");
        }
    });
    Ok(sender)
}
