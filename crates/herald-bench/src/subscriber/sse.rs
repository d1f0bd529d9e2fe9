//! A Server-Sent Events subscriber: a raw HTTP/1.1 GET, then the event stream parsed
//! incrementally by `herald-sse`'s WHATWG parser. Ready once the response head has arrived.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use super::{End, Session};
use crate::http1::read_head;
use crate::tracker::Tracker;

const READ_BUFFER: usize = 8192;

pub(super) async fn receive(
    session: &mut Session<'_>,
    mut stream: TcpStream,
    tracker: &mut Tracker,
    stop: &mut oneshot::Receiver<()>,
) -> Result<End, String> {
    let request = session.shared.endpoints.sse_request(&session.topic);
    stream.write_all(request.as_bytes()).await.map_err(|e| format!("send request: {e}"))?;
    let mut buf = Vec::with_capacity(READ_BUFFER);
    let head = read_head(&mut stream, &mut buf).await.map_err(|e| format!("response head: {e}"))?;
    if head.status != 200 {
        return Err(format!("status {}", head.status));
    }
    session.mark_ready();
    let mut body = head.body;
    let mut parser = herald_sse::Parser::new();
    let mut events = Vec::new();
    loop {
        let finished = body
            .feed(&buf, &mut |piece| events.extend(parser.feed(piece)))
            .map_err(|e| format!("response body: {e}"))?;
        session.deliver(tracker, events.iter().map(|e| e.data.as_bytes()));
        events.clear();
        if session.satisfied() {
            return Ok(End::Done);
        }
        if finished {
            return Ok(End::Closed);
        }
        buf.clear();
        tokio::select! {
            biased;
            read = stream.read_buf(&mut buf) => match read {
                Ok(0) => return Ok(End::Closed),
                Ok(_) => {}
                Err(e) => return Err(format!("read: {e}")),
            },
            _ = &mut *stop => return Ok(End::Stopped),
        }
    }
}
