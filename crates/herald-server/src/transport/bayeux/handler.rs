//! The Bayeux messages, handled once for every transport: a request's messages in, their
//! replies out, and at most one `/meta/connect` left to wait on.
//!
//! Each message is answered in order. Subscribing and publishing go through the operations
//! layer ([`crate::ops`]) like every other transport's, so rights, limits and validation are
//! the same, and so are the events: a Bayeux channel is a hub topic.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};
use bytes::Bytes;
use herald_core::Update;
use serde_json::{json, Value};

use super::channel::{self, Kind, Meta};
use super::message::{Failure, Message, Reconnect, Reply};
use super::session::{Acked, Connected, Session};
use super::sessions::Refused;
use crate::auth::AuthError;
use crate::ops::{self, FailureKind, PublishFailure, Publisher, Subscriber};
use crate::AppState;

/// The connection types the hub offers, in its order of preference.
pub(crate) const CONNECTION_TYPES: [&str; 3] = ["websocket", "long-polling", "callback-polling"];

/// One request's context: who sent it, and how.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub state: &'a AppState,
    pub headers: &'a HeaderMap,
    pub client: Option<IpAddr>,
}

/// The replies to a request, and the connect it left waiting.
#[derive(Debug, Default)]
pub(crate) struct Handled {
    pub replies: Vec<Bytes>,
    pub connect: Option<Waiting>,
}

/// A `/meta/connect` to answer once events come or its time is up.
#[derive(Debug)]
pub(crate) struct Waiting {
    session: Arc<Session>,
    message: Message,
    hold: Duration,
    acked: Acked,
}

impl Waiting {
    /// Waits, then gives the messages to deliver followed by the connect's reply.
    pub(crate) async fn answer(self, state: &AppState) -> Vec<Bytes> {
        let connected = self.session.connect(state, self.hold, self.acked).await;
        let channel = Meta::Connect.name();
        match connected {
            Connected::Delivered { mut messages, batch } => {
                // A hub shutting down answers at once: the client comes back after a pause
                // (elsewhere, behind a load balancer), not in a loop.
                let interval = if state.hub.is_draining() { retry_ms(state) } else { 0 };
                let mut reply = Reply::to(channel, &self.message).advice(Reconnect::Retry, interval, timeout_ms(state));
                if let Some(batch) = batch {
                    reply = reply.set("ext", json!({"ack": batch}));
                }
                messages.push(reply.into_bytes());
                messages
            }
            Connected::Replaced => {
                let failure =
                    Failure::new(409, &*self.session.id, "a newer /meta/connect of this session replaced this one")
                        .advise(Reconnect::None);
                vec![Reply::failed(channel, &self.message, &failure).into_bytes()]
            }
            Connected::Refused(failure) => {
                if failure.reconnect == Some(Reconnect::Handshake) {
                    state.bayeux.remove(&self.session.id);
                }
                vec![Reply::failed(channel, &self.message, &failure).into_bytes()]
            }
        }
    }
}

/// The pause advised to clients of a hub that is shutting down: `--retry`.
fn retry_ms(state: &AppState) -> u64 {
    millis(state.config.retry.unwrap_or(Duration::from_secs(1)))
}

/// The longest a connect is held: `--bayeux-timeout`.
fn timeout_ms(state: &AppState) -> u64 {
    millis(state.config.bayeux.timeout)
}

/// A duration in the protocol's milliseconds.
fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Handles a request's messages in order.
pub(crate) async fn handle(request: &Request<'_>, messages: Vec<Value>) -> Handled {
    let mut handled = Handled::default();
    for value in messages {
        let Some(message) = Message::read(value) else {
            handled.replies.push(Reply::unreadable().into_bytes());
            continue;
        };
        let Some(name) = message.channel.clone() else {
            handled.replies.push(Reply::failed("", &message, &Failure::new(400, "", "Missing channel")).into_bytes());
            continue;
        };
        let max = request.state.config.limits.max_field_bytes;
        if let Err(why) = channel::check(&name, max) {
            handled.replies.push(Reply::failed(&name, &message, &Failure::new(400, &name, why)).into_bytes());
            continue;
        }
        let reply = match channel::kind(&name) {
            Kind::Meta(Meta::Connect) => {
                match connect(request, message, &handled).await {
                    Ok(waiting) => handled.connect = Some(waiting),
                    Err((message, failure)) => {
                        handled.replies.push(Reply::failed(&name, &message, &failure).into_bytes());
                    }
                }
                continue;
            }
            Kind::Meta(Meta::Handshake) => handshake(request, &message).await,
            Kind::Meta(Meta::Subscribe) => subscribe(request, &message, true).await,
            Kind::Meta(Meta::Unsubscribe) => subscribe(request, &message, false).await,
            Kind::Meta(Meta::Disconnect) => disconnect(request, &message),
            Kind::UnknownMeta => Err(Failure::new(400, &name, "Unknown meta channel")),
            Kind::Service => Err(Failure::new(404, &name, "No service on this channel")),
            Kind::Broadcast => publish(request, &message, &name).await,
        };
        let reply = reply.unwrap_or_else(|failure| Reply::failed(&name, &message, &failure));
        handled.replies.push(reply.into_bytes());
    }
    handled
}

/// The session a message names.
fn session_of(request: &Request<'_>, message: &Message) -> Result<Arc<Session>, Failure> {
    let id = message.client_id.as_deref().ok_or_else(Failure::no_client_id)?;
    request.state.bayeux.get(id).ok_or_else(|| Failure::unknown_client(id))
}

/// The reason a token found at the handshake is refused outright (missing tokens are not: a
/// client may subscribe without publishing, or publish without reading).
fn invalid_token(result: &Result<impl Sized, AuthError>) -> Option<&AuthError> {
    match result {
        Err(
            e @ (AuthError::InvalidToken | AuthError::UnknownKey(_) | AuthError::Expired | AuthError::MalformedHeader),
        ) => Some(e),
        _ => None,
    }
}

async fn handshake(request: &Request<'_>, message: &Message) -> Result<Reply, Failure> {
    let state = request.state;
    if message.version.as_deref().is_some_and(|v| !v.starts_with('1')) {
        return Err(Failure::new(400, "version", "this hub speaks Bayeux 1.0").advise(Reconnect::None));
    }
    let offered = message.supported_connection_types.as_deref().unwrap_or_default();
    if !offered.iter().any(|t| t.as_str().is_some_and(|t| CONNECTION_TYPES.contains(&t))) {
        return Err(Failure::new(
            400,
            CONNECTION_TYPES.join(","),
            "No supported connection type in common: offer websocket, long-polling or callback-polling",
        )
        .advise(Reconnect::None));
    }
    // A token in the handshake's ext counts as the request's Authorization header.
    let mut headers = request.headers.clone();
    if let Some(token) = message.herald_ext("token") {
        let value = token
            .as_str()
            .and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok())
            .ok_or_else(|| Failure::new(400, "ext.herald.token", "the token must be a string"))?;
        headers.insert(header::AUTHORIZATION, value);
    }
    state.auth.load_named_key(&headers, None).await;
    let read = state.auth.subscriber(&headers, None);
    let publish = state.auth.publisher(&headers, None);
    if let Some(e) = invalid_token(&read).or(invalid_token(&publish)) {
        return Err(Failure::new(401, "", e.to_string()).advise(Reconnect::None));
    }
    let resumed = match message.herald_ext("lastEventId") {
        Some(id) => Some(position_of(state, id).await?),
        None => None,
    };
    let ack = message.ext.as_ref().and_then(|e| e.get("ack")).and_then(Value::as_bool) == Some(true);
    let tracked = message.ext.as_ref().and_then(|e| e.get("herald")).is_some();
    let refused = |r: Refused| match r {
        Refused::TooMany(max) => {
            crate::metrics::limit_rejected("bayeux_sessions");
            Failure::new(429, "", format!("more than {max} sessions from this address")).advise(Reconnect::None)
        }
        Refused::NoRandomness => Failure::new(503, "", "no client id could be made; retry").advise(Reconnect::Retry),
    };
    let id = super::sessions::Sessions::new_id().map_err(refused)?;
    let session = Session::new(
        id.clone(),
        request.client,
        // Its feed is rebuilt when its channels change: presence keeps it across that.
        Subscriber::lingering(read, None),
        Publisher::new(publish, request.client),
        ack,
        tracked,
        resumed,
    );
    state.bayeux.insert(Arc::new(session), state.config.bayeux.sessions_per_client).map_err(refused)?;
    let mut reply = Reply::to(Meta::Handshake.name(), message)
        .set("version", "1.0")
        .set("supportedConnectionTypes", json!(CONNECTION_TYPES))
        .set("clientId", &*id)
        .advice(Reconnect::Retry, 0, timeout_ms(state));
    if ack {
        reply = reply.set("ext", json!({"ack": {"enabled": true, "batch": 0}}));
    }
    Ok(reply)
}

/// The log position of the event id a client resumes from: `earliest`, or an id (one the hub no
/// longer holds resumes from the oldest it has, as for every transport).
async fn position_of(state: &AppState, id: &Value) -> Result<u64, Failure> {
    let id = id.as_str().ok_or_else(|| Failure::new(400, "ext.herald.lastEventId", "the id must be a string"))?;
    if id == "earliest" {
        return Ok(0);
    }
    match state.hub.position_of(id).await {
        Ok(position) => Ok(position.unwrap_or(0)),
        Err(e) => Err(Failure::new(503, "", format!("cannot read history: {e}")).advise(Reconnect::Retry)),
    }
}

async fn connect(request: &Request<'_>, message: Message, handled: &Handled) -> Result<Waiting, (Message, Failure)> {
    let session = match session_of(request, &message) {
        Ok(session) => session,
        Err(failure) => return Err((message, failure)),
    };
    if handled.connect.is_some() {
        let failure = Failure::new(409, &*session.id, "only one /meta/connect per request");
        return Err((message, failure));
    }
    match message.connection_type.as_deref() {
        Some(t) if CONNECTION_TYPES.contains(&t) => {}
        other => {
            let failure = Failure::new(400, other.unwrap_or(""), "Unsupported connectionType");
            return Err((message, failure));
        }
    }
    let server = request.state.config.bayeux.timeout;
    let hold = match message.advised_timeout() {
        _ if session.never_connected() => Duration::ZERO,
        Some(ms) => server.min(Duration::from_millis(ms)),
        None => server,
    };
    let batch = message.ext.as_ref().and_then(|e| e.get("ack")).and_then(Value::as_u64);
    // With Herald's extension, the client says which event it has last (none yet: nothing).
    let herald = message.ext.as_ref().and_then(|e| e.get("herald")).is_some();
    let position = match message.herald_ext("lastEventId") {
        None => herald.then_some(0),
        Some(id) => match position_of(request.state, id).await {
            Ok(position) => Some(position),
            Err(failure) => return Err((message, failure)),
        },
    };
    Ok(Waiting { session, message, hold, acked: Acked { batch, position } })
}

/// The channels of a `/meta/subscribe` or `/meta/unsubscribe`.
fn channels_of(message: &Message) -> Result<Vec<String>, Failure> {
    let missing = || Failure::new(400, "", "Missing subscription");
    match message.subscription.as_ref().ok_or_else(missing)? {
        Value::String(one) => Ok(vec![one.clone()]),
        Value::Array(many) if !many.is_empty() => many
            .iter()
            .map(|c| {
                c.as_str().map(str::to_owned).ok_or_else(|| Failure::new(400, "", "a subscription is a channel name"))
            })
            .collect(),
        _ => Err(missing()),
    }
}

async fn subscribe(request: &Request<'_>, message: &Message, subscribing: bool) -> Result<Reply, Failure> {
    let session = session_of(request, message)?;
    let channels = channels_of(message)?;
    let state = request.state;
    for name in &channels {
        channel::check(name, state.config.limits.max_field_bytes).map_err(|why| Failure::new(400, name, why))?;
        match channel::kind(name) {
            Kind::Broadcast => {}
            Kind::Service => return Err(Failure::new(403, name, "service channels cannot be subscribed")),
            _ => return Err(Failure::new(403, name, "meta channels cannot be subscribed")),
        }
        herald_core::Matcher::channel_pattern(name).map_err(|e| Failure::new(400, name, e.to_string()))?;
    }
    let meta = if subscribing { Meta::Subscribe } else { Meta::Unsubscribe };
    let reply = Reply::to(meta.name(), message).set("subscription", message.subscription.clone().unwrap_or_default());
    if !subscribing {
        session.unsubscribe(&channels);
        return Ok(reply);
    }
    if session.subscriber.refusal().is_some() {
        return Err(Failure::denied(&channels.join(",")));
    }
    let from = match message.herald_ext("lastEventId") {
        Some(id) => position_of(state, id).await?,
        None => state.hub.head(),
    };
    let max = state.config.limits.max_matchers;
    session.subscribe(&channels, from, max).map_err(|max| {
        crate::metrics::limit_rejected("matchers");
        Failure::new(403, channels.join(","), format!("more than {max} subscriptions in one session"))
    })?;
    Ok(reply)
}

fn disconnect(request: &Request<'_>, message: &Message) -> Result<Reply, Failure> {
    let session = session_of(request, message)?;
    request.state.bayeux.remove(&session.id);
    Ok(Reply::to(Meta::Disconnect.name(), message))
}

async fn publish(request: &Request<'_>, message: &Message, name: &str) -> Result<Reply, Failure> {
    if channel::is_pattern(name) {
        return Err(Failure::new(400, name, "cannot publish to a channel pattern"));
    }
    let session = session_of(request, message)?;
    let data = message.data.as_ref().ok_or_else(|| Failure::new(400, name, "Missing data"))?;
    let private = match message.herald_ext("private") {
        None => false,
        Some(value) => {
            value.as_bool().ok_or_else(|| Failure::new(400, name, "ext.herald.private must be a boolean"))?
        }
    };
    let update = Update { topics: vec![name.to_owned()], data: data.to_string(), private, ..Default::default() };
    let published = async {
        let admitted = ops::admit(request.state, &session.publisher)?;
        admitted.publish(update).await
    };
    match published.await {
        Ok(event) => Ok(Reply::to(name, message).set("ext", json!({"herald": {"eventId": &*event.id}}))),
        Err(e) => Err(publish_failure(name, &e)),
    }
}

/// A refused publish, in Bayeux's terms.
fn publish_failure(channel: &str, failure: &PublishFailure) -> Failure {
    match failure.kind() {
        FailureKind::Forbidden => Failure::denied(channel),
        FailureKind::Unauthorized => Failure::new(401, channel, failure.to_string()),
        FailureKind::BadRequest => Failure::new(400, channel, failure.to_string()),
        FailureKind::TooLarge => Failure::new(413, channel, failure.to_string()),
        FailureKind::RateLimited => Failure::new(429, channel, failure.to_string()),
        FailureKind::Unavailable => Failure::new(503, channel, failure.to_string()),
    }
}
