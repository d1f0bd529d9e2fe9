//! A WebSocket client for the hub's JSON protocol (`/.well-known/mercure` or `/ws`): subscribe,
//! unsubscribe and publish with acknowledgements on one socket, and events as a
//! [`futures_core::Stream`].
//!
//! One task owns the socket. Requests go to it over a channel and wait for the answer carrying
//! their `ref`; events go to the [`WebSocket`] through a bounded queue (when it is full the task
//! stops reading the socket, and the hub's own flow control takes over). When the connection
//! drops, or the hub closes it for a reason a new connection can fix (a restart, a client too far
//! behind), the task reconnects with a growing, jittered delay and subscribes again from the last
//! event received, so the stream goes on with nothing missed and nothing repeated.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use url::Url;

use crate::{Event, Publication};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Why a WebSocket request, or the connection, failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum WsError {
    /// The hub refused the connection with this HTTP status (e.g. `401`, `403`); the body says why.
    Refused {
        /// The HTTP status.
        status: u16,
        /// The body of the hub's answer.
        message: String,
    },
    /// The hub could not be reached (the first connection only: later ones are retried).
    Connect(String),
    /// The hub refused a request: `code` is the kind (`bad_request`, `unauthorized`, `forbidden`,
    /// `too_large`, `rate_limited`, `unavailable`), as the README's WebSocket section lists.
    Hub {
        /// The kind of failure.
        code: String,
        /// What to fix.
        message: String,
    },
    /// The connection dropped before the answer came: the request may or may not have been
    /// carried out. A publish with an `id` can be sent again safely (the hub's `--dedup-window`).
    Disconnected,
    /// The hub closed the connection for a reason a new connection would not fix (e.g. `1008`:
    /// the token expired or no longer grants the subscription).
    Closed {
        /// The close code.
        code: u16,
        /// The hub's reason.
        reason: String,
    },
    /// The URL or a header cannot be used.
    Invalid(String),
    /// The hub sent a message this client cannot read.
    Protocol(String),
    /// The client was closed.
    Ended,
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { status, message } => write!(f, "hub answered {status}: {}", message.trim()),
            Self::Connect(why) => write!(f, "could not reach the hub: {why}"),
            Self::Hub { code, message } => write!(f, "hub refused the request ({code}): {message}"),
            Self::Disconnected => f.write_str("the connection dropped before the hub answered"),
            Self::Closed { code, reason } => write!(f, "hub closed the connection ({code}): {reason}"),
            Self::Invalid(why) => f.write_str(why),
            Self::Protocol(why) => write!(f, "unreadable message from the hub: {why}"),
            Self::Ended => f.write_str("the client was closed"),
        }
    }
}

impl std::error::Error for WsError {}

/// What to receive: topics matched exactly, URL patterns, URI templates, from where.
///
/// ```
/// use herald_client::Subscribe;
///
/// let books = Subscribe::exact("/books/1").url_pattern("/authors/:id").after("urn:uuid:1234");
/// assert_eq!(books.exact, ["/books/1"]);
/// assert_eq!(books.last_event_id.as_deref(), Some("urn:uuid:1234"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscribe {
    /// Topics matched exactly (the `match` field).
    pub exact: Vec<String>,
    /// URL patterns of topics (`match_urlpattern`), e.g. `/books/:id`.
    pub url_patterns: Vec<String>,
    /// Topics or RFC 6570 URI templates (the Mercure 0.x `topic` field), e.g. `/books/{id}`.
    pub templates: Vec<String>,
    /// Replay what came after this id first (`earliest`: all of history).
    pub last_event_id: Option<String>,
}

impl Subscribe {
    /// A subscription to one topic, matched exactly.
    pub fn exact(topic: impl Into<String>) -> Self {
        Self::default().and_exact(topic)
    }

    /// Adds a topic matched exactly.
    pub fn and_exact(mut self, topic: impl Into<String>) -> Self {
        self.exact.push(topic.into());
        self
    }

    /// Adds a URL pattern of topics.
    pub fn url_pattern(mut self, pattern: impl Into<String>) -> Self {
        self.url_patterns.push(pattern.into());
        self
    }

    /// Adds a topic or URI template.
    pub fn template(mut self, template: impl Into<String>) -> Self {
        self.templates.push(template.into());
        self
    }

    /// Replays the events after `id` first (`earliest`: all of history).
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    fn message(&self, last_event_id: Option<&str>) -> Value {
        let mut message = json!({
            "type": "subscribe",
            "match": self.exact,
            "match_urlpattern": self.url_patterns,
            "topic": self.templates,
        });
        if let Some(id) = last_event_id.or(self.last_event_id.as_deref()) {
            message["last_event_id"] = json!(id);
        }
        message
    }
}

/// How a [`WebSocket`] connects; from [`WebSocket::builder`].
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `connect` is called"]
pub struct Builder {
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    min_delay: Duration,
    max_delay: Duration,
    queue: usize,
}

impl Builder {
    /// Sends `token` (a JWT) as `Authorization: Bearer` when connecting: it grants the
    /// subscriptions and publishes of the whole connection.
    pub fn token(self, token: &str) -> Result<Self, WsError> {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// Adds a header to the opening handshake (e.g. `Cookie`, `Origin`).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, WsError> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| WsError::Invalid(e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| WsError::Invalid(e.to_string()))?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// The delay before the first reconnection (default 500 ms); it doubles with each failed
    /// attempt, up to `max` (default 30 s), with up to half of it added at random.
    pub fn reconnect_delay(mut self, first: Duration, max: Duration) -> Self {
        self.min_delay = first;
        self.max_delay = max.max(first);
        self
    }

    /// How many received events may wait to be read (default 1024).
    pub fn queue(mut self, events: usize) -> Self {
        self.queue = events.max(1);
        self
    }

    /// Opens the connection. Fails if the hub cannot be reached or refuses the handshake; after
    /// that, drops are repaired by reconnecting.
    pub async fn connect(self) -> Result<WebSocket, WsError> {
        let socket = open(&self).await?;
        let (commands, commands_rx) = mpsc::channel(64);
        let (events_tx, events) = mpsc::channel(self.queue);
        let task = tokio::spawn(Driver::new(self, commands_rx, events_tx).run(socket));
        Ok(WebSocket { commands, events, task })
    }
}

/// A connection to the hub over its WebSocket protocol, reconnecting by itself.
///
/// Events of the current subscription come from [`WebSocket::next`], or from the connection as a
/// [`futures_core::Stream`]; an error in the stream (e.g. [`WsError::Closed`]) ends it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let herald = herald_server::Herald::builder(herald_server::ServerConfig::default()).memory_store().build()?;
/// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// # let hub = format!("ws://{}/.well-known/mercure", listener.local_addr()?);
/// # tokio::spawn(async move { axum::serve(listener, herald.router()).await });
/// use herald_client::{Publication, Subscribe, WebSocket};
///
/// let mut socket = WebSocket::builder(hub.parse()?).connect().await?;
/// socket.subscribe(Subscribe::exact("/chat/lobby")).await?;
/// let id = socket.publish(&Publication::new("/chat/lobby", "hello")).await?;
///
/// let event = socket.next().await.expect("the stream goes on")?;
/// assert_eq!((event.data.as_str(), event.id.as_str()), ("hello", id.as_str()));
/// assert_eq!(event.topics, ["/chat/lobby"]);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct WebSocket {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Result<Event, WsError>>,
    task: JoinHandle<()>,
}

impl WebSocket {
    /// A builder for a connection to `url` (`ws://` or `wss://`, the hub's
    /// `/.well-known/mercure` or `/ws`).
    pub fn builder(url: Url) -> Builder {
        Builder {
            url,
            headers: Vec::new(),
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            queue: 1024,
        }
    }

    /// Replaces the connection's subscription; returns the id the replay starts after (what
    /// `Mercure-Last-Event-ID` would say), if any.
    pub async fn subscribe(&self, subscription: Subscribe) -> Result<Option<String>, WsError> {
        let ack = self.request(Request::Subscribe(subscription)).await?;
        Ok(ack.get("last_event_id").and_then(Value::as_str).map(str::to_owned))
    }

    /// Ends the connection's subscription.
    pub async fn unsubscribe(&self) -> Result<(), WsError> {
        self.request(Request::Unsubscribe).await.map(drop)
    }

    /// Publishes `update` on this connection and returns the event id the hub gave it, once the
    /// hub holds it.
    pub async fn publish(&self, update: &Publication) -> Result<String, WsError> {
        let ack = self.request(Request::Publish(publish_message(update))).await?;
        ack.get("id")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| WsError::Protocol("a publish acknowledgement without an id".into()))
    }

    /// The next event of the subscription; `None` once the client has ended (after an error).
    pub async fn next(&mut self) -> Option<Result<Event, WsError>> {
        self.events.recv().await
    }

    /// Closes the connection with a normal close frame and waits for the client to end.
    pub async fn close(self) {
        let (reply, answered) = oneshot::channel();
        if self.commands.send(Command { request: Request::Close, reply }).await.is_ok() {
            let _ = answered.await;
        }
    }

    async fn request(&self, request: Request) -> Result<Value, WsError> {
        let (reply, answered) = oneshot::channel();
        self.commands.send(Command { request, reply }).await.map_err(|_| WsError::Ended)?;
        answered.await.map_err(|_| WsError::Ended)?
    }
}

impl futures_core::Stream for WebSocket {
    type Item = Result<Event, WsError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.poll_recv(cx)
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn publish_message(update: &Publication) -> Value {
    let mut message = json!({ "type": "publish", "topic": update.topics, "data": update.data });
    if let Some(id) = &update.id {
        message["id"] = json!(id);
    }
    if let Some(event_type) = &update.event_type {
        message["event"] = json!(event_type);
    }
    if let Some(retry) = update.retry {
        message["retry"] = json!(retry);
    }
    if update.private {
        message["private"] = json!(true);
    }
    message
}

#[derive(Debug)]
enum Request {
    Subscribe(Subscribe),
    Unsubscribe,
    Publish(Value),
    Close,
}

#[derive(Debug)]
struct Command {
    request: Request,
    reply: oneshot::Sender<Result<Value, WsError>>,
}

/// Opens one connection, with the builder's headers.
async fn open(builder: &Builder) -> Result<Socket, WsError> {
    let mut request = builder.url.as_str().into_client_request().map_err(|e| WsError::Invalid(e.to_string()))?;
    for (name, value) in &builder.headers {
        request.headers_mut().append(name.clone(), value.clone());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((socket, _)) => Ok(socket),
        Err(tungstenite::Error::Http(response)) => {
            let message = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().into_owned();
            Err(WsError::Refused { status: response.status().as_u16(), message })
        }
        Err(tungstenite::Error::Url(e)) => Err(WsError::Invalid(e.to_string())),
        Err(e) => Err(WsError::Connect(e.to_string())),
    }
}

/// Why one connection ended.
enum Outcome {
    /// Reconnect (a drop, a restart, a client too far behind).
    Reconnect,
    /// Stop, telling the reader why (a refusal a new connection would not fix).
    Fail(WsError),
    /// The user closed the client, or dropped it.
    Done,
}

/// The task that owns the socket.
struct Driver {
    builder: Builder,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Result<Event, WsError>>,
    /// Requests sent and not answered yet, by `ref`.
    pending: HashMap<u64, (Kind, oneshot::Sender<Result<Value, WsError>>)>,
    next_ref: u64,
    /// The subscription to restore after a reconnection.
    subscription: Option<Subscribe>,
    /// The id of the last event received: where a restored subscription resumes.
    last_event_id: Option<String>,
    /// An event taken from the socket while the queue was full.
    stalled: Option<Event>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Subscribe,
    Unsubscribe,
    Publish,
    /// The subscription restored after a reconnection (nobody waits for its answer).
    Resubscribe,
}

impl Driver {
    fn new(builder: Builder, commands: mpsc::Receiver<Command>, events: mpsc::Sender<Result<Event, WsError>>) -> Self {
        Self {
            builder,
            commands,
            events,
            pending: HashMap::new(),
            next_ref: 0,
            subscription: None,
            last_event_id: None,
            stalled: None,
        }
    }

    async fn run(mut self, mut socket: Socket) {
        let mut failures = 0u32;
        loop {
            let outcome = self.serve(&mut socket).await;
            for (_, (_, reply)) in self.pending.drain() {
                let _ = reply.send(Err(WsError::Disconnected));
            }
            match outcome {
                Outcome::Done => return,
                Outcome::Fail(error) => {
                    let _ = self.events.send(Err(error)).await;
                    return;
                }
                Outcome::Reconnect => {}
            }
            // Reconnect; requests made meanwhile wait in the channel and go out once connected.
            socket = loop {
                tokio::time::sleep(self.delay(failures)).await;
                match open(&self.builder).await {
                    Ok(socket) => break socket,
                    Err(error @ WsError::Refused { .. }) => {
                        let _ = self.events.send(Err(error)).await;
                        return;
                    }
                    Err(_) => failures = failures.saturating_add(1),
                }
            };
            failures = 0;
            if let Some(subscription) = &self.subscription {
                let message = subscription.message(self.last_event_id.as_deref());
                let (reply, _) = oneshot::channel();
                if self.send(&mut socket, Kind::Resubscribe, message, reply).await.is_err() {
                    continue;
                }
            }
        }
    }

    /// Serves one connection until it ends.
    async fn serve(&mut self, socket: &mut Socket) -> Outcome {
        loop {
            tokio::select! {
                command = self.commands.recv() => {
                    let Some(Command { request, reply }) = command else {
                        let _ = socket.close(None).await;
                        return Outcome::Done;
                    };
                    let (kind, message) = match request {
                        Request::Subscribe(subscription) => {
                            let message = subscription.message(None);
                            self.subscription = Some(subscription);
                            self.last_event_id = None;
                            (Kind::Subscribe, message)
                        }
                        Request::Unsubscribe => {
                            self.subscription = None;
                            (Kind::Unsubscribe, json!({ "type": "unsubscribe" }))
                        }
                        Request::Publish(message) => (Kind::Publish, message),
                        Request::Close => {
                            let _ = socket.close(None).await;
                            // Read until the hub answers the close.
                            while let Some(Ok(_)) = socket.next().await {}
                            let _ = reply.send(Ok(Value::Null));
                            return Outcome::Done;
                        }
                    };
                    if self.send(socket, kind, message, reply).await.is_err() {
                        return Outcome::Reconnect;
                    }
                }
                permit = self.events.clone().reserve_owned(), if self.stalled.is_some() => {
                    let Ok(permit) = permit else { return Outcome::Done };
                    if let Some(event) = self.stalled.take() {
                        permit.send(Ok(event));
                    }
                }
                message = socket.next(), if self.stalled.is_none() => match message {
                    Some(Ok(Message::Text(text))) => {
                        if let Err(outcome) = self.receive(text.as_str()) {
                            return outcome;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        return match frame {
                            Some(frame) if is_final(frame.code) => {
                                Outcome::Fail(WsError::Closed { code: frame.code.into(), reason: frame.reason.to_string() })
                            }
                            _ => Outcome::Reconnect,
                        };
                    }
                    Some(Ok(_)) => {} // pings are answered by the socket itself
                    Some(Err(_)) | None => return Outcome::Reconnect,
                },
            }
        }
    }

    async fn send(
        &mut self,
        socket: &mut Socket,
        kind: Kind,
        mut message: Value,
        reply: oneshot::Sender<Result<Value, WsError>>,
    ) -> Result<(), ()> {
        let reference = self.next_ref;
        self.next_ref += 1;
        message["ref"] = json!(reference);
        self.pending.insert(reference, (kind, reply));
        socket.send(Message::text(message.to_string())).await.map_err(drop)
    }

    /// Takes one message from the hub.
    fn receive(&mut self, text: &str) -> Result<(), Outcome> {
        let message: Value =
            serde_json::from_str(text).map_err(|e| Outcome::Fail(WsError::Protocol(format!("{e}: {text:.80}"))))?;
        match message.get("type").and_then(Value::as_str) {
            Some("event") => {
                let event = read_event(&message).ok_or_else(|| {
                    Outcome::Fail(WsError::Protocol(format!("an event without its fields: {text:.80}")))
                })?;
                self.last_event_id = Some(event.id.clone());
                if let Err(mpsc::error::TrySendError::Full(Ok(event))) = self.events.try_send(Ok(event)) {
                    self.stalled = Some(event);
                }
                Ok(())
            }
            Some(answer @ ("ack" | "error")) => {
                let Some((kind, reply)) =
                    message.get("ref").and_then(Value::as_u64).and_then(|r| self.pending.remove(&r))
                else {
                    return Ok(()); // an answer to nothing asked: a hub-initiated error, or a late one
                };
                let result = if answer == "ack" {
                    Ok(message)
                } else {
                    let field = |name: &str| message.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
                    Err(WsError::Hub { code: field("code"), message: field("message") })
                };
                if kind == Kind::Resubscribe {
                    if let Err(error) = result {
                        // The subscription can no longer be restored (e.g. the token expired).
                        self.subscription = None;
                        let _ = self.events.try_send(Err(error));
                    }
                } else {
                    let _ = reply.send(result);
                }
                Ok(())
            }
            _ => Ok(()), // `pong`, or a message type this client does not know
        }
    }

    /// The delay before reconnection attempt `failures + 1`.
    fn delay(&self, failures: u32) -> Duration {
        let base = self.builder.min_delay.saturating_mul(2u32.saturating_pow(failures.min(16)));
        let base = base.min(self.builder.max_delay);
        base.saturating_add(base.mul_f64(fastrand::f64() / 2.0))
    }
}

/// Close codes after which reconnecting would not help: a policy refusal (the token, the
/// origin), or messages the hub cannot take from this client.
fn is_final(code: CloseCode) -> bool {
    matches!(code, CloseCode::Policy | CloseCode::Unsupported | CloseCode::Invalid | CloseCode::Protocol)
}

fn read_event(message: &Value) -> Option<Event> {
    let text = |name: &str| message.get(name).and_then(Value::as_str).map(str::to_owned);
    let topics = message.get("topics")?.as_array()?.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    Some(Event {
        event_type: text("event").unwrap_or_else(|| "message".into()),
        data: text("data")?,
        id: text("id")?,
        topics,
    })
}
