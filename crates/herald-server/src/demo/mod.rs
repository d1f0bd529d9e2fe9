//! The demo pages and the publishers that drive them.
//!
//! `/` serves a page whose clock is driven by a `server-time` event the hub publishes every
//! second (as the early Server-Sent Events articles showed), plus a form to publish by hand.
//! `/ticker` is a stock ticker fed by [`ticker`] over the JavaScript client, whose transport can
//! be forced; `/chat` is a chat whose rooms are topics, over the browser's WebSocket. The
//! JavaScript client itself is served at `/herald.js`. Everything is embedded in the binary, so
//! the hub needs no files to run.

pub(crate) mod clock;
pub(crate) mod poker;
pub(crate) mod ticker;

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use crate::AppState;

const INDEX_HTML: &str = include_str!("../../assets/index.html");
const CHAT_HTML: &str = include_str!("../../assets/chat.html");
const TICKER_HTML: &str = include_str!("../../assets/ticker.html");
const CLIENT_JS: &str = include_str!("../../assets/herald.js");
const CLIENT_TYPES: &str = include_str!("../../assets/herald.d.ts");

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| page(INDEX_HTML)))
        .route("/chat", get(|| page(CHAT_HTML)))
        .route("/ticker", get(|| page(TICKER_HTML)))
        .route("/herald.js", get(|| asset("text/javascript; charset=utf-8", CLIENT_JS)))
        .route("/herald.d.ts", get(|| asset("application/typescript; charset=utf-8", CLIENT_TYPES)))
        .merge(poker::http::routes())
}

/// Starts the demo publishers.
pub(crate) fn spawn_publishers(state: &AppState) {
    tokio::spawn(clock::run(state.hub.clone()));
    tokio::spawn(ticker::run(state.hub.clone()));
    if let Some(table) = &state.poker_table {
        poker::table::start(state, table.clone(), state.config.demo_poker_pace);
    }
}

async fn page(html: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
}

async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
}
