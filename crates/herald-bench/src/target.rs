//! Where each kind of hub takes subscribers and publishes, and in which format.
//!
//! - Herald: SSE at `/.well-known/mercure?match=<topic>`, WebSocket at `/ws` with a JSON
//!   subscribe message, long-polling on the Mercure endpoint; publishes are Mercure form posts.
//! - nchan: subscribers at `/sub/<topic>` (EventSource or WebSocket), publishes as the raw body
//!   of `POST /pub?id=<topic>`.
//! - Pushpin: subscribers at `/sub/<topic>` on the proxy port, answered by the GRIP origin in
//!   `bench/pushpin/`; publishes go to the HTTP control API as one item per message.
//! - Bayeux (Herald's `/cometd`, Faye's `/faye`): subscribers POST or send over a WebSocket
//!   JSON arrays of messages; Herald takes publishes as Mercure form posts, Faye as a Bayeux
//!   message `[{"channel":…,"data":…}]` POSTed without a client id, its reply saying whether
//!   it was accepted.

use std::net::SocketAddr;

use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::Full;

use crate::config::{BenchConfig, Target};
use crate::url::{encode, path_prefix};

/// Request targets and bodies for one run.
#[derive(Debug, Clone)]
pub(crate) struct Endpoints {
    target: Target,
    host: String,
    prefix: String,
    control_host: String,
    control_prefix: String,
    publish_addr: SocketAddr,
    token: Option<String>,
    /// `Authorization` header line (with its CRLF) for subscribe requests, or nothing.
    subscribe_auth: String,
    topic_prefix: String,
}

impl Endpoints {
    pub(crate) fn new(config: &BenchConfig) -> Result<Self, String> {
        let host = config.base_addr()?.to_string();
        let control = config.control.clone().unwrap_or_else(|| config.base.clone());
        let control_addr = crate::url::socket_addr(&control)?;
        Ok(Self {
            target: config.target,
            // Herald with --control: another node of the same cluster takes the publishes.
            publish_addr: if config.target == Target::Pushpin
                || (config.target == Target::Herald && config.control.is_some())
            {
                control_addr
            } else {
                config.base_addr()?
            },
            host,
            prefix: path_prefix(&config.base),
            control_host: control_addr.to_string(),
            control_prefix: path_prefix(&control),
            token: config.publish_token.clone(),
            subscribe_auth: config
                .subscribe_token
                .as_ref()
                .map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n")),
            topic_prefix: config.topic_prefix.clone(),
        })
    }

    /// The topic (channel) name of topic number `index`.
    pub(crate) fn topic_name(&self, index: usize) -> String {
        format!("{}{index}", self.topic_prefix)
    }

    /// The raw HTTP/1.1 request that opens an event stream on `topic`.
    pub(crate) fn sse_request(&self, topic: &str) -> String {
        self.sse_request_after(topic, None)
    }

    /// The raw HTTP/1.1 request that opens an event stream on `topic`, resuming after the event
    /// `last_event_id` (sent as `Last-Event-ID`, as a reconnecting EventSource does).
    pub(crate) fn sse_request_after(&self, topic: &str, last_event_id: Option<&str>) -> String {
        let path = match self.target {
            Target::Herald => format!("{}/.well-known/mercure?match={}", self.prefix, encode(topic)),
            Target::Nchan | Target::Pushpin | Target::Faye => format!("{}/sub/{}", self.prefix, encode(topic)),
        };
        let resume = last_event_id.map_or_else(String::new, |id| format!("Last-Event-ID: {id}\r\n"));
        format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n{}{resume}\r\n",
            self.host, self.subscribe_auth
        )
    }

    /// The raw HTTP/1.1 request of one long-poll (Herald only); `cursor` is the last answer's.
    pub(crate) fn long_poll_request(&self, topic: &str, cursor: Option<&str>, wait_s: u32) -> String {
        let mut path =
            format!("{}/.well-known/mercure?match={}&transport=long-poll&timeout={wait_s}", self.prefix, encode(topic));
        if let Some(cursor) = cursor {
            path.push_str("&last_event_id=");
            path.push_str(&encode(cursor));
        }
        format!("GET {path} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n{}\r\n", self.host, self.subscribe_auth)
    }

    /// The WebSocket URL for `topic`.
    pub(crate) fn ws_url(&self, topic: &str) -> String {
        match self.target {
            Target::Herald => format!("ws://{}{}/ws", self.host, self.prefix),
            Target::Nchan | Target::Pushpin | Target::Faye => {
                format!("ws://{}{}/sub/{}", self.host, self.prefix, encode(topic))
            }
        }
    }

    /// The path of the Bayeux endpoint: Herald's `/cometd`, Faye's `/faye`.
    fn bayeux_path(&self) -> String {
        match self.target {
            Target::Faye => format!("{}/faye", self.prefix),
            Target::Herald | Target::Nchan | Target::Pushpin => format!("{}/cometd", self.prefix),
        }
    }

    /// The URL Bayeux WebSocket subscribers upgrade at.
    pub(crate) fn bayeux_ws_url(&self) -> String {
        format!("ws://{}{}", self.host, self.bayeux_path())
    }

    /// The raw HTTP/1.1 request that POSTs the Bayeux messages `body` (a JSON array), keeping
    /// the connection open for the next one.
    pub(crate) fn bayeux_request(&self, body: &str) -> String {
        format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}\r\n{body}",
            self.bayeux_path(),
            self.host,
            body.len(),
            self.subscribe_auth
        )
    }

    /// The subscribers' token, if any.
    pub(crate) fn subscribe_token(&self) -> Option<&str> {
        self.subscribe_auth.strip_prefix("Authorization: Bearer ").map(str::trim_end)
    }

    /// The message a WebSocket subscriber sends after the upgrade, if the target needs one.
    pub(crate) fn ws_subscribe_message(&self, topic: &str) -> Option<String> {
        match self.target {
            Target::Herald => Some(serde_json::json!({"type": "subscribe", "match": [topic]}).to_string()),
            Target::Nchan | Target::Pushpin | Target::Faye => None,
        }
    }

    /// Whether `text`, received on a WebSocket before any event, acknowledges the subscription.
    pub(crate) fn is_ws_subscribe_ack(&self, text: &str) -> bool {
        match self.target {
            Target::Herald => serde_json::from_str::<serde_json::Value>(text)
                .is_ok_and(|v| v["type"] == "ack" && v["for"] == "subscribe"),
            Target::Nchan | Target::Pushpin | Target::Faye => true,
        }
    }

    /// The address publishes are sent to.
    pub(crate) fn publish_addr(&self) -> SocketAddr {
        self.publish_addr
    }

    /// The `Host` of publish requests.
    fn publish_host(&self) -> &str {
        match self.target {
            Target::Pushpin | Target::Herald => &self.control_host,
            Target::Nchan | Target::Faye => &self.host,
        }
    }

    /// Whether the body of a successful (2xx) publish answer says the message was accepted:
    /// Faye answers 200 with a reply per message, each `successful` or not.
    pub(crate) fn publish_accepted(&self, body: &[u8]) -> bool {
        #[derive(serde::Deserialize)]
        struct Reply {
            #[serde(default)]
            successful: bool,
        }
        match self.target {
            Target::Faye => serde_json::from_slice::<Vec<Reply>>(body)
                .is_ok_and(|replies| !replies.is_empty() && replies.iter().all(|r| r.successful)),
            Target::Herald | Target::Nchan | Target::Pushpin => true,
        }
    }

    /// The request that publishes each `(topic, payload)` of `messages` as one NDJSON batch
    /// (Herald's batch publishing).
    pub(crate) fn publish_batch_request(
        &self,
        messages: &[(String, String)],
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let mut body = String::with_capacity(messages.iter().map(|(t, p)| t.len() + p.len() + 32).sum());
        for (topic, payload) in messages {
            body.push_str(&serde_json::json!({"topic": topic, "data": payload}).to_string());
            body.push('\n');
        }
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/.well-known/mercure", self.prefix))
            .header(header::HOST, self.publish_host())
            .header(header::CONTENT_TYPE, "application/x-ndjson");
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(Full::new(Bytes::from(body)))
    }

    /// The request that publishes `payload` on `topic`, with the event id `id` where the target
    /// takes one (Herald).
    pub(crate) fn publish_request(
        &self,
        topic: &str,
        id: Option<&str>,
        payload: &str,
    ) -> Result<Request<Full<Bytes>>, http::Error> {
        let (path, content_type, body) = match self.target {
            Target::Herald => (
                format!("{}/.well-known/mercure", self.control_prefix),
                "application/x-www-form-urlencoded",
                match id {
                    Some(id) => format!("topic={}&id={}&data={}", encode(topic), encode(id), encode(payload)),
                    None => format!("topic={}&data={}", encode(topic), encode(payload)),
                },
            ),
            Target::Nchan => (format!("{}/pub?id={}", self.prefix, encode(topic)), "text/plain", payload.to_owned()),
            Target::Pushpin => {
                let item = serde_json::json!({
                    "channel": topic,
                    "formats": {
                        "http-stream": {"content": format!("data: {payload}\n\n")},
                        "ws-message": {"content": payload},
                    },
                });
                let body = serde_json::json!({"items": [item]}).to_string();
                (format!("{}/publish/", self.control_prefix), "application/json", body)
            }
            // Bayeux data is any JSON value: the payload goes as a string and comes back as one.
            Target::Faye => (
                self.bayeux_path(),
                "application/json",
                serde_json::json!([{"channel": topic, "data": payload}]).to_string(),
            ),
        };
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::HOST, self.publish_host())
            .header(header::CONTENT_TYPE, content_type);
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        request.body(Full::new(Bytes::from(body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Transport;

    fn endpoints(target: Target) -> Endpoints {
        let mut config = BenchConfig::new(target, Transport::Sse, "http://127.0.0.1:8080/");
        config.control = Some("http://127.0.0.1:5561".into());
        config.publish_token = Some("t0k".into());
        config.subscribe_token = Some("sub".into());
        Endpoints::new(&config).expect("valid URLs")
    }

    #[test]
    fn herald_urls() {
        let herald = endpoints(Target::Herald);
        assert!(herald.sse_request("a b").starts_with("GET /.well-known/mercure?match=a+b HTTP/1.1\r\n"));
        assert_eq!(herald.ws_url("x"), "ws://127.0.0.1:8080/ws");
        assert!(herald.sse_request("t").ends_with("\r\nAuthorization: Bearer sub\r\n\r\n"));
        assert_eq!(herald.subscribe_token(), Some("sub"));
        assert!(herald
            .long_poll_request("t", Some("urn:1"), 30)
            .starts_with("GET /.well-known/mercure?match=t&transport=long-poll&timeout=30&last_event_id=urn%3A1 "));
        assert!(herald.is_ws_subscribe_ack(r#"{"type":"ack","for":"subscribe","last_event_id":null}"#));
        assert!(!herald.is_ws_subscribe_ack(r#"{"type":"error","message":"no"}"#));
        let request = herald.publish_request("t", None, "1 2 x").expect("a request");
        assert_eq!(request.uri(), "/.well-known/mercure");
        assert_eq!(request.headers()[header::AUTHORIZATION], "Bearer t0k");
    }

    #[test]
    fn bayeux_urls_and_faye_publishes() {
        let herald = endpoints(Target::Herald);
        assert_eq!(herald.bayeux_ws_url(), "ws://127.0.0.1:8080/cometd");
        let faye = endpoints(Target::Faye);
        assert_eq!(faye.bayeux_ws_url(), "ws://127.0.0.1:8080/faye");
        let post = faye.bayeux_request("[]");
        assert!(post.starts_with("POST /faye HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"));
        assert!(post.ends_with("Content-Length: 2\r\nAuthorization: Bearer sub\r\n\r\n[]"));
        let request = faye.publish_request("/bench/t0", None, "3 4 xx").expect("a request");
        assert_eq!(request.uri(), "/faye");
        assert_eq!(request.headers()[header::CONTENT_TYPE], "application/json");
        assert!(faye.publish_accepted(br#"[{"channel":"/bench/t0","successful":true}]"#));
        assert!(!faye.publish_accepted(br#"[{"channel":"/bench/t0","successful":false,"error":"405"}]"#));
        assert!(!faye.publish_accepted(b"not json"));
        assert!(herald.publish_accepted(b""));
    }

    #[test]
    fn peer_urls() {
        let nchan = endpoints(Target::Nchan);
        assert!(nchan.sse_request("bench-1").starts_with("GET /sub/bench-1 HTTP/1.1\r\n"));
        assert_eq!(nchan.publish_request("bench-1", None, "p").expect("a request").uri(), "/pub?id=bench-1");
        let pushpin = endpoints(Target::Pushpin);
        assert_eq!(pushpin.publish_addr().to_string(), "127.0.0.1:5561");
        assert_eq!(pushpin.ws_url("bench-2"), "ws://127.0.0.1:8080/sub/bench-2");
    }
}
