//! Newline-delimited JSON (`application/x-ndjson`), for `fetch()` with a readable stream: one
//! JSON object per line, the event messages the WebSocket transport sends, a `position` line
//! first for a fresh subscription, and `{"type":"heartbeat"}` lines while idle.

use crate::metrics::connections::Transport;
use std::sync::Arc;

use bytes::Bytes;
use herald_core::Event;

use super::json;
use super::stream::{gather, StreamFormat};

const HEARTBEAT: Bytes = Bytes::from_static(b"{\"type\":\"heartbeat\"}\n");

/// The NDJSON format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ndjson;

impl StreamFormat for Ndjson {
    const CONTENT_TYPE: &'static str = "application/x-ndjson";
    const TRANSPORT: Transport = Transport::Ndjson;

    fn prelude(&self, position: Option<&str>) -> Bytes {
        match position {
            Some(id) => {
                let line = serde_json::json!({"type": "position", "last_event_id": id});
                Bytes::from(format!("{line}\n"))
            }
            None => HEARTBEAT,
        }
    }

    fn heartbeat(&self) -> Bytes {
        HEARTBEAT
    }

    fn batch(&self, events: &[Arc<Event>]) -> Bytes {
        gather(events, json::message, b"\n")
    }
}

#[cfg(test)]
mod tests {
    use herald_core::Update;

    use super::*;

    #[test]
    fn every_line_is_json() {
        let events: Vec<_> = (1..=2)
            .map(|seq| {
                let update = Update { topics: vec!["t".into()], data: "line\nbreak".into(), ..Default::default() };
                Arc::new(Event::new(seq, format!("e{seq}").into(), 0, update).unwrap())
            })
            .collect();
        let chunk = [Ndjson.prelude(Some("e0")), Ndjson.batch(&events), Ndjson.heartbeat()].concat();
        let lines: Vec<serde_json::Value> =
            std::str::from_utf8(&chunk).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines[0], serde_json::json!({"type": "position", "last_event_id": "e0"}));
        assert_eq!((lines[1]["id"].as_str(), lines[2]["data"].as_str()), (Some("e1"), Some("line\nbreak")));
        assert_eq!(lines[3], serde_json::json!({"type": "heartbeat"}));
    }
}
