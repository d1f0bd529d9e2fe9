//! The demo page and the clock that drives it.
//!
//! `/` serves a page whose clock is driven by a `server-time` event the hub publishes every
//! second on [`CLOCK_TOPIC`] (as the early Server-Sent Events articles showed), plus a form to
//! publish by hand. `/chat` is a chat whose rooms are topics, over the browser's WebSocket. The
//! pages are embedded in the binary, so the hub needs no files to run.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use herald_core::{Hub, Update};

use crate::AppState;

/// The topic of the demo clock.
pub const CLOCK_TOPIC: &str = "/demo/clock";
/// The event type of the demo clock's events.
pub const CLOCK_EVENT: &str = "server-time";

const INDEX_HTML: &str = include_str!("../../../web/index.html");
const CHAT_HTML: &str = include_str!("../../../web/chat.html");

pub fn routes() -> Router<AppState> {
    Router::new().route("/", get(|| page(INDEX_HTML))).route("/chat", get(|| page(CHAT_HTML)))
}

async fn page(html: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
}

/// Publishes the time every second, on the second, until the process ends.
pub async fn run_clock(hub: Arc<Hub>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let update = Update {
            topics: vec![CLOCK_TOPIC.to_owned()],
            data: millis.to_string(),
            event_type: Some(CLOCK_EVENT.to_owned()),
            ..Default::default()
        };
        if let Err(e) = hub.publish(update).await {
            tracing::warn!("demo clock: {e}");
        }
    }
}
