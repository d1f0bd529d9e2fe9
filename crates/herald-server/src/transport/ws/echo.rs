//! An echo endpoint on the hub's WebSocket stack, for protocol conformance runs (the Autobahn
//! cases). It is routed only when the server is started with `--ws-echo`: it answers every
//! text or binary message with the same message (compressed when permessage-deflate was
//! negotiated), and uses the same handshake, extension negotiation, framing, UTF-8 validation
//! and closing as the real transport.

use std::time::Duration;

use axum::extract::State;
use axum::response::Response;

use super::frame::Opcode;
use super::handshake::Upgrade;
use super::reader::{Failure, Incoming};
use super::socket::Socket;
use crate::AppState;

/// How long the echo waits for the client's close frame, and for its writes.
const CLOSE_WAIT: Duration = Duration::from_secs(5);

/// `GET /ws-echo`: echoes every message.
pub(crate) async fn handle(upgrade: Upgrade, State(state): State<AppState>) -> Response {
    // Conformance cases send messages up to 16 MiB.
    let max = state.config.limits.max_body_bytes.max(16 * 1024 * 1024 + 1024);
    upgrade.into_response(max, echo)
}

async fn echo(mut socket: Socket) {
    loop {
        match socket.read().await {
            Ok(true) => {}
            Ok(false) | Err(_) => return,
        }
        loop {
            let sent = match socket.next() {
                Ok(None) => break,
                Ok(Some(Incoming::Text(text))) => socket.send_message(true, text.as_bytes()).await,
                Ok(Some(Incoming::Binary(data))) => socket.send_message(false, &data).await,
                Ok(Some(Incoming::Ping(payload))) => socket.send(Opcode::Pong, &payload).await,
                Ok(Some(Incoming::Pong)) => Ok(()),
                Ok(Some(Incoming::Close(code))) => {
                    if socket.close(code, "").await.is_ok() {
                        socket.shutdown(CLOSE_WAIT).await;
                    }
                    return;
                }
                Err(Failure { code, reason }) => {
                    if socket.close(Some(code), reason).await.is_ok() {
                        socket.finish_closing(CLOSE_WAIT).await;
                    }
                    return;
                }
            };
            if sent.is_err() {
                return;
            }
        }
    }
}
