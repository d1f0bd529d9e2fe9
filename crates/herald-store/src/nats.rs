//! A log in NATS JetStream that several hub nodes share ([`NatsLog`], feature `nats`).
//!
//! Each node appends its publishes to one JetStream stream and follows that stream to deliver
//! every event, so all nodes deliver the same events in the same order.
//!
//! - **One message per append.** nats-server 2.9 has no atomic multi-message publish, so an
//!   append is one JetStream message holding all its events: a format byte, a `u32` count, then
//!   each event as a `u32` length and its [`codec::encode`] record. An event's position is
//!   `(stream_seq << 20) | index_in_message`: increasing, not consecutive. A message carries at
//!   most 2^20 - 1 events, and [`SharedLog::max_append_bytes`] is derived from the server's
//!   `max_payload` so the hub never builds a commit larger than one message may be.
//! - **Acknowledged writes.** Each message has a fresh `Nats-Msg-Id` and an append returns once
//!   JetStream acknowledged it; a publish whose acknowledgement did not come is retried once with
//!   the same id, which JetStream's duplicate window makes safe. An append that failed because
//!   the connection was lost may still land once the client reconnects (it resends what it had
//!   buffered), as with any lost acknowledgement: its publisher was told it failed, and every
//!   node delivers it like any other event.
//! - **Retention is the stream's.** The limits go to the stream's configuration: `max_age`,
//!   `max_bytes`, and `max_msgs` from the event count. `max_msgs` counts messages, that is
//!   appends, so the stream keeps *at least* that many events (more when appends carried several).
//!   Events of a retained message that are older than the age limit are left out when reading.
//!   A limit of zero events or bytes keeps one message (JetStream reads zero as "unlimited").
//!   The limits are applied at connect ([`NatsLog::connect_with`]) or at the first append; nodes
//!   configured differently overwrite each other's, so give them all the same.
//! - **An id index** in a KV bucket (`herald_<stream>_ids`): key = the id in URL-safe base64,
//!   value = the decimal position, written with `create` after the acknowledgement so a reused
//!   id keeps its earliest retained position. It is a lookup aid: failing to write it is logged,
//!   the append still succeeds. Positions of trimmed messages resolve to nothing. The bucket is
//!   bounded like the stream: the same age, and 64 entries per retained message and twice the
//!   bytes, dropping its oldest; an id whose entry was dropped resolves to nothing (the hub then
//!   replays from the earliest retained event: repeats, never a gap). The bucket's stream is
//!   created here with the KV layout, as the client's own bucket creation first reads account
//!   details that nats-server 2.9 does not send.
//! - **Blocking calls over an async client.** The log owns a small tokio runtime (one worker)
//!   and each method blocks on it with a timeout, so a lost server makes calls fail within
//!   seconds with [`StoreError::Unreachable`]; the client reconnects by itself and calls work
//!   again once the server is back. The hub calls them from plain threads; called from inside
//!   an async task (a server opening the log at start) they still work, by leaving the task's
//!   worker first, but block that task meanwhile.
//! - **Reading.** Reads without a wait fetch stored messages by sequence (direct gets, 64 in
//!   flight). The follower's waiting reads use an ordered consumer, kept from one call to the
//!   next while each call continues where the previous one ended. A message that does not
//!   decode (not Herald's, or damaged) is skipped with a warning.
//! - **The footprint** (for the metrics, never a request) is cached at each append: the stream's
//!   bytes, and its events counted from the messages this node appended or read. It is `None`
//!   until every retained message is one this node saw (a node joining a stream that holds
//!   history knows its count once retention removed what came before it).
//! - **After retention removed everything**, the stream still knows its last sequence; the last
//!   position is then `(last_seq << 20) | 0xFFFFF`, past every event of that message, so a node
//!   starting then follows from the next append on and misses nothing.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, kv, stream};
use bytes::Bytes;
use futures_util::{FutureExt, StreamExt};
use herald_core::{Event, Footprint, Retention, SharedLog, StoreError};
use parking_lot::Mutex;

use crate::codec;

/// Bits of a position that hold the event's index in its message.
const INDEX_BITS: u32 = 20;
/// The index meaning "past every event of the message" (never an event's own).
const PAST_EVERY_EVENT: u64 = (1 << INDEX_BITS) - 1;
/// Most events in one message.
const MAX_EVENTS: usize = PAST_EVERY_EVENT as usize;
/// The version of the message layout.
const FORMAT: u8 = 1;
/// The stream used when the URL names none.
const DEFAULT_STREAM: &str = "herald";
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one call waits for the server (on top of a read's own wait).
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a publish waits for its acknowledgement before the one retry.
const ACK_TIMEOUT: Duration = Duration::from_millis(1_500);
/// Room left in a message for its headers and protocol framing.
const HEADER_ALLOWANCE: usize = 256;
/// Index writes in flight at once during an append.
const INDEX_CONCURRENCY: usize = 64;
/// Entries the id index keeps per message the stream keeps (an append often carries several
/// events, each with its id).
const INDEX_ENTRIES_PER_MESSAGE: i64 = 64;
/// Stored messages requested at once by a read.
const READ_AHEAD: usize = 64;
/// Most messages whose event counts are kept for the footprint.
const MAX_COUNTED: usize = 1 << 18;
/// JetStream's default duplicate window (capped by the age limit).
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);
/// The form of the URL, for error messages.
const URL_FORM: &str = "the form is nats://HOST:PORT[?stream=NAME]";

/// Runs `work` to completion on `runtime`, blocking the calling thread. From a plain thread (as
/// the hub calls) that is `block_on`; from inside another runtime's async task (a server
/// opening the log at start) it first leaves that task's worker (multi-thread runtime) or hands
/// the wait to a short-lived thread (current-thread runtime), as blocking on a runtime from
/// inside one is not allowed.
fn run_on<F>(runtime: &tokio::runtime::Runtime, work: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        Err(_) => runtime.block_on(work),
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| runtime.block_on(work)),
        Ok(_) => std::thread::scope(|scope| {
            let waiting = scope.spawn(|| runtime.block_on(work));
            match waiting.join() {
                Ok(output) => output,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }),
    }
}

/// How long a read of up to `limit` events may take in all (each request has its own timeout).
fn read_budget(limit: usize) -> Duration {
    (CALL_TIMEOUT * 2 + Duration::from_millis(limit as u64)).min(Duration::from_secs(60))
}

/// The position of event `index` of the message at stream sequence `seq`.
fn position(seq: u64, index: u64) -> u64 {
    (seq << INDEX_BITS) | index
}

/// The stream sequence of the message holding the event at `position`.
fn sequence_of(position: u64) -> u64 {
    position >> INDEX_BITS
}

/// A log in a NATS JetStream stream, shared by every node connected to the same stream.
pub struct NatsLog {
    runtime: Runtime,
    client: async_nats::Client,
    /// JetStream requests, and publishes (with their shorter acknowledgement timeout).
    js: jetstream::Context,
    publisher: jetstream::Context,
    stream: stream::Stream,
    ids: kv::Store,
    subject: String,
    stream_name: String,
    /// The server's URL, without the password.
    engine: String,
    /// The server's `max_payload`, in bytes.
    max_payload: usize,
    limits: Mutex<Limits>,
    /// The follower's ordered consumer, kept between waiting reads.
    follow: Mutex<Option<Follow>>,
    counts: Mutex<Counts>,
}

/// The retention in force: for filtering reads by age, and what the stream was last set to.
struct Limits {
    retention: Option<Retention>,
    applied: Option<Retention>,
}

/// Events per message as this node saw them, for an honest footprint.
#[derive(Default)]
struct Counts {
    /// Events in each message seen (appended or read here).
    per_message: BTreeMap<u64, u64>,
    /// Every message from this sequence on was seen here (`None`: not known yet).
    seen_from: Option<u64>,
    footprint: Option<Footprint>,
}

/// An ordered consumer continuing after `after`, and events it delivered that were not
/// returned yet (a call's limit ended inside a message).
struct Follow {
    messages: consumer::pull::Ordered,
    after: u64,
    pending: VecDeque<Arc<Event>>,
    /// Messages the consumer has yet to deliver, as its last message said.
    behind: u64,
}

impl fmt::Debug for NatsLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NatsLog")
            .field("engine", &self.engine)
            .field("stream", &self.stream_name)
            .field("max_payload", &self.max_payload)
            .finish_non_exhaustive()
    }
}

/// The log's own runtime, shut down without blocking when dropped (perhaps inside an async
/// context, where waiting for its threads is not allowed).
struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    fn get(&self) -> Option<&tokio::runtime::Runtime> {
        self.0.as_ref()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the URL says.
struct Target {
    /// What to connect to (credentials removed).
    server: String,
    /// The URL to show: without the password.
    shown: String,
    user: Option<String>,
    password: Option<String>,
    stream: String,
}

fn config_error(detail: String) -> StoreError {
    StoreError::Io { operation: "reading the NATS URL", source: detail.into() }
}

fn valid_stream_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 200 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn parse_url(text: &str) -> Result<Target, StoreError> {
    let url =
        url::Url::parse(text).map_err(|e| config_error(format!("the NATS URL is malformed ({e}); {URL_FORM}")))?;
    if url.scheme() != "nats" && url.scheme() != "tls" {
        return Err(config_error(format!(
            "the NATS URL has the scheme {:?}, expected nats (or tls); {URL_FORM}",
            url.scheme()
        )));
    }
    let host = match url.host_str() {
        Some(host) if !host.is_empty() => host.to_owned(),
        _ => return Err(config_error(format!("the NATS URL has no host; {URL_FORM}"))),
    };
    if !(url.path().is_empty() || url.path() == "/") {
        return Err(config_error(format!(
            "the NATS URL has a path ({:?}), which means nothing here; {URL_FORM}",
            url.path()
        )));
    }
    if url.fragment().is_some() {
        return Err(config_error(format!("the NATS URL has a fragment (#...); {URL_FORM}")));
    }
    let mut stream = None;
    for (key, value) in url.query_pairs() {
        match &*key {
            "stream" if stream.is_some() => {
                return Err(config_error(format!("the NATS URL gives stream twice; {URL_FORM}")));
            }
            "stream" if !valid_stream_name(&value) => {
                return Err(config_error(format!(
                    "the stream name {value:?} is not valid: use 1 to 200 ASCII letters, digits, '_' or '-'; {URL_FORM}"
                )));
            }
            "stream" => stream = Some(value.into_owned()),
            other => {
                return Err(config_error(format!(
                    "the NATS URL has an unknown parameter {other:?} (the only one is stream); {URL_FORM}"
                )));
            }
        }
    }
    let port = url.port().unwrap_or(4222);
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host };
    let server = format!("{}://{host}:{port}", url.scheme());
    let user = (!url.username().is_empty()).then(|| decode_percent(url.username()));
    let password = url.password().map(decode_percent);
    let shown = match &user {
        Some(user) if password.is_some() => format!("{}://{user}:***@{host}:{port}", url.scheme()),
        Some(_) => format!("{}://***@{host}:{port}", url.scheme()),
        None => server.clone(),
    };
    let stream = stream.unwrap_or_else(|| DEFAULT_STREAM.to_owned());
    Ok(Target { server, shown: format!("{shown}?stream={stream}"), user, password, stream })
}

fn decode_percent(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| text.to_owned())
}

/// The stream's limits for `retention`.
fn stream_limits(retention: &Retention) -> (i64, i64, Duration) {
    // JetStream reads 0 as unlimited: a limit of nothing keeps one message.
    let count = retention.max_events.map_or(-1, |n| i64::try_from(n.max(1)).unwrap_or(i64::MAX));
    let bytes = retention.max_bytes.map_or(-1, |n| i64::try_from(n.max(1)).unwrap_or(i64::MAX));
    let age = retention.max_age.unwrap_or(Duration::ZERO);
    (count, bytes, age)
}

fn duplicate_window(age: Duration) -> Duration {
    if age.is_zero() {
        DUPLICATE_WINDOW
    } else {
        DUPLICATE_WINDOW.min(age)
    }
}

/// The id index's limits for the stream's `(count, bytes, age)`: the same age, and room for
/// [`INDEX_ENTRIES_PER_MESSAGE`] entries per retained message and twice the bytes.
fn index_limits((count, bytes, age): (i64, i64, Duration)) -> (i64, i64, Duration) {
    let scale = |limit: i64, by: i64| if limit < 0 { -1 } else { limit.saturating_mul(by) };
    (scale(count, INDEX_ENTRIES_PER_MESSAGE), scale(bytes, 2), age)
}

/// The stream behind the id index's KV bucket, laid out as JetStream's KV buckets are, but
/// dropping its oldest entries at its limits.
fn index_stream_config(bucket: &str, (max_messages, max_bytes, max_age): (i64, i64, Duration)) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_messages,
        max_bytes,
        max_age,
        duplicate_window: duplicate_window(max_age),
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::Old,
        num_replicas: 1,
        ..Default::default()
    }
}

/// An event id as a KV key: URL-safe base64 without padding.
fn index_key(id: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

/// The message carrying `events`.
fn encode_message(events: &[Event]) -> Vec<u8> {
    let records: Vec<Vec<u8>> = events.iter().map(codec::encode).collect();
    let mut out = Vec::with_capacity(5 + records.iter().map(|r| r.len() + 4).sum::<usize>());
    out.push(FORMAT);
    out.extend_from_slice(&(records.len() as u32).to_be_bytes());
    for record in &records {
        out.extend_from_slice(&(record.len() as u32).to_be_bytes());
        out.extend_from_slice(record);
    }
    out
}

/// The events of the message at `seq`; `None` when it is not a Herald message or damaged.
fn decode_message(seq: u64, payload: &[u8]) -> Option<Vec<Event>> {
    let (&format, rest) = payload.split_first()?;
    if format != FORMAT || rest.len() < 4 {
        return None;
    }
    let (count, mut rest) = rest.split_at(4);
    let count = u32::from_be_bytes(count.try_into().ok()?) as usize;
    // Each record takes at least its 4-byte length.
    if count > MAX_EVENTS || count > rest.len() / 4 {
        return None;
    }
    let mut events = Vec::with_capacity(count);
    for index in 0..count {
        if rest.len() < 4 {
            return None;
        }
        let (len, tail) = rest.split_at(4);
        let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
        if tail.len() < len {
            return None;
        }
        let (record, tail) = tail.split_at(len);
        events.push(codec::decode(position(seq, index as u64), record)?);
        rest = tail;
    }
    rest.is_empty().then_some(events)
}

impl NatsLog {
    /// Connects to the stream named by `url` (`nats://HOST:PORT[?stream=NAME]`, credentials as
    /// `nats://USER:PASSWORD@HOST:PORT`), creating it if missing. Its retention limits are set
    /// by the first [`SharedLog::append`]; [`NatsLog::connect_with`] sets them at once.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::open(url, None)
    }

    /// Connects like [`NatsLog::connect`] and sets the stream's limits from `retention`.
    pub fn connect_with(url: &str, retention: &Retention) -> Result<Self, StoreError> {
        Self::open(url, Some(retention))
    }

    fn open(url: &str, retention: Option<&Retention>) -> Result<Self, StoreError> {
        let target = parse_url(url)?;
        let engine = target.shown.clone();
        let unreachable = |source: Box<dyn std::error::Error + Send + Sync>| StoreError::Unreachable {
            engine: engine.clone(),
            source,
        };
        let owned = Runtime(Some(
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("herald-nats")
                .enable_all()
                .build()
                .map_err(|e| StoreError::Io { operation: "starting the NATS client's runtime", source: e.into() })?,
        ));
        let Some(runtime) = owned.get() else {
            return Err(StoreError::Io {
                operation: "starting the NATS client's runtime",
                source: "no runtime".into(),
            });
        };
        let mut options = async_nats::ConnectOptions::new()
            .name("herald")
            .connection_timeout(CONNECT_TIMEOUT)
            .request_timeout(Some(CALL_TIMEOUT))
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * attempts as u64).min(Duration::from_secs(1))
            });
        match (&target.user, &target.password) {
            (Some(user), Some(password)) => options = options.user_and_password(user.clone(), password.clone()),
            (Some(token), None) => options = options.token(token.clone()),
            _ => {}
        }
        let server = target.server.clone();
        let client =
            run_on(runtime, async move { tokio::time::timeout(CONNECT_TIMEOUT * 2, options.connect(server)).await })
                .map_err(|_| unreachable("no answer within the connect timeout".into()))?
                .map_err(|e| match e.kind() {
                    async_nats::ConnectErrorKind::Authentication
                    | async_nats::ConnectErrorKind::AuthorizationViolation => StoreError::Io {
                        operation: "connecting to NATS",
                        source: format!(
                            "{engine} refused the credentials ({e}): check the user and password in the URL"
                        )
                        .into(),
                    },
                    _ => unreachable(e.into()),
                })?;
        let max_payload = client.server_info().max_payload;
        // Contexts start a task of their own: built inside the runtime.
        let (js, publisher) = {
            let _inside = runtime.enter();
            (
                jetstream::ContextBuilder::new().timeout(CALL_TIMEOUT).build(client.clone()),
                jetstream::ContextBuilder::new().timeout(ACK_TIMEOUT).build(client.clone()),
            )
        };
        let subject = format!("herald.{}", target.stream);
        let bucket = format!("herald_{}_ids", target.stream);
        let stream_name = target.stream.clone();
        let setup = async {
            let (max_messages, max_bytes, max_age) = retention.map_or((-1, -1, Duration::ZERO), stream_limits);
            let config = stream::Config {
                name: stream_name.clone(),
                subjects: vec![subject.clone()],
                storage: stream::StorageType::File,
                allow_direct: true,
                max_messages,
                max_bytes,
                max_age,
                duplicate_window: duplicate_window(max_age),
                discard: stream::DiscardPolicy::Old,
                ..Default::default()
            };
            // The first JetStream request also tells whether JetStream is on.
            let mut stream = js.get_or_create_stream(config).await.map_err(|e| {
                use jetstream::context::CreateStreamErrorKind as Kind;
                let text = e.to_string().to_ascii_lowercase();
                if client.connection_state() != async_nats::connection::State::Connected || e.kind() == Kind::TimedOut {
                    unreachable(e.into())
                } else if e.kind() == Kind::JetStreamUnavailable || text.contains("not enabled") {
                    StoreError::Io {
                        operation: "opening the JetStream stream",
                        source: format!(
                            "JetStream is not enabled on {engine} ({e}): start nats-server with -js (or enable jetstream in its configuration)"
                        )
                        .into(),
                    }
                } else {
                    StoreError::Io { operation: "opening the JetStream stream", source: e.into() }
                }
            })?;
            let info = stream
                .info()
                .await
                .map_err(|e| StoreError::Io { operation: "reading the stream's state", source: e.into() })?
                .clone();
            if !info.config.subjects.iter().any(|s| s == &subject) {
                return Err(StoreError::Io {
                    operation: "opening the JetStream stream",
                    source: format!(
                        "the stream {stream_name} exists with the subjects {:?}, not {subject}: name another stream in the URL (?stream=NAME)",
                        info.config.subjects
                    )
                    .into(),
                });
            }
            if !info.config.allow_direct {
                // A stream made elsewhere: reads by sequence need direct gets.
                let mut config = info.config.clone();
                config.allow_direct = true;
                js.update_stream(config).await.map_err(|e| StoreError::Io {
                    operation: "allowing direct reads of the stream",
                    source: e.into(),
                })?;
            }
            // The bucket's stream is made here: the client's own bucket creation reads the
            // account's limits in a form nats-server 2.9 does not answer.
            js.get_or_create_stream(index_stream_config(&bucket, index_limits((max_messages, max_bytes, max_age))))
                .await
                .map_err(|e| StoreError::Io { operation: "creating the id index bucket", source: e.into() })?;
            let ids = js
                .get_key_value(bucket.clone())
                .await
                .map_err(|e| StoreError::Io { operation: "opening the id index bucket", source: e.into() })?;
            Ok::<_, StoreError>((stream, info, ids))
        };
        let (stream, info, ids) = run_on(runtime, async { tokio::time::timeout(CALL_TIMEOUT * 3, setup).await })
            .map_err(|_| unreachable("no answer from JetStream in time".into()))??;
        let mut counts = Counts::default();
        if info.state.messages == 0 {
            counts.seen_from = Some(info.state.last_sequence + 1);
            counts.footprint = Some(Footprint { events: 0, bytes: 0 });
        }
        let log = Self {
            runtime: owned,
            client,
            js,
            publisher,
            stream,
            ids,
            subject,
            stream_name: target.stream,
            engine,
            max_payload,
            limits: Mutex::new(Limits { retention: retention.copied(), applied: None }),
            follow: Mutex::new(None),
            counts: Mutex::new(counts),
        };
        if let Some(retention) = retention {
            log.apply_limits(retention)?;
        }
        tracing::info!(engine = %log.engine, stream = %log.stream_name, max_payload, "connected to NATS JetStream");
        Ok(log)
    }

    /// What this log is, for logs and diagnostics.
    pub fn describe(&self) -> String {
        format!("NATS JetStream stream {} at {}", self.stream_name, self.engine)
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn unreachable(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StoreError {
        StoreError::Unreachable { engine: self.engine.clone(), source: source.into() }
    }

    /// The error for `e`, which happened while `operation`: the server is unreachable when the
    /// connection is down or the request timed out.
    fn failure(&self, operation: &'static str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
        let text = e.to_string().to_ascii_lowercase();
        if !self.connected() || text.contains("timed out") || text.contains("timeout") || text.contains("no responders")
        {
            self.unreachable(e)
        } else {
            StoreError::Io { operation, source: e.into() }
        }
    }

    /// Runs `work` on the log's runtime, waiting at most `budget` for it.
    fn block<T: Send>(
        &self,
        budget: Duration,
        work: impl Future<Output = Result<T, StoreError>> + Send,
    ) -> Result<T, StoreError> {
        if !self.connected() {
            return Err(self.unreachable("not connected to the NATS server (reconnecting)"));
        }
        let Some(runtime) = self.runtime.get() else {
            return Err(self.unreachable("the NATS client is shut down"));
        };
        match run_on(runtime, async { tokio::time::timeout(budget, work).await }) {
            Ok(outcome) => outcome,
            Err(_) => Err(self.unreachable(format!("no answer within {} ms", budget.as_millis()))),
        }
    }

    async fn state(&self) -> Result<stream::State, StoreError> {
        Ok(self.stream.get_info().await.map_err(|e| self.failure("reading the stream's state", e))?.state)
    }

    /// Sets the stream's and the index's limits to `retention`'s if they differ.
    fn apply_limits(&self, retention: &Retention) -> Result<(), StoreError> {
        if self.limits.lock().applied == Some(*retention) {
            return Ok(());
        }
        let (max_messages, max_bytes, max_age) = stream_limits(retention);
        self.block(CALL_TIMEOUT * 2, async {
            let info = self.stream.get_info().await.map_err(|e| self.failure("reading the stream's configuration", e))?;
            let mut config = info.config;
            if (config.max_messages, config.max_bytes, config.max_age) != (max_messages, max_bytes, max_age) {
                config.max_messages = max_messages;
                config.max_bytes = max_bytes;
                config.max_age = max_age;
                config.duplicate_window = duplicate_window(max_age);
                self.js.update_stream(config).await.map_err(|e| self.failure("setting the stream's retention limits", e))?;
                tracing::info!(stream = %self.stream_name, max_messages, max_bytes, ?max_age, "set the stream's retention limits");
            }
            let mut index = self
                .js
                .get_stream(self.ids.stream_name.as_str())
                .await
                .map_err(|e| self.failure("reading the id index's configuration", e))?;
            let mut config = index
                .info()
                .await
                .map_err(|e| self.failure("reading the id index's configuration", e))?
                .config
                .clone();
            let (index_messages, index_bytes, index_age) = index_limits((max_messages, max_bytes, max_age));
            if (config.max_messages, config.max_bytes, config.max_age) != (index_messages, index_bytes, index_age) {
                config.max_messages = index_messages;
                config.max_bytes = index_bytes;
                config.max_age = index_age;
                config.duplicate_window = duplicate_window(index_age);
                config.discard = stream::DiscardPolicy::Old;
                self.js.update_stream(config).await.map_err(|e| self.failure("setting the id index's limits", e))?;
            }
            Ok(())
        })?;
        let mut limits = self.limits.lock();
        limits.applied = Some(*retention);
        limits.retention = Some(*retention);
        Ok(())
    }

    /// `events` without those too old for the retention in force.
    fn fresh(&self, events: Vec<Event>, after: u64) -> Vec<Arc<Event>> {
        let retention = self.limits.lock().retention;
        let now = herald_core::retention::now_ms();
        events
            .into_iter()
            .filter(|event| event.seq > after && !retention.is_some_and(|r| r.expired(event.published_ms, now)))
            .map(Arc::new)
            .collect()
    }

    /// The events of the message at `seq`, or none (with a warning) when it is not Herald's.
    fn decode(&self, seq: u64, payload: &[u8]) -> Vec<Event> {
        {
            let mut counts = self.counts.lock();
            if counts.per_message.len() >= MAX_COUNTED {
                // A stream too large to count here (or a node that never appends, so never
                // prunes): no footprint rather than a wrong one.
                *counts = Counts::default();
            }
        }
        match decode_message(seq, payload) {
            Some(events) => {
                self.counts.lock().per_message.insert(seq, events.len() as u64);
                events
            }
            None => {
                tracing::warn!(stream = %self.stream_name, seq, bytes = payload.len(), "skipping a message of the stream that is not a Herald record (foreign or damaged)");
                self.counts.lock().per_message.insert(seq, 0);
                Vec::new()
            }
        }
    }

    async fn publish(&self, payload: Bytes) -> Result<u64, StoreError> {
        let js = &self.publisher;
        let msg_id = uuid::Uuid::new_v4().simple().to_string();
        let mut last_error = None;
        for attempt in 0..2 {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", msg_id.as_str());
            let acked = async {
                let ack = js.publish_with_headers(self.subject.clone(), headers, payload.clone()).await?;
                ack.await
            };
            match tokio::time::timeout(ACK_TIMEOUT, acked).await {
                Ok(Ok(ack)) => return Ok(ack.sequence),
                Ok(Err(e)) => {
                    tracing::debug!(attempt, "publishing to the stream failed: {e}");
                    last_error = Some(self.failure("appending events", e));
                }
                Err(_) => last_error = Some(self.unreachable("JetStream did not acknowledge the append in time")),
            }
            if !self.connected() {
                break;
            }
        }
        Err(last_error.unwrap_or_else(|| self.unreachable("JetStream did not acknowledge the append")))
    }

    /// Records each id's position in the index, keeping an earlier retained one.
    async fn index(&self, events: &[Event], positions: &[u64], first_seq: u64) {
        let mut seen = HashSet::new();
        let mut entries = Vec::with_capacity(events.len());
        for (event, &position) in events.iter().zip(positions) {
            if !event.id.is_empty() && seen.insert(event.id.clone()) {
                entries.push((index_key(&event.id), position));
            }
        }
        let failures: Vec<String> = futures_util::stream::iter(entries)
            .map(|(key, position)| self.index_one(key, position, first_seq))
            .buffer_unordered(INDEX_CONCURRENCY)
            .filter_map(|outcome| async move { outcome.err() })
            .collect()
            .await;
        if let Some(first) = failures.first() {
            tracing::warn!(
                failed = failures.len(),
                "indexing event ids failed ({first}); the events are stored, but resuming from those ids finds nothing"
            );
        }
    }

    /// Records `position` under `key` unless an earlier retained one is there.
    async fn index_one(&self, key: String, position: u64, first_seq: u64) -> Result<(), String> {
        let value = Bytes::from(position.to_string());
        match self.ids.create(&key, value.clone()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Kept unless it points to a message retention removed, or to a later one
                // (another node's append of the same id indexed first).
                let entry = self.ids.entry(&key).await.map_err(|e| e.to_string())?;
                let stale = entry.as_ref().is_none_or(|entry| {
                    std::str::from_utf8(&entry.value)
                        .ok()
                        .and_then(|v| v.parse::<u64>().ok())
                        .is_none_or(|old| sequence_of(old) < first_seq || old > position)
                });
                match entry {
                    Some(entry) if stale => {
                        self.ids.update(&key, value, entry.revision).await.map(|_| ()).map_err(|e| e.to_string())
                    }
                    _ => Ok(()),
                }
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Refreshes the cached footprint from the stream's state.
    fn count(&self, state: &stream::State) {
        let mut counts = self.counts.lock();
        let first = state.first_sequence;
        counts.per_message = counts.per_message.split_off(&first);
        let honest = counts.seen_from.is_some_and(|from| from <= first.max(1)) || state.messages == 0;
        counts.footprint = honest.then(|| Footprint {
            events: if state.messages == 0 { 0 } else { counts.per_message.values().sum() },
            bytes: state.bytes,
        });
    }

    /// Stored messages from `seq` on, read one by one.
    async fn read_stored(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        let state = self.state().await?;
        let mut out = Vec::new();
        if state.messages == 0 {
            return Ok(out);
        }
        let first = sequence_of(after).max(state.first_sequence).max(1);
        self.fetch(first..=state.last_sequence, |events| {
            out.extend(self.fresh(events, after));
            out.len() < limit
        })
        .await?;
        out.truncate(limit);
        Ok(out)
    }

    /// The stored messages at `seqs`, in that order (removed ones skipped), fetched
    /// [`READ_AHEAD`] at a time, each handed to `each` until it answers false.
    async fn fetch(
        &self,
        seqs: impl Iterator<Item = u64>,
        mut each: impl FnMut(Vec<Event>) -> bool,
    ) -> Result<(), StoreError> {
        let mut messages = futures_util::stream::iter(seqs)
            .map(|seq| async move {
                match self.stream.direct_get(seq).await {
                    Ok(message) => Ok(Some((seq, message.payload))),
                    Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(None),
                    Err(e) => Err(self.failure("reading the stream", e)),
                }
            })
            .buffered(READ_AHEAD);
        while let Some(message) = messages.next().await {
            if let Some((seq, payload)) = message? {
                if !each(self.decode(seq, &payload)) {
                    break;
                }
            }
        }
        Ok(())
    }

    async fn follow_from(&self, after: u64) -> Result<Follow, StoreError> {
        let start = sequence_of(after).max(1);
        let consumer = self
            .stream
            .create_consumer(consumer::pull::OrderedConfig {
                filter_subject: self.subject.clone(),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: start },
                ..Default::default()
            })
            .await
            .map_err(|e| self.failure("following the stream", e))?;
        let messages = consumer.messages().await.map_err(|e| self.failure("following the stream", e))?;
        {
            let mut counts = self.counts.lock();
            if counts.seen_from.is_none() {
                counts.seen_from = Some(start);
            }
        }
        Ok(Follow { messages, after, pending: VecDeque::new(), behind: 0 })
    }

    /// Takes one message from the follower's consumer into its pending events.
    fn take(
        &self,
        follow: &mut Follow,
        message: Option<Result<jetstream::Message, consumer::pull::OrderedError>>,
    ) -> Result<(), StoreError> {
        match message {
            Some(Ok(message)) => {
                let info = message
                    .info()
                    .map_err(|e| StoreError::Io { operation: "following the stream", source: e.to_string().into() })?;
                let (seq, behind) = (info.stream_sequence, info.pending);
                let events = self.decode(seq, &message.payload);
                follow.pending.extend(self.fresh(events, follow.after));
                follow.behind = behind;
                Ok(())
            }
            Some(Err(e)) => Err(self.failure("following the stream", e)),
            None => Err(self.unreachable("the stream's consumer ended")),
        }
    }

    async fn read_waiting(
        &self,
        follow: &mut Follow,
        limit: usize,
        wait: Duration,
    ) -> Result<Vec<Arc<Event>>, StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        while follow.pending.is_empty() {
            match tokio::time::timeout_at(deadline, follow.messages.next()).await {
                Ok(message) => self.take(follow, message)?,
                Err(_) => return Ok(Vec::new()),
            }
        }
        // Then what the consumer says is already stored behind it (on its way), and whatever
        // else has arrived, up to the limit.
        while follow.pending.len() < limit {
            if follow.behind > 0 {
                let soon = deadline.min(tokio::time::Instant::now() + CALL_TIMEOUT);
                match tokio::time::timeout_at(soon, follow.messages.next()).await {
                    Ok(message) => self.take(follow, message)?,
                    Err(_) => break,
                }
            } else {
                match follow.messages.next().now_or_never() {
                    Some(message) => self.take(follow, message)?,
                    None => break,
                }
            }
        }
        let n = limit.min(follow.pending.len());
        let out: Vec<Arc<Event>> = follow.pending.drain(..n).collect();
        if let Some(last) = out.last() {
            follow.after = last.seq;
        }
        Ok(out)
    }
}

impl SharedLog for NatsLog {
    fn append(&self, events: &[Event], retention: &Retention, _now_ms: u64) -> Result<Vec<u64>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        if events.len() > MAX_EVENTS {
            return Err(StoreError::Io {
                operation: "appending events",
                source: format!("{} events in one append; a NATS message carries at most {MAX_EVENTS}", events.len())
                    .into(),
            });
        }
        self.apply_limits(retention)?;
        let payload = encode_message(events);
        if payload.len() + HEADER_ALLOWANCE > self.max_payload {
            return Err(StoreError::Io {
                operation: "appending events",
                source: format!(
                    "the batch is {} bytes and the NATS server's max_payload is {} bytes: raise max_payload in nats-server's configuration",
                    payload.len() + HEADER_ALLOWANCE,
                    self.max_payload
                )
                .into(),
            });
        }
        let payload = Bytes::from(payload);
        let budget = ACK_TIMEOUT * 2 + CALL_TIMEOUT * 2;
        self.block(budget, async {
            let seq = self.publish(payload).await?;
            let positions: Vec<u64> = (0..events.len() as u64).map(|i| position(seq, i)).collect();
            self.counts.lock().per_message.insert(seq, events.len() as u64);
            match self.state().await {
                Ok(state) => {
                    self.index(events, &positions, state.first_sequence).await;
                    self.count(&state);
                }
                Err(e) => {
                    tracing::warn!("reading the stream's state after an append failed: {e}");
                    self.index(events, &positions, 0).await;
                }
            }
            Ok(positions)
        })
    }

    fn max_append_bytes(&self) -> Option<usize> {
        // An event's encoded record is about its size plus a few dozen bytes; half the payload
        // leaves room for that on thousands of events.
        Some((self.max_payload.saturating_sub(HEADER_ALLOWANCE * 4) / 2).max(1))
    }

    fn read_after(&self, after: u64, limit: usize, wait: Duration) -> Result<Vec<Arc<Event>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        if wait.is_zero() {
            return self.block(read_budget(limit), self.read_stored(after, limit));
        }
        let kept = self.follow.lock().take().filter(|follow| follow.after == after);
        let started = Instant::now();
        let outcome = self.block(wait + CALL_TIMEOUT, async {
            let mut follow = match kept {
                Some(follow) => follow,
                None => self.follow_from(after).await?,
            };
            let wait = wait.saturating_sub(started.elapsed());
            let events = self.read_waiting(&mut follow, limit, wait).await?;
            Ok((follow, events))
        });
        match outcome {
            Ok((follow, events)) => {
                *self.follow.lock() = Some(follow);
                Ok(events)
            }
            // The consumer is dropped: the next call starts a new one from where it asks.
            Err(e) => Err(e),
        }
    }

    fn read_last(&self, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.block(read_budget(limit), async {
            let state = self.state().await?;
            let mut newest_first: Vec<Vec<Arc<Event>>> = Vec::new();
            if state.messages > 0 {
                let mut count = 0;
                self.fetch((state.first_sequence.max(1)..=state.last_sequence).rev(), |events| {
                    let events = self.fresh(events, 0);
                    count += events.len();
                    newest_first.push(events);
                    count < limit
                })
                .await?;
            }
            let mut events: Vec<Arc<Event>> = newest_first.into_iter().rev().flatten().collect();
            let excess = events.len().saturating_sub(limit);
            events.drain(..excess);
            Ok(events)
        })
    }

    fn last_position(&self) -> Result<u64, StoreError> {
        self.block(CALL_TIMEOUT * 2, async {
            let state = self.state().await?;
            let last = state.last_sequence;
            if last == 0 {
                return Ok(0);
            }
            let past_every_event = position(last, PAST_EVERY_EVENT);
            if state.messages == 0 || last < state.first_sequence {
                return Ok(past_every_event);
            }
            match self.stream.direct_get(last).await {
                Ok(message) => match decode_message(last, &message.payload) {
                    Some(events) if !events.is_empty() => Ok(position(last, events.len() as u64 - 1)),
                    _ => Ok(past_every_event),
                },
                Err(e) if e.kind() == stream::DirectGetErrorKind::NotFound => Ok(past_every_event),
                Err(e) => Err(self.failure("reading the stream", e)),
            }
        })
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        if id.is_empty() {
            return Ok(None);
        }
        self.block(CALL_TIMEOUT * 2, async {
            let entry = self.ids.get(index_key(id)).await.map_err(|e| self.failure("looking up an event id", e))?;
            let Some(value) = entry else {
                return Ok(None);
            };
            let Some(position) = std::str::from_utf8(&value).ok().and_then(|v| v.parse::<u64>().ok()) else {
                tracing::warn!(id, "the id index holds something that is not a position; ignoring it");
                return Ok(None);
            };
            let state = self.state().await?;
            Ok((state.messages > 0 && sequence_of(position) >= state.first_sequence).then_some(position))
        })
    }

    fn footprint(&self) -> Option<Footprint> {
        self.counts.lock().footprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, data: &str) -> Event {
        let update = herald_core::Update { topics: vec!["t".into()], data: data.into(), ..Default::default() };
        Event::new(0, Arc::from(id), 1_700_000_000_000, update).unwrap()
    }

    #[test]
    fn messages_round_trip_and_damage_is_refused() {
        let events = [event("a", "one"), event("b", "two"), event("c", "")];
        let bytes = encode_message(&events);
        let back = decode_message(7, &bytes).unwrap();
        assert_eq!(back.iter().map(|e| e.seq).collect::<Vec<_>>(), [7 << 20, (7 << 20) | 1, (7 << 20) | 2]);
        assert_eq!(back.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(), ["one", "two", ""]);
        for cut in 0..bytes.len() {
            assert!(decode_message(7, &bytes[..cut]).is_none(), "truncated at {cut}");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(decode_message(7, &extra).is_none());
        assert!(decode_message(7, b"garbage").is_none());
    }

    #[test]
    fn keys_are_url_safe_base64() {
        assert_eq!(index_key("f"), "Zg");
        assert_eq!(index_key("fo"), "Zm8");
        assert_eq!(index_key("foo"), "Zm9v");
        assert_eq!(index_key("foob"), "Zm9vYg");
        assert_eq!(index_key("\u{ff}\u{fe}"), "w7_Dvg");
        assert!(index_key("urn:uuid:1/2?x=y").bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn urls_are_checked() {
        let target = parse_url("nats://127.0.0.1:4333?stream=s-1").unwrap();
        assert_eq!((target.server.as_str(), target.stream.as_str()), ("nats://127.0.0.1:4333", "s-1"));
        let target = parse_url("nats://me:secret@localhost").unwrap();
        assert_eq!(target.shown, "nats://me:***@localhost:4222?stream=herald");
        assert_eq!(target.password.as_deref(), Some("secret"));
        for (bad, says) in [
            ("not a url", "malformed"),
            ("http://x:1", "scheme"),
            ("nats://x:1?stream=a.b", "not valid"),
            ("nats://x:1?stream=", "not valid"),
            ("nats://x:1?stream=a&stream=b", "twice"),
            ("nats://x:1?color=red", "unknown parameter \"color\""),
            ("nats://x:1/path", "path"),
        ] {
            let error = parse_url(bad).err().unwrap().to_string();
            assert!(error.contains(says) && error.contains("nats://HOST:PORT[?stream=NAME]"), "{bad}: {error}");
        }
    }
}
