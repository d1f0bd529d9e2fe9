//! Bayeux over a WebSocket at `/cometd`: the same JSON arrays as long-polling, in text frames.
//!
//! One task serves the socket: it reads messages and answers them at once, while the session's
//! one outstanding `/meta/connect` waits beside them and is answered (with its messages) when
//! events come or its time is up. A newer connect replaces a waiting one. The rights are those
//! of the upgrade request (its `Authorization` header or cookie), or of the handshake's token.
//! Keep-alive pings every heartbeat period; a peer that answers nothing for two periods is
//! closed, and one that takes no write for two periods is dropped. What is not Bayeux closes
//! the socket: a binary message with 1003, text that is not
//! a JSON array of objects with 1007, too many messages in one with 1009.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;

use axum::http::HeaderMap;
use bytes::Bytes;

use super::handler::{self, Request};
use super::http::read_messages;
use super::message::array;
use crate::transport::ws::ending::{self, written, End, KeepAlive};
use crate::transport::ws::frame::Opcode;
use crate::transport::ws::reader::{Incoming, TOO_BIG};
use crate::transport::ws::socket::Socket;
use crate::AppState;

const INVALID: u16 = 1007;

type Answer = Pin<Box<dyn Future<Output = Vec<Bytes>> + Send>>;

/// Serves a Bayeux WebSocket until either side closes it.
pub(crate) async fn run(mut socket: Socket, state: AppState, headers: HeaderMap, client: Option<IpAddr>) {
    let heartbeat = state.config.heartbeat;
    let mut keep_alive = KeepAlive::new(heartbeat);
    let stall_limit = keep_alive.stall_limit();
    let mut waiting: Option<Answer> = None;
    let end = 'serve: loop {
        tokio::select! {
            biased;
            read = socket.read() => match read {
                Ok(true) => keep_alive.heard(),
                Ok(false) | Err(_) => break End::Gone,
            },
            answer = async {
                match waiting.as_mut() {
                    Some(answer) => answer.await,
                    None => std::future::pending().await,
                }
            } => {
                waiting = None;
                if !written(stall_limit, socket.send(Opcode::Text, &array(&answer))).await {
                    break End::Gone;
                }
                continue;
            }
            () = keep_alive.tick() => {
                if let Some(end) = keep_alive.ping(&mut socket).await {
                    break end;
                }
                continue;
            }
        }
        loop {
            match socket.next() {
                Ok(None) => break,
                Ok(Some(Incoming::Text(text))) => {
                    let messages = match read_messages(&text, state.config.bayeux.max_messages) {
                        Ok(messages) => messages,
                        Err((status, reason)) => {
                            let code = if status.as_u16() == 413 {
                                crate::metrics::limit_rejected("bayeux_messages");
                                TOO_BIG
                            } else {
                                INVALID
                            };
                            break 'serve End::Close(code, reason.into());
                        }
                    };
                    let request = Request { state: &state, headers: &headers, client };
                    let handled = Box::pin(handler::handle(&request, messages)).await;
                    let replies = array(&handled.replies);
                    if !handled.replies.is_empty() && !written(stall_limit, socket.send(Opcode::Text, &replies)).await {
                        break 'serve End::Gone;
                    }
                    if let Some(connect) = handled.connect {
                        let state = state.clone();
                        waiting = Some(Box::pin(async move { connect.answer(&state).await }));
                    }
                }
                Ok(Some(other)) => {
                    if let Some(end) =
                        ending::other_input(&mut socket, Ok(other), stall_limit, "send Bayeux messages as JSON text")
                            .await
                    {
                        break 'serve end;
                    }
                }
                Err(failure) => {
                    if let Some(end) =
                        ending::other_input(&mut socket, Err(failure), stall_limit, "send Bayeux messages as JSON text")
                            .await
                    {
                        break 'serve end;
                    }
                }
            }
        }
    };
    ending::finish(socket, end, stall_limit).await;
}
