//! The Bayeux client both Bayeux subscribers share: the messages they send and what they make
//! of the replies, whatever carries them.
//!
//! A subscriber hands its handshake, its subscription to its topic's channel once the handshake
//! gave it a client id, then one `/meta/connect` after another, each sent as soon as the
//! previous one is answered. It is ready once its subscribe is acknowledged. A message on any
//! other channel is a delivered event, its `data` the payload (a JSON string: Herald sends
//! text that is not JSON as one, and the bench publishes its payloads to Faye as strings);
//! data of another kind is not one of the run's messages. An unsuccessful meta reply ends the
//! subscriber with its error.

use std::borrow::Cow;

use serde::de::IgnoredAny;

/// Where a subscriber is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Handshaking,
    Subscribing,
    Connected,
}

/// One subscriber's side of a Bayeux session.
#[derive(Debug)]
pub(super) struct Client {
    connection_type: &'static str,
    channel: String,
    client_id: Option<String>,
    phase: Phase,
    next_id: u64,
}

/// What the messages of one reply (a JSON array) called for.
#[derive(Debug, Default)]
pub(super) struct Replies<'t> {
    /// The payloads of the delivered events, in order.
    pub events: Vec<Cow<'t, str>>,
    /// Delivered messages whose data is not text (so not one of the run's).
    pub foreign: u64,
    /// The message array to send next, if a meta reply called for one.
    pub next: Option<String>,
}

/// A message as far as a subscriber reads it.
#[derive(serde::Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(default)]
    successful: Option<bool>,
    #[serde(rename = "clientId", borrow, default)]
    client_id: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
enum Data<'a> {
    Text(#[serde(borrow)] Cow<'a, str>),
    Other(IgnoredAny),
}

impl Client {
    /// A client that subscribes to `channel` over `connection_type` (`websocket`,
    /// `long-polling`).
    pub(super) fn new(connection_type: &'static str, channel: &str) -> Self {
        Self { connection_type, channel: channel.to_owned(), client_id: None, phase: Phase::Handshaking, next_id: 0 }
    }

    /// Whether the subscription was acknowledged.
    pub(super) fn subscribed(&self) -> bool {
        self.phase == Phase::Connected
    }

    /// The first message array to send: the handshake.
    pub(super) fn handshake(&mut self) -> String {
        let id = self.id();
        serde_json::json!([{
            "channel": "/meta/handshake",
            "version": "1.0",
            "supportedConnectionTypes": [self.connection_type],
            "id": id,
        }])
        .to_string()
    }

    /// Reads one reply array and says what it delivered and what to send next.
    pub(super) fn handle<'t>(&mut self, text: &'t str) -> Result<Replies<'t>, String> {
        let messages: Vec<Message<'t>> =
            serde_json::from_str(text).map_err(|e| format!("not an array of Bayeux messages ({e}): {text:.200}"))?;
        let mut replies = Replies::default();
        for message in messages {
            let meta = match message.channel.strip_prefix("/meta/") {
                Some(meta) => meta,
                None => {
                    match message.data {
                        Some(Data::Text(payload)) => replies.events.push(payload),
                        Some(Data::Other(_)) | None => replies.foreign += 1,
                    }
                    continue;
                }
            };
            if message.successful != Some(true) {
                let error = message.error.as_deref().unwrap_or("no error given");
                return Err(format!("/meta/{meta} failed: {error}"));
            }
            match (meta, self.phase) {
                ("handshake", Phase::Handshaking) => {
                    let id = message.client_id.ok_or("the handshake reply has no clientId")?;
                    self.client_id = Some(id.into_owned());
                    self.phase = Phase::Subscribing;
                    replies.next = Some(self.subscribe());
                }
                ("subscribe", Phase::Subscribing) => {
                    self.phase = Phase::Connected;
                    replies.next = Some(self.connect());
                }
                ("connect", Phase::Connected) => replies.next = Some(self.connect()),
                (other, phase) => return Err(format!("unexpected /meta/{other} reply while {phase:?}")),
            }
        }
        Ok(replies)
    }

    fn subscribe(&mut self) -> String {
        let id = self.id();
        serde_json::json!([{
            "channel": "/meta/subscribe",
            "clientId": self.client_id,
            "subscription": self.channel,
            "id": id,
        }])
        .to_string()
    }

    fn connect(&mut self) -> String {
        let id = self.id();
        serde_json::json!([{
            "channel": "/meta/connect",
            "clientId": self.client_id,
            "connectionType": self.connection_type,
            "id": id,
        }])
        .to_string()
    }

    fn id(&mut self) -> String {
        self.next_id += 1;
        self.next_id.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sent(text: &str) -> serde_json::Value {
        serde_json::from_str::<serde_json::Value>(text).expect("JSON")[0].clone()
    }

    #[test]
    fn handshake_subscribe_then_connect_after_connect() {
        let mut client = Client::new("long-polling", "/bench/t3");
        let handshake = sent(&client.handshake());
        assert_eq!(handshake["channel"], "/meta/handshake");
        assert_eq!(handshake["supportedConnectionTypes"][0], "long-polling");
        let replies = client
            .handle(r#"[{"channel":"/meta/handshake","successful":true,"clientId":"c1","version":"1.0"}]"#)
            .expect("a handshake reply");
        let subscribe = sent(replies.next.as_deref().expect("a subscribe"));
        assert_eq!(
            (subscribe["clientId"].as_str(), subscribe["subscription"].as_str()),
            (Some("c1"), Some("/bench/t3"))
        );
        assert!(!client.subscribed());
        let replies = client
            .handle(r#"[{"channel":"/meta/subscribe","successful":true,"subscription":"/bench/t3"}]"#)
            .expect("a subscribe reply");
        assert!(client.subscribed());
        assert_eq!(sent(replies.next.as_deref().expect("a connect"))["connectionType"], "long-polling");
        // Herald: the events, then the reply; Faye: the reply, then the events.
        let replies = client
            .handle(concat!(
                r#"[{"channel":"/bench/t3","data":"3 17 x\"y","id":"urn:1"},"#,
                r#"{"channel":"/meta/connect","successful":true,"advice":{"timeout":30000}},"#,
                r#"{"channel":"/bench/t3","data":{"k":1}}]"#
            ))
            .expect("a connect reply");
        assert_eq!(replies.events, ["3 17 x\"y"]);
        assert_eq!(replies.foreign, 1);
        assert_eq!(sent(replies.next.as_deref().expect("the next connect"))["channel"], "/meta/connect");
        // Faye over a WebSocket pushes events in frames of their own.
        let pushed = client.handle(r#"[{"channel":"/bench/t3","data":"4 18 x"}]"#).expect("an event");
        assert_eq!((pushed.events.len(), pushed.next), (1, None));
        assert_eq!(crate::payload::decode(pushed.events[0].as_bytes()), Some((4, 18)));
    }

    #[test]
    fn failures_end_the_subscriber() {
        let mut client = Client::new("websocket", "/bench/t0");
        client.handshake();
        assert!(client.handle(r#"[{"channel":"/meta/handshake","successful":false,"error":"403::no"}]"#).is_err());
        assert!(client.handle(r#"[{"channel":"/meta/handshake","successful":true}]"#).is_err(), "no clientId");
        assert!(client.handle("not json").is_err());
        assert!(client.handle(r#"[{"channel":"/meta/connect","successful":true}]"#).is_err(), "out of turn");
    }
}
