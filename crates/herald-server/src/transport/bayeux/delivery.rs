//! An event as a Bayeux message: `{"channel":…,"data":…,"id":…}`, encoded once per event and
//! shared by every Bayeux client.
//!
//! The channel is the event's first topic. The data is the event's data as JSON when it parses
//! as JSON (an object, an array, a number, a quoted string, `true`, `false`, `null`), else the
//! data as a JSON string; so what a Bayeux client published comes back as it sent it, and text
//! published elsewhere arrives as text. The `id` is the hub's event id, the one to resume from.
//! An event type, when the publisher gave one, is in `ext.herald.type`.
//!
//! A client subscribed only through one of an event's other topics gets a message naming that
//! topic instead, encoded for it.

use std::borrow::Cow;
use std::sync::LazyLock;

use bytes::Bytes;
use herald_core::{Event, Format};

/// The Bayeux message on the event's first topic, as a registered format of the hub's events.
static MESSAGE: LazyLock<Format> = LazyLock::new(|| Format::register("bayeux", |event| encode(event, 0)));

/// The message for a client whose subscriptions select the event's topic `topic` (an index into
/// its topics).
pub(crate) fn message(event: &Event, topic: usize) -> Cow<'_, Bytes> {
    if topic == 0 {
        event.encoded(&MESSAGE)
    } else {
        Cow::Owned(encode(event, topic))
    }
}

fn encode(event: &Event, topic: usize) -> Bytes {
    let channel = event.topics.get(topic).map_or("", String::as_str);
    let mut out = String::with_capacity(event.data.len() + channel.len() + event.id.len() + 40);
    out.push_str("{\"channel\":");
    push_string(&mut out, channel);
    out.push_str(",\"data\":");
    // Parsed whole, not just skimmed: a number out of a double's range (`1e999`) is valid JSON
    // syntax that most parsers refuse, so it is sent as text.
    if serde_json::from_str::<serde_json::Value>(&event.data).is_ok() {
        out.push_str(event.data.trim());
    } else {
        push_string(&mut out, &event.data);
    }
    out.push_str(",\"id\":");
    push_string(&mut out, &event.id);
    if let Some(event_type) = &event.event_type {
        out.push_str(",\"ext\":{\"herald\":{\"type\":");
        push_string(&mut out, event_type);
        out.push_str("}}");
    }
    out.push('}');
    Bytes::from(out)
}

fn push_string(out: &mut String, value: &str) {
    out.push_str(&serde_json::Value::from(value).to_string());
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use herald_core::Update;
    use serde_json::{json, Value};

    use super::*;

    fn event(data: &str, event_type: Option<&str>) -> Event {
        let update = Update {
            topics: vec!["/chat/lobby".into(), "/chat/all".into()],
            data: data.into(),
            event_type: event_type.map(Into::into),
            ..Default::default()
        };
        Event::new(1, Arc::from("e1"), 0, update).unwrap()
    }

    fn read(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn json_data_stays_json_and_text_becomes_a_string() {
        assert_eq!(
            read(&message(&event(r#" {"text":"hi"} "#, None), 0)),
            json!({"channel": "/chat/lobby", "data": {"text": "hi"}, "id": "e1"})
        );
        assert_eq!(read(&message(&event("12", None), 0))["data"], json!(12));
        assert_eq!(read(&message(&event("hello \"you\"", None), 0))["data"], json!("hello \"you\""));
        assert_eq!(read(&message(&event("{\"a\":1} x", None), 0))["data"], json!("{\"a\":1} x"));
        assert_eq!(read(&message(&event("", None), 0))["data"], json!(""));
        assert_eq!(read(&message(&event("28e6266", None), 0))["data"], json!("28e6266"), "out of range");
    }

    #[test]
    fn other_topics_and_types() {
        let typed = event("1", Some("price"));
        assert_eq!(read(&message(&typed, 0))["ext"], json!({"herald": {"type": "price"}}));
        assert_eq!(read(&message(&typed, 1))["channel"], "/chat/all");
        assert!(matches!(message(&typed, 0), Cow::Borrowed(_)), "shared");
    }
}
