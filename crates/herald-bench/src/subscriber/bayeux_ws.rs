//! A Bayeux WebSocket subscriber: the JSON message arrays in text frames over one upgraded
//! connection (tokio-tungstenite). Each frame is read as it comes, whether it holds a meta
//! reply (Herald sends a connect's events with its reply, in one frame) or events alone (Faye
//! pushes each event in a frame of its own); each meta reply calls for the next message. The
//! bytes read off the connection are counted, as for the other WebSocket subscribers.

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::bayeux::Client;
use super::ws::{Counted, READ_BUFFER};
use super::{End, Session};
use crate::tracker::Tracker;

pub(super) async fn receive(
    session: &mut Session<'_>,
    stream: TcpStream,
    tracker: &mut Tracker,
    stop: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let endpoints = &session.shared.endpoints;
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER).write_buffer_size(0);
    let mut request = endpoints.bayeux_ws_url().into_client_request().map_err(|e| format!("request: {e}"))?;
    if let Some(token) = endpoints.subscribe_token() {
        let value = format!("Bearer {token}").parse().map_err(|e| format!("token: {e}"))?;
        request.headers_mut().insert(http::header::AUTHORIZATION, value);
    }
    let stream = Counted { stream, counter: &session.shared.bytes_received };
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let mut client = Client::new("websocket", &session.topic);
    socket.send(Message::text(client.handshake())).await.map_err(|e| format!("handshake: {e}"))?;
    loop {
        let message = tokio::select! {
            biased;
            message = socket.next() => message,
            _ = &mut *stop => return Ok(End::Stopped),
        };
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(_))) | None => return Ok(End::Closed),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(format!("read: {e}")),
        };
        let replies = client.handle(&text)?;
        if client.subscribed() {
            session.mark_ready();
        }
        tracker.foreign += replies.foreign;
        session.deliver(tracker, replies.events.iter().map(|payload| payload.as_bytes()));
        if session.satisfied() {
            return Ok(End::Done);
        }
        if let Some(next) = replies.next {
            socket.send(Message::text(next)).await.map_err(|e| format!("send: {e}"))?;
        }
    }
}
