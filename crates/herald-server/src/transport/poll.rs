//! Long-polling and polling: one JSON batch of events per request.
//!
//! The answer is `{"events":[…],"last_event_id":"…"}`: every event after the request's cursor
//! (at most [`EVENTS_PER_POLL`]; the client asks again at once for the rest), each the shared
//! JSON message of the JSON transports, and the cursor to send as `last_event_id` next time.
//! When there is nothing yet, the request waits up to its timeout for the first event (none for
//! plain polling). The next cursor comes from the subscription itself
//! ([`Subscription::drain`]), so an event published between two polls is always in the second.
//! A feed that ends before anything was taken is answered `503` (retry), or `401` when the
//! subscriber's token expired meanwhile. With `--subscriptions`, the answer also carries
//! `"presence"`, the handle to send back as `presence=` so that the client stays one subscriber
//! across its polls. When the hub shuts down, a waiting poll is answered at
//! once with what it has (often nothing) and its cursor, so the client simply polls again.

use crate::metrics::connections::{Open, Transport};
use crate::metrics::histogram;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, BytesMut};
use herald_core::{Ended, Event, Subscription};

use super::json;
use crate::auth::AuthError;
use crate::error::ApiError;

/// Most events in one answer.
pub(crate) const EVENTS_PER_POLL: usize = 1000;

/// Collects the batch and answers it. `cursor` is the request's own, the fallback when no
/// position is known (no event ever published).
pub(crate) async fn respond(
    hub: &herald_core::Hub,
    mut subscription: Subscription,
    timeout: Duration,
    cursor: Option<&str>,
    presence: Option<&str>,
    headers: HeaderMap,
) -> Response {
    let transport = if timeout.is_zero() { Transport::Poll } else { Transport::LongPoll };
    let _open = Open::new(transport);
    let mut batch = Vec::new();
    let mut next = match subscription.drain(EVENTS_PER_POLL, &mut batch).await {
        Ok(next) => next,
        // The hub is shutting down: answer at once, so the client polls again (elsewhere).
        Err(Ended::Closed) => None,
        Err(why) => return ended(why),
    };
    if batch.is_empty() && !timeout.is_zero() {
        let wait = async {
            tokio::select! {
                received = subscription.recv() => Some(received),
                // Shutting down: answer now, so the client polls again (elsewhere).
                () = hub.draining() => None,
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(None) => {}
            Ok(Some(Ok(first))) => {
                // Published while the poll waited: a live delivery.
                histogram::written_live(std::slice::from_ref(&first));
                batch.push(first);
                next = subscription.drain(EVENTS_PER_POLL, &mut batch).await.ok().flatten().or(next);
            }
            Ok(Some(Err(Ended::Closed))) => {}
            Ok(Some(Err(why))) => return ended(why),
            // The timeout: the batch stays empty.
            Err(_) => {}
        }
    }
    let next = next.map_or_else(|| cursor.unwrap_or("earliest").to_owned(), |id| id.to_string());
    let mut response = (StatusCode::OK, headers, encode(&batch, &next, presence)).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The answer to a poll whose feed ended before it took anything.
fn ended(why: Ended) -> Response {
    match why {
        Ended::Expired => ApiError::from(AuthError::Expired).into_response(),
        Ended::Closed | Ended::Overflowed | Ended::StoreFailed => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, why.to_string()).with_retry_after(1).into_response()
        }
    }
}

/// `{"events":[…],"last_event_id":"…"[,"presence":"…"]}`, copying each event's shared JSON once.
fn encode(batch: &[Arc<Event>], next: &str, presence: Option<&str>) -> bytes::Bytes {
    let next = serde_json::Value::from(next).to_string();
    let presence = presence.map(|handle| serde_json::Value::from(handle).to_string());
    let messages: Vec<_> = batch.iter().map(|e| json::message(e)).collect();
    let size = messages.iter().map(|m| m.len() + 1).sum::<usize>() + next.len() + 40;
    let mut body = BytesMut::with_capacity(size);
    body.put_slice(b"{\"events\":[");
    for (i, message) in messages.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(message);
    }
    body.put_slice(b"],\"last_event_id\":");
    body.put_slice(next.as_bytes());
    if let Some(presence) = presence {
        body.put_slice(b",\"presence\":");
        body.put_slice(presence.as_bytes());
    }
    body.put_slice(b"}\n");
    body.freeze()
}

#[cfg(test)]
mod tests {
    use herald_core::Update;

    use super::*;

    #[test]
    fn batch_is_valid_json() {
        let events: Vec<_> = ["a", "b\"\n"]
            .iter()
            .enumerate()
            .map(|(i, data)| {
                let update = Update { topics: vec!["t".into()], data: (*data).into(), ..Default::default() };
                Arc::new(Event::new(i as u64 + 1, format!("id{i}").into(), 0, update).unwrap())
            })
            .collect();
        let body: serde_json::Value = serde_json::from_slice(&encode(&events, "id\"1", None)).unwrap();
        assert_eq!(body["last_event_id"], "id\"1");
        assert_eq!(body["events"][1]["data"], "b\"\n");
        assert_eq!(body["events"].as_array().map(Vec::len), Some(2));
        let empty: serde_json::Value = serde_json::from_slice(&encode(&[], "earliest", None)).unwrap();
        assert_eq!(empty, serde_json::json!({"events": [], "last_event_id": "earliest"}));
        let with: serde_json::Value = serde_json::from_slice(&encode(&[], "x", Some("h\""))).unwrap();
        assert_eq!(with["presence"], "h\"");
    }
}
