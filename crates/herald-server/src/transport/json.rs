//! The JSON form of an event, shared by the JSON transports (WebSocket, NDJSON, polling and the
//! forever frame): `{"type":"event","id":…,"topics":[…],"event":…,"data":…}`, encoded once per
//! event on first use and shared by every subscriber that needs it.

use std::borrow::Cow;
use std::sync::LazyLock;

use bytes::Bytes;
use herald_core::{Event, Format};

/// The JSON event message, as a registered format of the hub's events.
static EVENT_JSON: LazyLock<Format> = LazyLock::new(|| Format::register("json", encode));

/// The event's shared JSON message.
pub(crate) fn message(event: &Event) -> Cow<'_, Bytes> {
    event.encoded(&EVENT_JSON)
}

fn encode(event: &Event) -> Bytes {
    let message = serde_json::json!({
        "type": "event",
        "id": &*event.id,
        "topics": event.topics,
        "event": event.event_type.as_deref().unwrap_or("message"),
        "data": event.data,
    });
    Bytes::from(message.to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use herald_core::Update;

    use super::*;

    #[test]
    fn the_message_is_encoded_once_with_every_field() {
        let update = Update {
            topics: vec!["t".into(), "u".into()],
            data: "a\nb".into(),
            event_type: Some("price".into()),
            ..Default::default()
        };
        let event = Event::new(7, Arc::from("id-7"), 0, update).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&message(&event)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "event", "id": "id-7", "topics": ["t", "u"], "event": "price", "data": "a\nb"})
        );
        assert!(matches!(message(&event), Cow::Borrowed(_)), "cached on the event");
        assert_eq!(message(&event).as_ptr(), message(&event).as_ptr(), "encoded once");
    }
}
