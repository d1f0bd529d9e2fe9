//! Long-polling and polling: one JSON batch of events per request.
//!
//! The answer is `{"events":[…],"last_event_id":"…"}`: every event after the request's cursor
//! (at most [`MAX_BATCH`]; the client asks again at once for the rest), each the shared JSON
//! message the WebSocket transport sends, and the cursor to send as `last_event_id` next time.
//! When there is nothing yet, the request waits up to its timeout for the first event (none for
//! plain polling). The next cursor comes from the subscription itself
//! ([`Subscription::drain`]), so an event published between two polls is always in the second.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{BufMut, BytesMut};
use herald_core::{Event, Subscription};

/// Most events in one answer.
pub const MAX_BATCH: usize = 1000;

/// Collects the batch and answers it. `cursor` is the request's own, the fallback when no
/// position is known (no event ever published).
pub async fn respond(
    mut subscription: Subscription,
    timeout: Duration,
    cursor: Option<&str>,
    headers: HeaderMap,
) -> Response {
    let mut batch = Vec::new();
    let mut next = subscription.drain(MAX_BATCH, &mut batch);
    if batch.is_empty() && !timeout.is_zero() {
        // An error here is the timeout: the batch stays empty.
        if let Ok(Some(first)) = tokio::time::timeout(timeout, subscription.recv()).await {
            batch.push(first);
        }
        next = subscription.drain(MAX_BATCH, &mut batch).or(next);
    }
    let next = next.map_or_else(|| cursor.unwrap_or("earliest").to_owned(), |id| id.to_string());
    let mut response = (StatusCode::OK, headers, encode(&batch, &next)).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// `{"events":[…],"last_event_id":"…"}`, copying each event's shared JSON once.
fn encode(batch: &[Arc<Event>], next: &str) -> bytes::Bytes {
    let next = serde_json::Value::from(next).to_string();
    let size = batch.iter().map(|e| e.json_message().len() + 1).sum::<usize>() + next.len() + 40;
    let mut body = BytesMut::with_capacity(size);
    body.put_slice(b"{\"events\":[");
    for (i, event) in batch.iter().enumerate() {
        if i > 0 {
            body.put_u8(b',');
        }
        body.put_slice(event.json_message());
    }
    body.put_slice(b"],\"last_event_id\":");
    body.put_slice(next.as_bytes());
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
        let body: serde_json::Value = serde_json::from_slice(&encode(&events, "id\"1")).unwrap();
        assert_eq!(body["last_event_id"], "id\"1");
        assert_eq!(body["events"][1]["data"], "b\"\n");
        assert_eq!(body["events"].as_array().map(Vec::len), Some(2));
        let empty: serde_json::Value = serde_json::from_slice(&encode(&[], "earliest")).unwrap();
        assert_eq!(empty, serde_json::json!({"events": [], "last_event_id": "earliest"}));
    }
}
