//! How a served WebSocket ends, shared by every protocol on the hub's sockets (the JSON
//! transport, Bayeux): writes that a peer which stopped reading cannot stall, the client's
//! control frames and failures, and the closing handshake.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use super::frame::Opcode;
use super::reader::{Failure, Incoming, TOO_BIG};
use super::socket::Socket;

/// Close code for a message of a type the protocol does not take (RFC 6455 section 7.4.1).
const UNSUPPORTED: u16 = 1003;

/// How long to wait for the peer's answer to our close frame. Closing the socket before the
/// peer has read everything would reset the connection and lose the close frame, so a client
/// catching up on a backlog gets time to reach it.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// How the loop over a socket ended.
pub(crate) enum End {
    /// The connection is gone or unusable: nothing more to write.
    Gone,
    /// The client closed: its close frame is answered with the same code.
    ClientClosed(Option<u16>),
    /// The hub closes, with this code and reason.
    Close(u16, Cow<'static, str>),
}

/// Whether `write` went through within `limit`. A peer that takes nothing for that long has
/// stopped reading; its connection is dropped (and counted), since no close frame could reach it.
pub(crate) async fn written(limit: Duration, write: impl Future<Output = std::io::Result<()>>) -> bool {
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result.is_ok(),
        Err(_) => {
            crate::metrics::limit_rejected("ws_write_stalled");
            tracing::debug!("WebSocket peer took no write for {limit:?}; dropping the connection");
            false
        }
    }
}

/// Ends the connection as `end` says: answers the client's close frame, or sends the hub's and
/// waits briefly for the peer's, so the handshake completes cleanly; a peer that reads nothing
/// for `stall_limit` is gone, and no longer waited for.
pub(crate) async fn finish(mut socket: Socket, end: End, stall_limit: Duration) {
    let wait = CLOSE_WAIT.min(stall_limit);
    match end {
        End::Gone => {}
        End::ClientClosed(code) => {
            if written(stall_limit, socket.close(code, "")).await {
                socket.shutdown(wait).await;
            }
        }
        End::Close(code, reason) => {
            if written(stall_limit, socket.close(Some(code), &reason)).await {
                socket.finish_closing(wait).await;
            }
        }
    }
}

/// What serving does with what the client sent other than text messages, the same for every
/// protocol: a ping is answered, a pong only proves the peer alive, a close frame or a broken
/// frame ends the connection, a binary message closes it with 1003 and `binary_reason`.
/// `None` to go on.
pub(crate) async fn other_input(
    socket: &mut Socket,
    input: Result<Incoming, Failure>,
    stall_limit: Duration,
    binary_reason: &'static str,
) -> Option<End> {
    match input {
        // The protocol reads its text messages itself.
        Ok(Incoming::Text(_) | Incoming::Pong) => None,
        Ok(Incoming::Binary(_)) => Some(End::Close(UNSUPPORTED, binary_reason.into())),
        Ok(Incoming::Ping(payload)) => {
            (!written(stall_limit, socket.send(Opcode::Pong, &payload)).await).then_some(End::Gone)
        }
        Ok(Incoming::Close(code)) => Some(End::ClientClosed(code)),
        Err(Failure { code, reason }) => {
            if code == TOO_BIG {
                crate::metrics::limit_rejected("ws_message_size");
            }
            Some(End::Close(code, reason.into()))
        }
    }
}
