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
//! - `{"type":"publish_batch","updates":[{"topic":…,"data":…,…},…],"ref":…}`: many updates,
//!   each object with the publish fields (see [`super::super::publish_batch`]); all published or
//!   none; answered by an `ack` with `ids`, in order, or an `error` naming `updates[i]`.
//! - `{"type":"ping"}`: answered by `{"type":"pong"}`.
//!
//! Hub → client: `event` (the JSON event message of [`super::super::json`]), `ack`, `error`
//! (with a `code` naming the kind of failure: `bad_request`, `unauthorized`, `forbidden`,
//! `too_large`, `rate_limited`, `unavailable`), `pong`. Every answer carries the request's `ref`
//! when it had one, so clients can match them.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::ops::FailureKind;
pub(crate) use crate::transport::publish_batch::{JsonUpdate, OneOrMany, Retry};

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
    #[serde(rename = "publish_batch")]
    PublishBatch {
        updates: Vec<JsonUpdate>,
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    Ping {
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
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
        let m: ClientMessage =
            serde_json::from_str(r#"{"type":"publish_batch","updates":[{"topic":"t"},{"topic":"u","type":"x"}]}"#)
                .unwrap();
        assert!(matches!(m, ClientMessage::PublishBatch { ref updates, .. } if updates.len() == 2));
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"dance"}"#).is_err());
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"publish","topic":"t","typo":1}"#).is_err());
    }

    #[test]
    fn answers_carry_the_ref() {
        assert_eq!(ack(json!({"id": "x"}), Some(json!(3))), r#"{"id":"x","ref":3,"type":"ack"}"#);
        assert_eq!(error("bad_request", "bad", None), r#"{"code":"bad_request","message":"bad","type":"error"}"#);
    }
}
