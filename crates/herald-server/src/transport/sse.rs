//! Server-Sent Events (`text/event-stream`), the default transport of a subscription.
//!
//! Each event is its event-stream frame, encoded once by the hub when it was published. The
//! stream opens with the `retry:` advice and, for a fresh subscription, a frame holding only the
//! `id` of the newest event before it: it dispatches nothing, but WHATWG-conforming clients keep
//! it as their last event id, so a connection that drops before its first event resumes without
//! a gap. A `:` comment is the heartbeat.

use crate::metrics::connections::Transport;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use herald_core::Event;

use super::stream::{gather, StreamFormat};

const HEARTBEAT: Bytes = Bytes::from_static(b":\n\n");

/// The event-stream format, with the reconnection delay to advise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sse {
    pub(crate) retry: Option<Duration>,
}

impl StreamFormat for Sse {
    const CONTENT_TYPE: &'static str = "text/event-stream";
    const TRANSPORT: Transport = Transport::Sse;

    fn prelude(&self, position: Option<&str>) -> Bytes {
        let retry = self.retry.map(|r| u64::try_from(r.as_millis()).unwrap_or(u64::MAX));
        if retry.is_none() && position.is_none() {
            return HEARTBEAT;
        }
        let mut prelude = BytesMut::new();
        // Event ids never contain line breaks or NUL (publishing refuses them); should one, the
        // position is left out rather than break the stream.
        if herald_sse::encode_control(retry, position, &mut prelude).is_err() {
            prelude.clear();
            match retry {
                Some(ms) => herald_sse::encode_retry(ms, &mut prelude),
                None => return HEARTBEAT,
            }
        }
        prelude.freeze()
    }

    fn heartbeat(&self) -> Bytes {
        HEARTBEAT
    }

    fn batch(&self, events: &[Arc<Event>]) -> Bytes {
        gather(events, |e| Cow::Borrowed(e.sse_frame()), b"")
    }
}

#[cfg(test)]
mod tests {
    use herald_core::Update;

    use super::*;

    fn event(seq: u64, data: &str) -> Arc<Event> {
        let update = Update { topics: vec!["t".into()], data: data.into(), ..Default::default() };
        Arc::new(Event::new(seq, format!("e{seq}").into(), 0, update).unwrap())
    }

    #[test]
    fn the_prelude_advises_retry_and_the_position() {
        let sse = Sse { retry: Some(Duration::from_secs(2)) };
        assert_eq!(&sse.prelude(Some("e1"))[..], b"retry: 2000\nid: e1\n\n");
        assert_eq!(&sse.prelude(Some("bad\nid"))[..], b"retry: 2000\n\n");
        assert_eq!(&Sse { retry: None }.prelude(None)[..], b":\n\n");
    }

    #[test]
    fn a_lone_event_is_its_shared_frame_and_a_batch_one_chunk() {
        let sse = Sse { retry: None };
        let one = event(1, "a");
        assert_eq!(sse.batch(std::slice::from_ref(&one)).as_ptr(), one.sse_frame().as_ptr(), "not copied");
        let two = [event(1, "a"), event(2, "b")];
        assert_eq!(&sse.batch(&two)[..], b"id: e1\ndata: a\n\nid: e2\ndata: b\n\n");
    }
}
