//! A WebSocket subscriber (tokio-tungstenite over the subscriber's own TCP stream). Herald gets
//! a JSON subscribe message and the subscriber is ready at its ack; nchan and Pushpin subscribe
//! by URL, so the subscriber is ready once the upgrade is done. Herald's events are JSON
//! objects whose `data` is the payload; the peers send the payload itself as a text frame. The
//! bytes read off the connection are counted (the run reports them per delivery).

use std::borrow::Cow;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::{End, Session};
use crate::tracker::Tracker;

/// Small socket buffers: thousands of subscribers sit mostly idle (tungstenite's default read
/// buffer is 128 KiB).
pub(super) const READ_BUFFER: usize = 8192;

pub(super) async fn receive(
    session: &mut Session<'_>,
    stream: TcpStream,
    tracker: &mut Tracker,
    stop: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let endpoints = &session.shared.endpoints;
    let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER).write_buffer_size(0);
    let mut request = endpoints.ws_url(&session.topic).into_client_request().map_err(|e| format!("request: {e}"))?;
    if let Some(token) = endpoints.subscribe_token() {
        let value = format!("Bearer {token}").parse().map_err(|e| format!("token: {e}"))?;
        request.headers_mut().insert(http::header::AUTHORIZATION, value);
    }
    let stream = Counted { stream, counter: &session.shared.bytes_received };
    let (mut socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| format!("upgrade: {e}"))?;
    let herald = endpoints.ws_subscribe_message(&session.topic);
    if let Some(message) = &herald {
        socket.send(Message::text(message.as_str())).await.map_err(|e| format!("subscribe: {e}"))?;
    } else {
        session.mark_ready();
    }
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
        if !session.ready {
            if !endpoints.is_ws_subscribe_ack(&text) {
                return Err(format!("subscription refused: {text}"));
            }
            session.mark_ready();
            continue;
        }
        let payload = if herald.is_some() { herald_event_data(&text) } else { Some(Cow::Borrowed(text.as_str())) };
        match payload {
            Some(payload) => session.deliver(tracker, [payload.as_bytes()]),
            None => tracker.foreign += 1,
        }
        if session.satisfied() {
            return Ok(End::Done);
        }
    }
}

/// A connection whose reads are counted.
pub(super) struct Counted<'a> {
    pub stream: TcpStream,
    pub counter: &'a AtomicU64,
}

impl AsyncRead for Counted<'_> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.counter.fetch_add((buf.filled().len() - before) as u64, Ordering::Relaxed);
        result
    }
}

impl AsyncWrite for Counted<'_> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The `data` of a Herald event message, or `None` for other messages (pongs, errors).
pub(super) fn herald_event_data(text: &str) -> Option<Cow<'_, str>> {
    #[derive(serde::Deserialize)]
    struct EventMessage<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        #[serde(borrow)]
        data: Option<Cow<'a, str>>,
    }
    let message: EventMessage<'_> = serde_json::from_str(text).ok()?;
    (message.kind == "event").then_some(message.data).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_data_is_extracted() {
        let text = r#"{"type":"event","id":"urn:1","topics":["t"],"event":"message","data":"3 4 xx"}"#;
        assert_eq!(herald_event_data(text).as_deref(), Some("3 4 xx"));
        assert_eq!(herald_event_data(r#"{"type":"pong"}"#), None);
        assert_eq!(herald_event_data("not json"), None);
    }
}
