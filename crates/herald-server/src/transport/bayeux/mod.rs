//! Bayeux at `/cometd`: the protocol of CometD and Faye clients, on the hub's topics, rights and
//! history.
//!
//! A Bayeux channel is a hub topic byte for byte: a client on `/chat/lobby` shares the room with
//! the SSE and WebSocket subscribers of the topic `/chat/lobby`. `/a/*` and `/a/**` subscribe to
//! every channel one segment, or any depth, below `/a`. Publishing is the publish operation of
//! every transport; the message's JSON `data` becomes the event's data as JSON text, and an
//! event's data reaches Bayeux clients as JSON when it parses, else as a string
//! ([`delivery`]).
//!
//! One concern per module: [`channel`] reads channel names, [`message`] reads messages and builds
//! replies, [`handler`] handles each message once for every transport, [`session`] keeps a
//! client's subscriptions and place in the log and serves its `/meta/connect`, [`sessions`] holds
//! every session, [`delivery`] encodes events; [`http`] (long-polling, callback-polling) and
//! [`websocket`] only carry messages.
//!
//! Nothing is lost across reconnects: a session's place is a log position per channel, so its
//! feed is rebuilt from history whenever needed, and a client that lost its session (or reached
//! another node) resumes with the last event id in `ext.herald.lastEventId` of its handshake or
//! subscribe. CometD's ack extension is supported: each connect reply with messages is a batch,
//! and a batch the client does not acknowledge is sent again.

pub(crate) mod channel;
pub(crate) mod delivery;
pub(crate) mod handler;
pub(crate) mod http;
pub(crate) mod message;
pub(crate) mod session;
pub(crate) mod sessions;
pub(crate) mod websocket;

use std::time::Duration;

pub(crate) use sessions::Sessions;

/// Where the endpoint lives. CometD clients append `/handshake`, `/connect` and the like to it.
pub(crate) const PATH: &str = "/cometd";

/// Drops the sessions whose clients stopped connecting, every second, for as long as the
/// process runs.
pub(crate) async fn sweep_sessions(sessions: std::sync::Arc<Sessions>, limit: Duration) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        sessions.sweep(limit);
    }
}
