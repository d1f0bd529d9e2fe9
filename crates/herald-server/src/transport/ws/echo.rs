//! An echo endpoint on the hub's WebSocket stack, for protocol conformance runs (the Autobahn
//! cases). It is routed only when the server is started with `--ws-echo`: it answers every
//! text or binary message with the same message, and lets the WebSocket library handle pings,
//! fragmentation, UTF-8 validation and closing, exactly as for the real transport.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;

use crate::AppState;

/// `GET /ws-echo`: echoes every message.
pub(crate) async fn handle(upgrade: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    // Conformance cases send messages up to 16 MiB.
    let max = state.config.limits.max_body_bytes.max(16 * 1024 * 1024 + 1024);
    super::configure(upgrade, max).on_upgrade(echo)
}

async fn echo(mut socket: WebSocket) {
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            // The library answers a close (and pings) itself; reading on lets it finish the
            // closing handshake before the stream ends.
            Message::Close(_) | Message::Ping(_) | Message::Pong(_) => continue,
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}
