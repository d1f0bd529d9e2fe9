//! One WebSocket connection: client messages in, events and answers out.
//!
//! A single task serves the socket. It waits on whichever comes first: a client message, the
//! events of the connection's subscription, or the keep-alive timer. Events are sent as the
//! shared JSON encoded once per event; the events waiting are sent together and flushed once,
//! so a burst costs one write rather than one per event. The keep-alive sends a ping every heartbeat period and
//! closes a peer that has not answered (nor sent anything) for two periods. When the
//! subscription ends because the client fell too far behind, the connection closes with code
//! 1013 (try again later): the client reconnects with its last id and catches up from history.

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use herald_core::{Cursor, Event, PublishError, Subscription, Update};
use serde_json::{json, Value};
use tokio::time::{Instant, MissedTickBehavior};

use super::protocol::{self, ClientMessage, OneOrMany, Retry};
use crate::auth::{PublishRights, ReadRights};
use crate::error::ApiError;
use crate::mercure::{publish, subscribe};
use crate::AppState;

/// Close codes (RFC 6455 section 7.4.1).
const GOING_AWAY: u16 = 1001;
const UNSUPPORTED: u16 = 1003;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;
const TRY_AGAIN_LATER: u16 = 1013;
/// How long to wait for the peer's answer to our close frame. Closing the socket before the
/// peer has read everything would reset the connection and lose the close frame, so a client
/// catching up on a backlog gets time to reach it.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// Most events sent before one flush.
const MAX_BATCH: usize = 128;

/// The rights of a connection, decided once at the upgrade: a failure is answered to each
/// message that needs the right.
#[derive(Debug)]
pub struct Rights {
    pub read: Result<ReadRights, ApiError>,
    pub publish: Result<PublishRights, ApiError>,
    /// The client's address, for the publish rate limit.
    pub client: Option<std::net::IpAddr>,
}

/// Serves `socket` until either side closes it.
pub async fn run(mut socket: WebSocket, state: AppState, rights: Rights) {
    // A token's expiry ends the connection: the client reconnects with a fresh one.
    let expires = rights.read.as_ref().ok().and_then(ReadRights::deadline);
    let mut expiry = std::pin::pin!(async move {
        match expires {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    });
    let mut connection = Connection { state, rights, subscription: None };
    let heartbeat = connection.state.config.heartbeat;
    let mut keep_alive = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let close = loop {
        // In this order: the client's messages (so a flow of events never starves them), then
        // events, then the keep-alive, which thus sees the freshest sign of life.
        tokio::select! {
            biased;
            incoming = socket.recv() => {
                last_heard = Instant::now();
                match incoming {
                    Some(Ok(Message::Text(text))) => {
                        let answer = connection.handle(&text).await;
                        if socket.send(Message::Text(answer.into())).await.is_err() {
                            return;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => break Some((UNSUPPORTED, "send JSON text messages")),
                    None => return,
                    // The socket answers pings and closes itself (reading on lets it finish the
                    // closing handshake); pongs only prove the peer is alive.
                    Some(Ok(Message::Close(_) | Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Err(e)) => {
                        let too_big = e.to_string().contains("too long") || e.to_string().contains("too big");
                        if too_big {
                            crate::metrics::limit_rejected("ws_message_size");
                        }
                        break Some(if too_big { (TOO_BIG, "message too big") } else { (POLICY, "protocol error") });
                    }
                }
            }
            events = next_events(&mut connection.subscription) => match events {
                Some(events) => {
                    for event in events {
                        if socket.feed(Message::Text(json_text(&event))).await.is_err() {
                            return;
                        }
                    }
                    if socket.flush().await.is_err() {
                        return;
                    }
                }
                None => {
                    let overflowed = connection.subscription.as_ref().is_some_and(Subscription::overflowed);
                    connection.subscription = None;
                    break Some(if overflowed {
                        (TRY_AGAIN_LATER, "too far behind: reconnect with your last event id")
                    } else {
                        (GOING_AWAY, "hub shutting down")
                    });
                }
            },
            () = &mut expiry => break Some((POLICY, "token expired: reconnect with a new one")),
            _ = keep_alive.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    break Some((GOING_AWAY, "no answer to pings"));
                }
                if socket.send(Message::Ping(Bytes::new())).await.is_err() {
                    return;
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        if socket.send(Message::Close(Some(frame))).await.is_ok() {
            // Wait briefly for the peer's close frame, so the handshake completes cleanly.
            let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
            let _ = tokio::time::timeout(CLOSE_WAIT, drain).await;
        }
    }
}

/// The event's shared JSON as a text frame payload (no copy).
fn json_text(event: &Event) -> Utf8Bytes {
    // The JSON is built from `String`s, so it is valid UTF-8; the fallback is never taken.
    Utf8Bytes::try_from(event.json_message().clone()).unwrap_or_else(|_| Utf8Bytes::from_static("{}"))
}

/// The events waiting (at most [`MAX_BATCH`]), waiting for one; `None` when the subscription ended.
async fn next_events(subscription: &mut Option<Subscription>) -> Option<Vec<Arc<Event>>> {
    let Some(subscription) = subscription else {
        return std::future::pending().await;
    };
    let mut events = Vec::new();
    match std::future::poll_fn(|cx| subscription.poll_recv_many(cx, &mut events, MAX_BATCH)).await {
        0 => None,
        _ => Some(events),
    }
}

struct Connection {
    state: AppState,
    rights: Rights,
    subscription: Option<Subscription>,
}

impl Connection {
    /// Answers one client message.
    async fn handle(&mut self, text: &str) -> String {
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(e) => return protocol::error(&format!("invalid message: not JSON ({e})"), None),
        };
        // Keep the ref of a message that is JSON but not a valid request, to answer it.
        let reference = value.get("ref").cloned();
        let message = match serde_json::from_value::<ClientMessage>(value) {
            Ok(message) => message,
            Err(e) => return protocol::error(&format!("invalid message: {e}"), reference),
        };
        match message {
            ClientMessage::Subscribe { exact, match_urlpattern, topic, last_event_id, reference } => {
                let params = [("match", exact), ("match_urlpattern", match_urlpattern), ("topic", topic)];
                match self.subscribe(params, last_event_id) {
                    Ok((resumed_from, position)) => {
                        let mut ack = json!({"for": "subscribe", "last_event_id": resumed_from});
                        if let Some(position) = position {
                            ack["position"] = position.into();
                        }
                        protocol::ack(ack, reference)
                    }
                    Err(e) => protocol::error(&e.message, reference),
                }
            }
            ClientMessage::Unsubscribe { reference } => {
                self.subscription = None;
                protocol::ack(json!({"for": "unsubscribe"}), reference)
            }
            ClientMessage::Publish { topic, data, id, event, retry, private, reference } => {
                match self.publish(topic, data, id, event, retry, private).await {
                    Ok(id) => protocol::ack(json!({"for": "publish", "id": id}), reference),
                    Err(e) => protocol::error(&e.message, reference),
                }
            }
            ClientMessage::Ping { reference } => protocol::pong(reference),
        }
    }

    /// Replaces the subscription; returns `Mercure-Last-Event-ID`'s value when resuming, and
    /// for a fresh subscription the id of the newest event before it (its position).
    fn subscribe(
        &mut self,
        params: [(&str, OneOrMany); 3],
        last_event_id: Option<String>,
    ) -> Result<(Value, Option<String>), ApiError> {
        let config = &self.state.config;
        let mut matchers = Vec::new();
        for (name, values) in params {
            for value in values.into_vec() {
                if let Some(matcher) = subscribe::matcher(name, &value, &self.state.hub.config().hub_url)? {
                    subscribe::push_matcher(&mut matchers, matcher, config.limits.max_matchers)?;
                }
            }
        }
        if matchers.is_empty() {
            return Err(ApiError::bad_request("subscribe needs \"match\", \"match_urlpattern\" or \"topic\""));
        }
        let access = self.rights.read.as_ref().map_err(ApiError::clone)?.access.clone();
        let cursor = last_event_id.filter(|id| !id.is_empty()).map(|id| Cursor::parse(&id));
        // Drop the old subscription first, so it never overlaps the new one's replay.
        self.subscription = None;
        let subscription = self
            .state
            .hub
            .subscribe(matchers, access, cursor)
            .map_err(|e| ApiError::bad_request(format!("cannot read history: {e}")))?;
        let resumed_from = subscription.resumed_from().map_or(Value::Null, |r| Value::String(r.to_owned()));
        let position = subscription.starts_after().map(str::to_owned);
        self.subscription = Some(subscription);
        Ok((resumed_from, position))
    }

    async fn publish(
        &self,
        topic: OneOrMany,
        data: String,
        id: Option<String>,
        event: Option<String>,
        retry: Option<Retry>,
        private: bool,
    ) -> Result<String, ApiError> {
        let retry = match retry {
            None => None,
            Some(Retry::Number(n)) => Some(n),
            Some(Retry::Text(text)) => Some(publish::parse_retry(&text)?),
        };
        let update = Update {
            topics: topic.into_vec(),
            data,
            id: id.filter(|i| !i.is_empty()),
            event_type: event.filter(|e| !e.is_empty()),
            retry,
            private,
        };
        publish::check_limits(&update, &self.state.config.limits)?;
        let rights = self.rights.publish.as_ref().map_err(ApiError::clone)?;
        rights.check(&update.topics)?;
        self.state.check_publish_rate(rights, self.rights.client)?;
        match self.state.hub.publish(update).await {
            Ok(event) => Ok(event.id.to_string()),
            Err(PublishError::Invalid(e)) => Err(ApiError::bad_request(e.to_string())),
            Err(other) => Err(ApiError::bad_request(other.to_string())),
        }
    }
}
