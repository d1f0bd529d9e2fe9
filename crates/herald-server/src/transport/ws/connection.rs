//! One WebSocket connection: client messages in, events and answers out.
//!
//! A single task serves the socket. It waits on whichever comes first: a client message, the
//! events of the connection's subscription, or the keep-alive timer. Messages are parsed here and
//! handed to the operations layer ([`crate::ops`]); its failures become `error` messages with
//! their kind's `code`. Events are sent as the shared JSON encoded once per event; the events
//! waiting are sent together and flushed once, so a burst costs one write rather than one per
//! event. The keep-alive sends a ping every heartbeat period and closes a peer that has not
//! answered (nor sent anything) for two periods, and drops one that takes no write for two
//! periods (it stopped reading: no close frame could reach it). When the subscription ends, the
//! close code says
//! why: 1013 (too far behind: reconnect with the last id), 1012 (hub restarting), 1008 (token
//! expired), 1011 (history could not be read).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use herald_core::{Cursor, Ended, Event, Subscription};
use serde_json::{json, Value};
use tokio::time::{Instant, MissedTickBehavior};

use super::protocol::{self, ClientMessage, JsonUpdate, OneOrMany, Retry};
use crate::metrics::{connections, histogram};
use crate::ops::{self, MatchKind, MatcherSpec, PublishFailure, Publisher, SubscribeRequest, Subscriber};
use crate::transport::json;
use crate::AppState;

/// Close codes (RFC 6455 section 7.4.1).
const GOING_AWAY: u16 = 1001;
const UNSUPPORTED: u16 = 1003;
const POLICY: u16 = 1008;
const TOO_BIG: u16 = 1009;
const SERVER_ERROR: u16 = 1011;
const SERVICE_RESTART: u16 = 1012;
const TRY_AGAIN_LATER: u16 = 1013;
/// How long to wait for the peer's answer to our close frame. Closing the socket before the
/// peer has read everything would reset the connection and lose the close frame, so a client
/// catching up on a backlog gets time to reach it.
const CLOSE_WAIT: Duration = Duration::from_secs(10);
/// Most events sent before one flush.
const EVENTS_PER_FLUSH: usize = 128;

/// The close frame that ends a connection whose subscription ended.
fn close_for(why: Ended) -> (u16, &'static str) {
    match why {
        Ended::Overflowed => (TRY_AGAIN_LATER, "too far behind: reconnect with your last event id"),
        Ended::Closed => (SERVICE_RESTART, "hub restarting: reconnect in a moment"),
        Ended::Expired => (POLICY, "token expired: reconnect with a new one"),
        Ended::StoreFailed => (SERVER_ERROR, "history could not be read: reconnect with your last event id"),
    }
}

/// Serves `socket` until either side closes it. The rights were decided once, at the upgrade.
pub(crate) async fn run(mut socket: WebSocket, state: AppState, publisher: Publisher, subscriber: Subscriber) {
    let _open = connections::Open::new(connections::Transport::WebSocket);
    let heartbeat = state.config.heartbeat;
    let mut connection = Connection { state, publisher, subscriber, subscription: None };
    let mut keep_alive = tokio::time::interval_at(crate::timing::after(heartbeat), heartbeat);
    keep_alive.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    // A peer that takes none of our writes for this long stopped reading.
    let stall_limit = heartbeat.saturating_mul(2);
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
                        if !written(stall_limit, socket.send(Message::Text(answer.into()))).await {
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
                Ok(events) => {
                    let batch = async {
                        for event in events {
                            socket.feed(Message::Text(json_text(&event))).await?;
                        }
                        socket.flush().await
                    };
                    if !written(stall_limit, batch).await {
                        return;
                    }
                }
                Err(why) => {
                    connection.subscription = None;
                    break Some(close_for(why));
                }
            },
            _ = keep_alive.tick() => {
                if last_heard.elapsed() > heartbeat.saturating_mul(2) {
                    break Some((GOING_AWAY, "no answer to pings"));
                }
                if !written(stall_limit, socket.send(Message::Ping(Bytes::new()))).await {
                    return;
                }
            }
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        if written(stall_limit, socket.send(Message::Close(Some(frame)))).await {
            // Wait briefly for the peer's close frame, so the handshake completes cleanly.
            let drain = async { while let Some(Ok(_)) = socket.recv().await {} };
            // A peer that reads nothing for the stall limit is gone: no longer wait for it.
            let _ = tokio::time::timeout(CLOSE_WAIT.min(stall_limit), drain).await;
        }
    }
}

/// Whether `write` went through within `limit`. A peer that takes nothing for that long has
/// stopped reading; its connection is dropped (and counted), since no close frame could reach it.
async fn written(limit: Duration, write: impl Future<Output = Result<(), axum::Error>>) -> bool {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result.is_ok(),
        Err(_) => {
            crate::metrics::limit_rejected("ws_write_stalled");
            tracing::debug!("WebSocket peer took no write for {limit:?}; dropping the connection");
            false
        }
    }
}

/// The event's shared JSON as a text frame payload (no copy).
fn json_text(event: &Event) -> Utf8Bytes {
    // The JSON is built from `String`s, so it is valid UTF-8; the fallback is never taken.
    Utf8Bytes::try_from(json::message(event).into_owned()).unwrap_or_else(|_| Utf8Bytes::from_static("{}"))
}

/// The events waiting (at most [`EVENTS_PER_FLUSH`]), waiting for one; why the subscription
/// ended, once it did. Never ready without a subscription.
async fn next_events(subscription: &mut Option<Subscription>) -> Result<Vec<Arc<Event>>, Ended> {
    let Some(subscription) = subscription else {
        return std::future::pending().await;
    };
    let mut events = Vec::new();
    let live = subscription.is_live();
    std::future::poll_fn(|cx| subscription.poll_recv_many(cx, &mut events, EVENTS_PER_FLUSH)).await?;
    if live {
        histogram::written_live(&events);
    }
    Ok(events)
}

/// A connection's state between messages.
struct Connection {
    state: AppState,
    publisher: Publisher,
    subscriber: Subscriber,
    subscription: Option<Subscription>,
}

impl Connection {
    /// Answers one client message.
    async fn handle(&mut self, text: &str) -> String {
        let message = match protocol::read(text) {
            Ok(message) => message,
            Err(answer) => return answer,
        };
        match message {
            ClientMessage::Subscribe { exact, match_urlpattern, topic, last_event_id, reference } => {
                let mut request = SubscribeRequest {
                    matchers: Vec::new(),
                    cursor: last_event_id.filter(|id| !id.is_empty()).map(|id| Cursor::parse(&id)),
                };
                for (kind, values) in
                    [(MatchKind::Exact, exact), (MatchKind::UrlPattern, match_urlpattern), (MatchKind::Topic, topic)]
                {
                    request.matchers.extend(values.into_vec().into_iter().map(|value| MatcherSpec { kind, value }));
                }
                // Drop the old subscription first, so it never overlaps the new one's replay.
                self.subscription = None;
                match ops::subscribe(&self.state, &self.subscriber, request).await {
                    Ok(subscription) => {
                        let resumed_from = subscription.resumed_from().map_or(Value::Null, |r| r.into());
                        let mut ack = json!({"for": "subscribe", "last_event_id": resumed_from});
                        if let Some(position) = subscription.starts_after() {
                            ack["position"] = position.into();
                        }
                        self.subscription = Some(subscription);
                        protocol::ack(ack, reference)
                    }
                    Err(e) => protocol::error(e.kind().code(), &e.to_string(), reference),
                }
            }
            ClientMessage::Unsubscribe { reference } => {
                self.subscription = None;
                protocol::ack(json!({"for": "unsubscribe"}), reference)
            }
            ClientMessage::Publish { topic, data, id, event, retry, private, reference } => {
                match self.publish(topic, data, id, event, retry, private).await {
                    Ok(id) => protocol::ack(json!({"for": "publish", "id": id}), reference),
                    Err(e) => protocol::error(e.kind().code(), &e.to_string(), reference),
                }
            }
            ClientMessage::PublishBatch { updates, reference } => match self.publish_batch(updates).await {
                Ok(ids) => protocol::ack(json!({"for": "publish_batch", "ids": ids}), reference),
                Err(e) => protocol::error(e.kind().code(), &e.to_string(), reference),
            },
            ClientMessage::Ping { reference } => protocol::pong(reference),
        }
    }

    async fn publish(
        &self,
        topic: OneOrMany,
        data: String,
        id: Option<String>,
        event: Option<String>,
        retry: Option<Retry>,
        private: bool,
    ) -> Result<String, PublishFailure> {
        let admitted = ops::admit(&self.state, &self.publisher)?;
        let update =
            JsonUpdate { topic, data, id, event_type: event, retry, private }.into_update(&self.state.config.limits)?;
        Ok(admitted.publish(update).await?.id.to_string())
    }

    async fn publish_batch(&self, updates: Vec<JsonUpdate>) -> Result<Vec<String>, PublishFailure> {
        let admitted = ops::admit(&self.state, &self.publisher)?;
        let limits = &self.state.config.limits;
        ops::publish::check_batch_size(updates.len(), limits)?;
        let place = |i| format!("updates[{i}]");
        let updates = updates
            .into_iter()
            .enumerate()
            .map(|(i, update)| {
                update
                    .into_update(limits)
                    .map_err(|e| PublishFailure::InBatch { place: place(i), failure: Box::new(e) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let events = admitted.publish_batch(updates, place).await?;
        Ok(events.iter().map(|event| event.id.to_string()).collect())
    }
}
