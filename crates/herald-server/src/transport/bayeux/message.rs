//! Bayeux messages: what a client sends, the replies the hub builds, and the error strings.
//!
//! Requests are JSON objects, in an array or alone. Every reply names the request's channel and
//! carries its `id` (clients match replies by it) and `clientId`; a failure has
//! `"successful":false` and an `error` in the protocol's `code:args:message` form, with advice
//! when the client should do something other than retry.

use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// One message from a client. Fields this hub does not read are ignored, as the protocol asks.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Message {
    pub channel: Option<String>,
    #[serde(rename = "clientId")]
    pub client_id: Option<String>,
    /// Any JSON value; echoed in the reply.
    pub id: Option<Value>,
    pub data: Option<Value>,
    /// A channel, or an array of them.
    pub subscription: Option<Value>,
    #[serde(rename = "connectionType")]
    pub connection_type: Option<String>,
    #[serde(rename = "supportedConnectionTypes")]
    pub supported_connection_types: Option<Vec<Value>>,
    pub version: Option<String>,
    pub advice: Option<Value>,
    pub ext: Option<Value>,
}

impl Message {
    /// Reads one element of a request: an object, else `None`.
    pub(crate) fn read(value: Value) -> Option<Self> {
        if !value.is_object() {
            return None;
        }
        // Any field of the wrong type makes the message unreadable.
        serde_json::from_value(value).ok()
    }

    /// `ext.herald.<field>`, Herald's own extension.
    pub(crate) fn herald_ext(&self, field: &str) -> Option<&Value> {
        self.ext.as_ref()?.get("herald")?.get(field)
    }

    /// The client's `advice.timeout`, in milliseconds.
    pub(crate) fn advised_timeout(&self) -> Option<u64> {
        self.advice.as_ref()?.get("timeout")?.as_u64()
    }
}

/// What the client should do after a reply: `retry` the same request, `handshake` again, or
/// `none` (stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconnect {
    Retry,
    Handshake,
    None,
}

impl Reconnect {
    fn name(self) -> &'static str {
        match self {
            Self::Retry => "retry",
            Self::Handshake => "handshake",
            Self::None => "none",
        }
    }
}

/// A refusal, as the protocol writes it: `code:args:message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: u16,
    pub args: String,
    pub message: String,
    pub reconnect: Option<Reconnect>,
}

impl Failure {
    pub(crate) fn new(code: u16, args: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code, args: args.into(), message: message.into(), reconnect: None }
    }

    /// With advice to reconnect this way.
    pub(crate) fn advise(mut self, reconnect: Reconnect) -> Self {
        self.reconnect = Some(reconnect);
        self
    }

    /// `401::No client ID`.
    pub(crate) fn no_client_id() -> Self {
        Self::new(401, "", "No client ID").advise(Reconnect::Handshake)
    }

    /// `402:<id>:Unknown Client ID`.
    pub(crate) fn unknown_client(id: &str) -> Self {
        Self::new(402, id, "Unknown Client ID").advise(Reconnect::Handshake)
    }

    /// `403:<channel>:Permission Denied`.
    pub(crate) fn denied(channel: &str) -> Self {
        Self::new(403, channel, "Permission Denied")
    }

    fn text(&self) -> String {
        format!("{}:{}:{}", self.code, self.args, self.message)
    }
}

/// A reply under construction.
#[derive(Debug)]
pub(crate) struct Reply(Map<String, Value>);

impl Reply {
    /// A successful reply to `message` on `channel`.
    pub(crate) fn to(channel: &str, message: &Message) -> Self {
        let mut fields = Map::new();
        fields.insert("channel".into(), channel.into());
        fields.insert("successful".into(), true.into());
        if let Some(id) = &message.id {
            fields.insert("id".into(), id.clone());
        }
        if let Some(client) = &message.client_id {
            fields.insert("clientId".into(), client.as_str().into());
        }
        Self(fields)
    }

    /// An unsuccessful reply.
    pub(crate) fn failed(channel: &str, message: &Message, failure: &Failure) -> Self {
        let mut reply = Self::to(channel, message);
        reply.0.insert("successful".into(), false.into());
        reply.0.insert("error".into(), failure.text().into());
        if let Some(reconnect) = failure.reconnect {
            reply.0.insert("advice".into(), json!({"reconnect": reconnect.name(), "interval": 0}));
        }
        reply
    }

    /// A reply to an element that is not a message at all.
    pub(crate) fn unreadable() -> Self {
        let mut fields = Map::new();
        fields.insert("successful".into(), false.into());
        fields.insert("error".into(), "400::message must be a JSON object with string fields".into());
        Self(fields)
    }

    pub(crate) fn set(mut self, field: &str, value: impl Into<Value>) -> Self {
        self.0.insert(field.into(), value.into());
        self
    }

    /// The advice to keep connecting: at once, with a connect held up to `timeout_ms`; or
    /// after `interval_ms`.
    pub(crate) fn advice(self, reconnect: Reconnect, interval_ms: u64, timeout_ms: u64) -> Self {
        self.set("advice", json!({"reconnect": reconnect.name(), "interval": interval_ms, "timeout": timeout_ms}))
    }

    pub(crate) fn into_bytes(self) -> Bytes {
        Bytes::from(Value::Object(self.0).to_string())
    }
}

/// Joins messages, each already JSON, into one JSON array.
pub(crate) fn array(parts: &[Bytes]) -> Bytes {
    let size = parts.iter().map(|p| p.len() + 1).sum::<usize>() + 2;
    let mut out = Vec::with_capacity(size);
    out.push(b'[');
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(part);
    }
    out.push(b']');
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_carry_id_and_client() {
        let message: Message =
            serde_json::from_value(json!({"channel": "/meta/connect", "id": "7", "clientId": "c"})).unwrap();
        let reply: Value = serde_json::from_slice(&Reply::to("/meta/connect", &message).into_bytes()).unwrap();
        assert_eq!(reply, json!({"channel": "/meta/connect", "id": "7", "clientId": "c", "successful": true}));
        let failed = Reply::failed("/meta/connect", &message, &Failure::unknown_client("c")).into_bytes();
        let failed: Value = serde_json::from_slice(&failed).unwrap();
        assert_eq!(failed["error"], "402:c:Unknown Client ID");
        assert_eq!(failed["advice"]["reconnect"], "handshake");
        assert_eq!(failed["successful"], false);
    }

    #[test]
    fn messages_of_the_wrong_shape_are_unreadable() {
        assert!(Message::read(json!([1])).is_none());
        assert!(Message::read(json!({"channel": 5})).is_none());
        let read = Message::read(json!({"channel": "/a", "data": {"x": 1}, "unknown": true})).unwrap();
        assert_eq!(read.data, Some(json!({"x": 1})));
    }

    #[test]
    fn arrays_join_messages() {
        assert_eq!(&array(&[])[..], b"[]");
        assert_eq!(&array(&[Bytes::from_static(b"{}"), Bytes::from_static(b"{\"a\":1}")])[..], b"[{},{\"a\":1}]");
    }
}
