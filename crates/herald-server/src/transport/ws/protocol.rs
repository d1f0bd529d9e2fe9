//! The JSON messages of the WebSocket transport.
//!
//! Client → hub (text frames):
//! - `{"type":"subscribe","match":[…],"match_urlpattern":[…],"topic":[…],"last_event_id":"…"}`:
//!   replaces the connection's subscription; matchers as in the query string of an SSE
//!   subscription; with `last_event_id` (or `earliest`) history is replayed first.
//! - `{"type":"unsubscribe"}`: ends the subscription.
//! - `{"type":"publish","topic":"…" or […],"data":"…","id":"…","event":"…","retry":N,
//!   "private":true,"ref":"…"}`: same fields and rules as the publish form (`event` is the form's
//!   `type`); answered by an `ack` with the id, or an `error`.
//! - `{"type":"ping"}`: answered by `{"type":"pong"}`.
//!
//! Hub → client: `event` (the JSON event message of [`super::super::json`]), `ack`, `error`
//! (with a `code` naming the kind of failure: `bad_request`, `unauthorized`, `forbidden`,
//! `too_large`, `rate_limited`, `unavailable`), `pong`. Every answer carries the request's `ref`
//! when it had one, so clients can match them.

use herald_core::Update;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::ops::{self, FailureKind, PublishFailure};

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum ClientMessage {
    Subscribe {
        #[serde(default, rename = "match")]
        exact: OneOrMany,
        #[serde(default)]
        match_urlpattern: OneOrMany,
        #[serde(default)]
        topic: OneOrMany,
        last_event_id: Option<String>,
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    Unsubscribe {
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    Publish {
        #[serde(default)]
        topic: OneOrMany,
        #[serde(default)]
        data: String,
        id: Option<String>,
        event: Option<String>,
        retry: Option<Retry>,
        #[serde(default)]
        private: bool,
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    Ping {
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
}

/// A field given as one string or a list of strings.
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            Self::None => Vec::new(),
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// `retry` as a number or, as in the form, a string of digits.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum Retry {
    Number(u64),
    Text(String),
}

/// Reads a client message, or gives the `error` answer for a text that is not one (carrying the
/// `ref` of a JSON object that is not a valid request, so the client can still match it).
pub(crate) fn read(text: &str) -> Result<ClientMessage, String> {
    let bad_request = FailureKind::BadRequest.code();
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(e) => return Err(error(bad_request, &format!("invalid message: not JSON ({e})"), None)),
    };
    // Keep the ref of a message that is JSON but not a valid request, to answer it.
    let reference = value.get("ref").cloned();
    serde_json::from_value::<ClientMessage>(value)
        .map_err(|e| error(bad_request, &format!("invalid message: {e}"), reference))
}

/// The update a `publish` message asks for: `retry` read as the form reads it, an empty `id` or
/// `event` meaning none. Validation and limits come after, in the operations layer.
pub(crate) fn publish_update(
    topic: OneOrMany,
    data: String,
    id: Option<String>,
    event: Option<String>,
    retry: Option<Retry>,
    private: bool,
) -> Result<Update, PublishFailure> {
    let retry = match retry {
        None => None,
        Some(Retry::Number(n)) => Some(n),
        Some(Retry::Text(text)) => Some(ops::publish::parse_retry(&text)?),
    };
    Ok(Update {
        topics: topic.into_vec(),
        data,
        id: id.filter(|i| !i.is_empty()),
        event_type: event.filter(|e| !e.is_empty()),
        retry,
        private,
    })
}

fn with_ref(mut message: Value, reference: Option<Value>) -> String {
    if let (Some(r), Some(object)) = (reference, message.as_object_mut()) {
        object.insert("ref".into(), r);
    }
    message.to_string()
}

/// `{"type":"ack", …}` with extra fields.
pub(crate) fn ack(fields: Value, reference: Option<Value>) -> String {
    let mut message = json!({"type": "ack"});
    if let (Some(object), Value::Object(extra)) = (message.as_object_mut(), fields) {
        object.extend(extra);
    }
    with_ref(message, reference)
}

/// `{"type":"error","code":…,"message":…}`: `code` is the failure's kind.
pub(crate) fn error(code: &str, message: &str, reference: Option<Value>) -> String {
    with_ref(json!({"type": "error", "code": code, "message": message}), reference)
}

/// `{"type":"pong"}`.
pub(crate) fn pong(reference: Option<Value>) -> String {
    with_ref(json!({"type": "pong"}), reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_message() {
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"subscribe","match":["a","b"],"topic":"/x/{id}","last_event_id":"e1"}"#)
                .unwrap();
        assert!(matches!(m, ClientMessage::Subscribe { last_event_id: Some(ref id), .. } if id == "e1"));
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"publish","topic":"t","data":"d","retry":"15","ref":7}"#).unwrap();
        assert!(matches!(m, ClientMessage::Publish { retry: Some(Retry::Text(_)), .. }));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"ping"}"#).is_ok());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"publish","topic":"t","typo":1}"#).is_err());
    }

    #[test]
    fn answers_carry_the_ref() {
        assert_eq!(ack(json!({"id": "x"}), Some(json!(3))), r#"{"id":"x","ref":3,"type":"ack"}"#);
        assert_eq!(error("bad_request", "bad", None), r#"{"code":"bad_request","message":"bad","type":"error"}"#);
    }
}
