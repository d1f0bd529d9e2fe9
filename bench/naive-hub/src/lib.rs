//! A naive Mercure-style hub: the baseline `bench/run.sh` compares Herald with.
//!
//! This is what a developer writes in an afternoon with axum, and deliberately nothing more:
//! `POST /.well-known/mercure` with the form fields `topic` (repeatable) and `data` sends the
//! update on a [`tokio::sync::broadcast`] channel per topic and answers its id;
//! `GET /.well-known/mercure?topic=X` (or `?match=X`, as Herald's clients and `herald bench`
//! send it; repeatable) answers an [`Sse`] stream of the channels' receivers. There is no
//! history, no resumption, no authorization and no limit; a subscriber that falls more than the
//! channel's capacity behind skips what it missed (the broadcast receiver reports it lagged).
//! Topic channels are created by the first subscriber and never removed.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Form, Router};
use futures_util::stream::{self, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::BroadcastStream;

/// The path of the hub, as in the Mercure protocol.
pub const HUB_PATH: &str = "/.well-known/mercure";

/// Updates each topic's channel holds for receivers that have not read them yet.
pub const DEFAULT_CAPACITY: usize = 1024;

/// One published update, shared by every receiver of its topics.
#[derive(Debug)]
struct Update {
    id: String,
    data: String,
}

#[derive(Clone)]
struct Hub {
    topics: Arc<Mutex<HashMap<String, broadcast::Sender<Arc<Update>>>>>,
    capacity: usize,
    next_id: Arc<AtomicU64>,
}

/// The hub's routes, each topic's channel holding `capacity` updates.
pub fn app(capacity: usize) -> Router {
    let hub = Hub { topics: Arc::default(), capacity: capacity.max(1), next_id: Arc::default() };
    Router::new().route(HUB_PATH, get(subscribe).post(publish)).with_state(hub)
}

async fn publish(State(hub): State<Hub>, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let mut topics = Vec::new();
    let mut data = String::new();
    for (name, value) in fields {
        match name.as_str() {
            "topic" => topics.push(value),
            "data" => data = value,
            _ => {}
        }
    }
    if topics.is_empty() {
        return (StatusCode::BAD_REQUEST, "a topic field is required\n").into_response();
    }
    let id = format!("urn:naive-hub:{}", hub.next_id.fetch_add(1, Ordering::Relaxed));
    let update = Arc::new(Update { id: id.clone(), data });
    for topic in &topics {
        let sender = hub.topics.lock().expect("the topic map is never poisoned").get(topic).cloned();
        if let Some(sender) = sender {
            // An error only means nobody listens any more.
            let _ = sender.send(update.clone());
        }
    }
    id.into_response()
}

async fn subscribe(State(hub): State<Hub>, Query(params): Query<Vec<(String, String)>>) -> Response {
    let topics: Vec<String> =
        params.into_iter().filter(|(name, _)| name == "topic" || name == "match").map(|(_, topic)| topic).collect();
    if topics.is_empty() {
        return (StatusCode::BAD_REQUEST, "a topic parameter is required\n").into_response();
    }
    let receivers = {
        let mut channels = hub.topics.lock().expect("the topic map is never poisoned");
        topics
            .iter()
            .map(|topic| {
                let sender = channels.entry(topic.clone()).or_insert_with(|| broadcast::channel(hub.capacity).0);
                BroadcastStream::new(sender.subscribe())
            })
            .collect::<Vec<_>>()
    };
    let events = stream::select_all(receivers).filter_map(|received| async move {
        // `Err` is a lagged receiver: the updates it missed are skipped.
        let update = received.ok()?;
        Some(Ok::<_, Infallible>(Event::default().id(update.id.as_str()).data(update.data.as_str())))
    });
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}
