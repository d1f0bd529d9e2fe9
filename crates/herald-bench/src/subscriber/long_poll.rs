//! A long-polling subscriber (Herald): one keep-alive HTTP/1.1 connection, one request after
//! another, each passing the cursor the previous answer gave. The first request does not wait
//! (`timeout=0`), so its answer, the current cursor, tells when the subscriber is ready; every
//! later one waits up to 30 s for events.

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::{End, Session};
use crate::http1::read_response;
use crate::tracker::Tracker;

/// Seconds each poll may wait for events.
const WAIT_S: u32 = 30;

#[derive(serde::Deserialize)]
struct Batch {
    events: Vec<BatchEvent>,
    last_event_id: String,
}

#[derive(serde::Deserialize)]
struct BatchEvent {
    #[serde(default)]
    data: String,
}

pub(super) async fn receive(
    session: &mut Session<'_>,
    mut stream: TcpStream,
    tracker: &mut Tracker,
    stop: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let mut cursor: Option<String> = None;
    let mut buf = Vec::with_capacity(8192);
    loop {
        let wait = if session.ready { WAIT_S } else { 0 };
        let request = session.shared.endpoints.long_poll_request(&session.topic, cursor.as_deref(), wait);
        let batch = tokio::select! {
            biased;
            batch = poll(&mut stream, &request, &mut buf) => batch?,
            _ = &mut *stop => return Ok(End::Stopped),
        };
        let Some(batch) = batch else { return Ok(End::Closed) };
        session.mark_ready();
        session.deliver(tracker, batch.events.iter().map(|e| e.data.as_bytes()));
        if session.satisfied() {
            return Ok(End::Done);
        }
        cursor = Some(batch.last_event_id);
    }
}

/// Sends one poll and reads its answer; `None` if the target closed the connection first.
async fn poll(stream: &mut TcpStream, request: &str, buf: &mut Vec<u8>) -> Result<Option<Batch>, String> {
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("send poll: {e}"))?;
    let Some((status, body)) = read_response(stream, buf).await.map_err(|e| format!("poll {e}"))? else {
        return Ok(None);
    };
    if status != 200 {
        return Err(format!("poll status {status}"));
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| format!("poll answer is not a batch: {e}"))
}
