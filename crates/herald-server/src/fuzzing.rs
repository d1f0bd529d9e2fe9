//! Entry points into the parsers that read outside input, for the fuzz targets in `fuzz/`.
//!
//! Compiled only with the `fuzzing` feature and hidden from the documentation: this is no API.
//! Each function is a thin wrapper that calls the code the server runs, with the default
//! settings, and returns plain values the targets can check invariants on.

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use herald_core::{ValidUpdate, HUB_PATH};
use url::Url;

use crate::auth::{AuthConfig, Authorizer, KeyConfig};
use crate::config::ServerConfig;
use crate::ops::publish::check_limits;
use crate::transport::select::{self, Transport};
use crate::transport::ws::protocol::{self, ClientMessage};

static CONFIG: LazyLock<ServerConfig> = LazyLock::new(ServerConfig::default);

/// The hub URL every wrapper validates against (the default one).
pub fn hub_url() -> Url {
    CONFIG.hub.hub_url.clone()
}

/// The `application/x-www-form-urlencoded` pairs of a publish body or query string
/// (`form.rs`), or why the input is refused.
pub fn form_pairs(input: &[u8]) -> Result<Vec<(String, String)>, String> {
    crate::form::parse(input)
}

/// A publish form body read into an update (`transport/publish_form.rs`), then checked against
/// the default limits and validated, as a publish is before it reaches the hub.
pub fn publish_form(body: &[u8]) -> Result<ValidUpdate, String> {
    let limits = &CONFIG.limits;
    let update = crate::transport::publish_form::parse_update(body, limits).map_err(|e| e.to_string())?;
    check_limits(&update, limits).map_err(|e| e.to_string())?;
    update.into_valid(&CONFIG.hub.hub_url).map_err(|e| e.to_string())
}

/// What the server makes of one request head.
#[derive(Debug)]
pub struct HeadReading {
    /// The listener took it for the lean event-stream path (`listener/sniff.rs`).
    pub lean_stream: bool,
    /// The `Host` rule's verdict (`host.rs`), for an HTTP/1.1 head that parsed.
    pub host: Option<Result<(), &'static str>>,
    /// For a `GET` on the hub's path: whether the transport selected (`transport/select.rs`)
    /// streams (anything but a poll), or why the subscription request was refused.
    pub streams: Option<Result<bool, String>>,
}

/// Reads a request head as the listener does, then applies the `Host` rule and the
/// subscription reading to the request. A head the listener leaves to hyper is parsed here with
/// `httparse` (headers hyper would refuse are left out) so that those checks see it too.
pub fn request_head(head: &[u8]) -> HeadReading {
    let sniffed = crate::listener::sniff::subscription(head);
    let lean_stream = sniffed.is_some();
    let Some(request) = sniffed.or_else(|| any_request(head)) else {
        return HeadReading { lean_stream, host: None, streams: None };
    };
    let host = (request.version() == Version::HTTP_11).then(|| crate::host::check(&request));
    let streams = (request.method() == Method::GET && request.uri().path() == HUB_PATH).then(|| {
        select::select(request.uri().query().unwrap_or(""), request.headers(), &CONFIG)
            .map(|selected| !matches!(selected.transport, Transport::Poll { .. }))
            .map_err(|e| e.to_string())
    });
    HeadReading { lean_stream, host, streams }
}

/// Any complete HTTP/1.x request head, as a request with an empty body.
fn any_request(head: &[u8]) -> Option<Request<Body>> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut headers);
    if !matches!(parsed.parse(head), Ok(httparse::Status::Complete(_))) {
        return None;
    }
    let version = if parsed.version? == 0 { Version::HTTP_10 } else { Version::HTTP_11 };
    let method = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    let uri = parsed.path?.parse::<Uri>().ok()?;
    let mut request = Request::builder().method(method).uri(uri).version(version);
    for header in parsed.headers.iter() {
        let (Ok(name), Ok(value)) =
            (HeaderName::from_bytes(header.name.as_bytes()), HeaderValue::from_bytes(header.value))
        else {
            continue;
        };
        request = request.header(name, value);
    }
    request.body(Body::empty()).ok()
}

/// A WebSocket client message as the hub reads it.
#[derive(Debug)]
pub enum WsMessage {
    /// `subscribe`.
    Subscribe {
        /// Matchers given, of every kind.
        matchers: usize,
        /// A `last_event_id` was given.
        resumes: bool,
    },
    /// `unsubscribe`.
    Unsubscribe,
    /// `publish`: the update after the limits and validation, or why it was refused.
    Publish(Result<ValidUpdate, String>),
    /// `publish_batch`: each update after the limits and validation, or why it was refused.
    PublishBatch(Vec<Result<ValidUpdate, String>>),
    /// `ping`.
    Ping,
}

/// Reads one text message of the WebSocket protocol (`transport/ws/protocol.rs`); the error
/// is the `error` message the hub answers with.
pub fn ws_message(text: &str) -> Result<WsMessage, String> {
    Ok(match protocol::read(text)? {
        ClientMessage::Subscribe { exact, match_urlpattern, topic, last_event_id, .. } => WsMessage::Subscribe {
            matchers: [exact, match_urlpattern, topic].into_iter().map(|m| m.into_vec().len()).sum(),
            resumes: last_event_id.is_some_and(|id| !id.is_empty()),
        },
        ClientMessage::Unsubscribe { .. } => WsMessage::Unsubscribe,
        ClientMessage::Publish { topic, data, id, event, retry, private, .. } => {
            WsMessage::Publish(checked(protocol::JsonUpdate { topic, data, id, event_type: event, retry, private }))
        }
        ClientMessage::PublishBatch { updates, .. } => {
            WsMessage::PublishBatch(updates.into_iter().map(checked).collect())
        }
        ClientMessage::Ping { .. } => WsMessage::Ping,
    })
}

/// A publish's update read, limited and validated as the hub does, or why it was refused.
fn checked(update: protocol::JsonUpdate) -> Result<ValidUpdate, String> {
    let update = update.into_update(&CONFIG.limits).map_err(|e| e.to_string())?;
    check_limits(&update, &CONFIG.limits).map_err(|e| e.to_string())?;
    update.into_valid(&CONFIG.hub.hub_url).map_err(|e| e.to_string())
}

/// The hub's authorization with fixed keys (`auth/`), the query parameter enabled.
#[derive(Debug)]
pub struct Auth(Authorizer);

impl Auth {
    /// An authorizer verifying publishers' tokens with `publisher` and subscribers' with
    /// `subscriber`; the error says which key is unusable.
    pub fn new(publisher: KeyConfig, subscriber: KeyConfig) -> Result<Self, String> {
        let config = AuthConfig {
            publisher_key: Some(publisher),
            subscriber_key: Some(subscriber),
            query_param: true,
            ..AuthConfig::default()
        };
        Authorizer::new(&config, &CONFIG.hub.hub_url, &[]).map(Self)
    }

    /// The publish rights of a request with these headers (invalid names and values are left
    /// out, as hyper refuses them) and query: how many topic selectors it grants, or why none.
    pub fn publisher(&self, headers: &[(&str, &[u8])], query: Option<&str>) -> Result<usize, String> {
        match self.0.publisher(&header_map(headers), query).map_err(|e| e.to_string())? {
            crate::auth::PublishRights::Open => Ok(usize::MAX),
            crate::auth::PublishRights::Granted { selectors, .. } => Ok(selectors.len()),
        }
    }

    /// The read rights of a request with these headers and query: the token's `exp`, or why it
    /// is refused.
    pub fn subscriber(&self, headers: &[(&str, &[u8])], query: Option<&str>) -> Result<Option<u64>, String> {
        self.0.subscriber(&header_map(headers), query).map(|rights| rights.expires).map_err(|e| e.to_string())
    }
}

fn header_map(headers: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
            map.append(name, value);
        }
    }
    map
}

/// What the WebSocket reader took out of a client's bytes: a message, a control frame, or the
/// close code that failed the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text message (always valid UTF-8: it is a `String`).
    Text(String),
    /// A binary message.
    Binary(Vec<u8>),
    /// A ping and its payload.
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// The client's close frame, and its code.
    Close(Option<u16>),
    /// The connection fails with this close code.
    Failed(u16),
}

/// Feeds `input` to a server-side WebSocket reader (`transport/ws/reader.rs`, with `frame.rs`
/// and, when `deflate`, `deflate.rs`) `chunk` bytes at a time (at least 1), messages limited to
/// `max_message` bytes; returns everything it took out, up to and including a failure.
pub fn ws_frames(input: &[u8], chunk: usize, deflate: bool, max_message: usize) -> Vec<WsFrame> {
    use crate::transport::ws::reader::{Incoming, Reader};
    let mut reader = Reader::new(deflate, max_message);
    let mut out = Vec::new();
    for piece in input.chunks(chunk.max(1)) {
        reader.input().extend_from_slice(piece);
        loop {
            match reader.next() {
                Ok(None) => break,
                Ok(Some(incoming)) => out.push(match incoming {
                    Incoming::Text(text) => WsFrame::Text(text),
                    Incoming::Binary(data) => WsFrame::Binary(data),
                    Incoming::Ping(payload) => WsFrame::Ping(payload),
                    Incoming::Pong => WsFrame::Pong,
                    Incoming::Close(code) => WsFrame::Close(code),
                }),
                Err(failure) => {
                    out.push(WsFrame::Failed(failure.code));
                    return out;
                }
            }
        }
    }
    out
}

/// One message of a Bayeux request as the hub reads it: its channel and whether the name is
/// valid (and a pattern), or `None` for an element that is not a message.
pub type BayeuxChannel = Option<(String, Result<bool, &'static str>)>;

/// Reads a Bayeux request body (`transport/bayeux/http.rs`, `message.rs`, `channel.rs`) with
/// the default limits: each message's channel checked, or the HTTP status it is refused with.
pub fn bayeux_request(text: &str) -> Result<Vec<BayeuxChannel>, u16> {
    use crate::transport::bayeux::{channel, http, message::Message};
    let messages = http::read_messages(text, CONFIG.bayeux.max_messages).map_err(|(status, _)| status.as_u16())?;
    Ok(messages
        .into_iter()
        .map(|value| {
            let name = Message::read(value)?.channel?;
            let checked = channel::check(&name, CONFIG.limits.max_field_bytes).map(|()| channel::is_pattern(&name));
            Some((name, checked))
        })
        .collect())
}

/// The Bayeux message delivering an event whose data is `data` on the topic `/fuzz`
/// (`transport/bayeux/delivery.rs`).
pub fn bayeux_delivery(data: &str) -> Vec<u8> {
    let update = herald_core::Update { topics: vec!["/fuzz".into()], data: data.into(), ..Default::default() };
    match herald_core::Event::new(1, "e".into(), 0, update) {
        Ok(event) => crate::transport::bayeux::delivery::message(&event, 0).to_vec(),
        Err(_) => Vec::new(),
    }
}

/// One update of an NDJSON body: its line number, and the update or why it was refused.
pub type NdjsonLine = (usize, Result<ValidUpdate, String>);

/// An NDJSON batch publish body read as the hub reads it (`transport/publish_batch.rs`), with
/// the default limits: each update's line number and the update after the limits and
/// validation (or why it was refused), or why the whole body was refused.
pub fn publish_ndjson(body: &[u8]) -> Result<Vec<NdjsonLine>, String> {
    let limits = &CONFIG.limits;
    let (updates, lines) = crate::transport::publish_batch::parse_ndjson(body, limits).map_err(|e| e.to_string())?;
    Ok(lines
        .into_iter()
        .zip(updates)
        .map(|(line, update)| {
            let checked = check_limits(&update, limits)
                .map_err(|e| e.to_string())
                .and_then(|()| update.into_valid(&CONFIG.hub.hub_url).map_err(|e| e.to_string()));
            (line, checked)
        })
        .collect())
}
