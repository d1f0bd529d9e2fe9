//! How a served WebSocket ends, shared by every protocol on the hub's sockets (the JSON
//! transport, Bayeux): the keep-alive, writes that a peer which stopped reading cannot stall,
//! the client's control frames and failures, and the closing handshake.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::frame::Opcode;
use super::reader::{Failure, Incoming, TOO_BIG};
use super::socket::Socket;

/// Close codes (RFC 6455 section 7.4.1): the peer is gone (no answer to pings), a message of a
/// type the protocol does not take.
const GOING_AWAY: u16 = 1001;
const UNSUPPORTED: u16 = 1003;

/// How long to wait for the peer's answer to our close frame. Closing the socket before the
/// peer has read everything would reset the connection and lose the close frame, so a client
/// catching up on a backlog gets time to reach it.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// The keep-alive of a served socket: a ping every heartbeat period; a peer that sent nothing
/// for two periods is closed, and one that takes no write for two periods is dropped.
pub(crate) struct KeepAlive {
    every: Interval,
    heartbeat: Duration,
    last_heard: Instant,
}

impl KeepAlive {
    pub(crate) fn new(heartbeat: Duration) -> Self {
        let mut every = tokio::time::interval_at(crate::timing::after(heartbeat), heartbeat);
        every.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self { every, heartbeat, last_heard: Instant::now() }
    }

    /// How long a write may wait for a peer to read: past it, the peer stopped reading.
    pub(crate) fn stall_limit(&self) -> Duration {
        self.heartbeat.saturating_mul(2)
    }

    /// The peer sent something.
    pub(crate) fn heard(&mut self) {
        self.last_heard = Instant::now();
    }

    /// Waits for the next ping's time.
    pub(crate) async fn tick(&mut self) {
        self.every.tick().await;
    }

    /// At a tick: closes a silent peer, else pings it; `None` to go on.
    pub(crate) async fn ping(&self, socket: &mut Socket) -> Option<End> {
        if self.last_heard.elapsed() > self.heartbeat.saturating_mul(2) {
            return Some(End::Close(GOING_AWAY, "no answer to pings".into()));
        }
        (!written(self.stall_limit(), socket.send(Opcode::Ping, &[])).await).then_some(End::Gone)
    }
}

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
