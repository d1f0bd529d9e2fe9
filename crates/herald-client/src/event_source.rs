//! A reconnecting Server-Sent Events client with the semantics of the browser's `EventSource`.
//!
//! A connection that answers anything but `200` with `text/event-stream` fails for good (as in
//! browsers); a connection that drops is retried after the reconnection delay, sending the last
//! event id so the hub replays what was missed.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use herald_sse::Parser;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use url::Url;

/// One received event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The event type (`message` unless the hub set one).
    pub event_type: String,
    /// The payload, its lines joined with LF.
    pub data: String,
    /// The last event id at the time of this event.
    pub id: String,
    /// The event's topics, when the transport carries them (the WebSocket does; Server-Sent
    /// Events do not, and leave it empty).
    pub topics: Vec<String>,
}

/// Why the event source stopped for good.
#[derive(Debug)]
pub enum Error {
    /// The hub refused the subscription; the body says why.
    Refused {
        /// The HTTP status the hub answered.
        status: u16,
        /// The body of the hub's answer.
        message: String,
    },
    /// The response was not an event stream.
    NotAnEventStream(String),
    /// The URL or a header could not be used.
    Invalid(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Refused { status, message } => write!(f, "hub answered {status}: {}", message.trim()),
            Self::NotAnEventStream(ct) => write!(f, "hub answered with {ct:?}, not text/event-stream"),
            Self::Invalid(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for Error {}

/// A subscription that survives disconnections.
pub struct EventSource {
    client: reqwest::Client,
    url: Url,
    headers: HeaderMap,
    last_event_id: String,
    reconnect_delay: Duration,
    response: Option<reqwest::Response>,
    parser: Parser,
    pending: VecDeque<Event>,
    resumed_from: Option<String>,
    connections: u64,
}

impl EventSource {
    /// A source for `url` (the hub URL with its `match`/`topic` parameters).
    pub fn new(url: Url) -> Self {
        Self {
            client: reqwest::Client::new(),
            url,
            headers: HeaderMap::new(),
            last_event_id: String::new(),
            reconnect_delay: Duration::from_secs(3),
            response: None,
            parser: Parser::new(),
            pending: VecDeque::new(),
            resumed_from: None,
            connections: 0,
        }
    }

    /// Starts from this id (as after a reconnection); `earliest` asks for all history.
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = id.into();
        self
    }

    /// Adds a request header, e.g. `Authorization`.
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|e| Error::Invalid(e.to_string()))?;
        let value = HeaderValue::from_str(value).map_err(|e| Error::Invalid(e.to_string()))?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// The delay before reconnecting, until the hub advises another with `retry`.
    pub fn reconnect_delay(mut self, delay: Duration) -> Self {
        self.reconnect_delay = delay;
        self
    }

    /// The id that the next reconnection will resume from.
    pub fn current_last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The `Mercure-Last-Event-ID` the hub answered on the current connection, if any.
    pub fn resumed_from(&self) -> Option<&str> {
        self.resumed_from.as_deref()
    }

    /// How many connections were opened so far.
    pub fn connections(&self) -> u64 {
        self.connections
    }

    /// Drops the current connection; the next [`EventSource::next`] reconnects at once.
    pub fn disconnect(&mut self) {
        self.response = None;
        self.parser = Parser::new();
    }

    /// The next event, connecting and reconnecting as needed.
    pub async fn next(&mut self) -> Result<Event, Error> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Ok(event);
            }
            let Some(response) = self.response.as_mut() else {
                self.connect().await?;
                continue;
            };
            match response.chunk().await {
                Ok(Some(chunk)) => self.absorb(&chunk),
                Ok(None) | Err(_) => {
                    self.disconnect();
                    tokio::time::sleep(self.reconnect_delay).await;
                }
            }
        }
    }

    /// The events as a [`futures_core::Stream`]; the stream ends after its first error (the
    /// errors of [`EventSource::next`] are final).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let herald = herald_server::Herald::builder(herald_server::ServerConfig::default()).memory_store().build()?;
    /// # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let hub: url::Url = format!("http://{}/.well-known/mercure", listener.local_addr()?).parse()?;
    /// # tokio::spawn(async move { axum::serve(listener, herald.router()).await });
    /// use futures_util::{StreamExt, TryStreamExt};
    /// use herald_client::{publish, EventSource, Publication};
    ///
    /// let client = reqwest::Client::new();
    /// for price in ["10", "11", "12"] {
    ///     publish(&client, &hub, &Publication::new("/stocks/ACME", price)).await?;
    /// }
    /// let mut prices = hub.clone();
    /// prices.query_pairs_mut().append_pair("topic", "/stocks/ACME");
    /// let stream = EventSource::new(prices).last_event_id("earliest").into_stream();
    /// let seen: Vec<String> = stream.take(3).map_ok(|event| event.data).try_collect().await?;
    /// assert_eq!(seen, ["10", "11", "12"]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_stream(self) -> impl futures_core::Stream<Item = Result<Event, Error>> + Send {
        futures_util::stream::unfold(Some(self), |source| async move {
            let mut source = source?;
            match source.next().await {
                Ok(event) => Some((Ok(event), Some(source))),
                Err(error) => Some((Err(error), None)),
            }
        })
    }

    fn absorb(&mut self, chunk: &[u8]) {
        for parsed in self.parser.feed(chunk) {
            self.last_event_id.clone_from(&parsed.last_event_id);
            self.pending.push_back(Event {
                event_type: parsed.event_type,
                data: parsed.data,
                id: parsed.last_event_id,
                topics: Vec::new(),
            });
        }
        if let Some(ms) = self.parser.retry() {
            self.reconnect_delay = Duration::from_millis(ms);
        }
    }

    async fn connect(&mut self) -> Result<(), Error> {
        loop {
            let mut request = self
                .client
                .get(self.url.clone())
                .headers(self.headers.clone())
                .header(ACCEPT, "text/event-stream")
                .header(CACHE_CONTROL, "no-store");
            if !self.last_event_id.is_empty() {
                request = request.header("last-event-id", self.last_event_id.as_str());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(_) => {
                    tokio::time::sleep(self.reconnect_delay).await;
                    continue;
                }
            };
            let status = response.status();
            if !status.is_success() {
                let message = response.text().await.unwrap_or_default();
                return Err(Error::Refused { status: status.as_u16(), message });
            }
            let content_type =
                response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            if !content_type.starts_with("text/event-stream") {
                return Err(Error::NotAnEventStream(content_type));
            }
            self.resumed_from = response
                .headers()
                .get("mercure-last-event-id")
                .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
                .map(str::to_owned);
            self.connections += 1;
            self.response = Some(response);
            return Ok(());
        }
    }
}
