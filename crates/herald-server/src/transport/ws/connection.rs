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

use std::sync::Arc;

use herald_core::{Cursor, Ended, Event, Subscription};
use serde_json::{json, Value};

use super::ending::{self, written, End, KeepAlive};
use super::frame::Opcode;
use super::protocol::{self, ClientMessage, JsonUpdate, OneOrMany, Retry};
use super::reader::Incoming;
use super::socket::Socket;
use crate::metrics::{connections, histogram};
use crate::ops::{self, MatchKind, MatcherSpec, PublishFailure, Publisher, SubscribeRequest, Subscriber};
use crate::AppState;

/// Close codes (RFC 6455 section 7.4.1).
const POLICY: u16 = 1008;
const SERVER_ERROR: u16 = 1011;
const SERVICE_RESTART: u16 = 1012;
const TRY_AGAIN_LATER: u16 = 1013;
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
pub(crate) async fn run(mut socket: Socket, state: AppState, publisher: Publisher, subscriber: Subscriber) {
    let _open = connections::Open::new(connections::Transport::WebSocket);
    let heartbeat = state.config.heartbeat;
    let mut connection = Connection { state, publisher, subscriber, subscription: None };
    let mut keep_alive = KeepAlive::new(heartbeat);
    let stall_limit = keep_alive.stall_limit();
    let end = 'serve: loop {
        // In this order: the client's messages (so a flow of events never starves them), then
        // events, then the keep-alive, which thus sees the freshest sign of life.
        tokio::select! {
            biased;
            read = socket.read() => match read {
                Ok(true) => keep_alive.heard(),
                Ok(false) | Err(_) => break End::Gone,
            },
            events = next_events(&mut connection.subscription) => match events {
                Ok(events) => {
                    if !written(stall_limit, socket.send_events(&events)).await {
                        break End::Gone;
                    }
                    continue;
                }
                Err(why) => {
                    connection.subscription = None;
                    let (code, reason) = close_for(why);
                    break End::Close(code, reason.into());
                }
            },
            () = keep_alive.tick() => {
                if let Some(end) = keep_alive.ping(&mut socket).await {
                    break end;
                }
                continue;
            }
        }
        // Everything the read completed, in order.
        loop {
            match socket.next() {
                Ok(None) => break,
                Ok(Some(Incoming::Text(text))) => {
                    // Boxed: a request's future is large, and an idle connection's task should
                    // not carry its room.
                    let answer = Box::pin(connection.handle(&text)).await;
                    if !written(stall_limit, socket.send(Opcode::Text, answer.as_bytes())).await {
                        break 'serve End::Gone;
                    }
                }
                Ok(Some(other)) => {
                    if let Some(end) =
                        ending::other_input(&mut socket, Ok(other), stall_limit, "send JSON text messages").await
                    {
                        break 'serve end;
                    }
                }
                Err(failure) => {
                    if let Some(end) =
                        ending::other_input(&mut socket, Err(failure), stall_limit, "send JSON text messages").await
                    {
                        break 'serve end;
                    }
                }
            }
        }
    };
    ending::finish(socket, end, stall_limit).await;
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
