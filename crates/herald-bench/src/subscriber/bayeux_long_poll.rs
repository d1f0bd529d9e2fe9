//! A Bayeux long-polling subscriber: one keep-alive HTTP/1.1 connection, one POST after
//! another (handshake, subscribe, then connects), each answered with a JSON array. The target
//! holds a connect until events come or its timeout passes; the subscriber connects again as
//! soon as one is answered.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::bayeux::Client;
use super::{End, Session};
use crate::http1::read_response;
use crate::tracker::Tracker;

pub(super) async fn receive(
    session: &mut Session<'_>,
    mut stream: TcpStream,
    tracker: &mut Tracker,
    stop: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let endpoints = &session.shared.endpoints;
    let mut client = Client::new("long-polling", &session.topic);
    let mut messages = client.handshake();
    let mut buf = Vec::with_capacity(8192);
    loop {
        let request = endpoints.bayeux_request(&messages);
        let answer = tokio::select! {
            biased;
            answer = exchange(&mut stream, &request, &mut buf) => answer?,
            _ = &mut *stop => return Ok(End::Stopped),
        };
        let Some(body) = answer else { return Ok(End::Closed) };
        let text = std::str::from_utf8(&body).map_err(|_| "the answer is not UTF-8".to_owned())?;
        let replies = client.handle(text)?;
        if client.subscribed() {
            session.mark_ready();
        }
        tracker.foreign += replies.foreign;
        session.deliver(tracker, replies.events.iter().map(|payload| payload.as_bytes()));
        if session.satisfied() {
            return Ok(End::Done);
        }
        messages = replies.next.ok_or_else(|| format!("an answer without the meta reply it was for: {text:.200}"))?;
    }
}

/// Sends one request and reads its answer's body; `None` if the target closed the connection.
async fn exchange(stream: &mut TcpStream, request: &str, buf: &mut Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
    match read_response(stream, buf).await? {
        Some((200, body)) => Ok(Some(body)),
        Some((status, body)) => Err(format!("status {status}: {:.200}", String::from_utf8_lossy(&body))),
        None => Ok(None),
    }
}
