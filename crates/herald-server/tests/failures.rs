//! One table of refused publishes and subscriptions, each tried over HTTP (the publish form, an
//! NDJSON batch, a `GET` subscription) and over a WebSocket (`publish`, `publish_batch` and
//! `subscribe` messages): both
//! transports must answer with the same kind of failure, the HTTP status and the WebSocket error
//! `code` of one kind. A watcher subscribed over Server-Sent Events meanwhile receives every good
//! event and nothing that was refused.

mod common;

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{take, ws_next, ws_send, FaultyStore, TestHub};
use herald_core::Update;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{json, Value};

const PUBLISHER_KEY: &str = "publisher-secret-for-tests";
const SUBSCRIBER_KEY: &str = "subscriber-secret-for-tests";
/// Limits every hub of the table runs with.
const LIMITS: &[&str] =
    &["--max-field-bytes", "64", "--max-topics-per-publish", "3", "--max-matchers", "2", "--max-batch-updates", "3"];
/// A hub that needs a token for each role, each role with its own key.
const SECURED: &[&str] = &["--publisher-jwt-key", PUBLISHER_KEY, "--subscriber-jwt-key", SUBSCRIBER_KEY];

/// The kind of a failure, as each transport says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    BadRequest,
    Unauthorized,
    Forbidden,
    TooLarge,
    RateLimited,
    Unavailable,
}

impl Kind {
    fn status(self) -> u16 {
        match self {
            Self::BadRequest => 400,
            Self::Unauthorized => 401,
            Self::Forbidden => 403,
            Self::TooLarge => 413,
            Self::RateLimited => 429,
            Self::Unavailable => 503,
        }
    }

    fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }
}

/// A token for a request: none, or one signed with a role's key and granting these topics.
#[derive(Debug, Clone, Copy)]
enum Token {
    None,
    /// Signed with the publishers' key; grants publishing only.
    Publisher(&'static [&'static str]),
    /// Signed with the subscribers' key; grants subscribing only.
    Subscriber(&'static [&'static str]),
}

impl Token {
    fn mint(self) -> Option<String> {
        match self {
            Self::None => None,
            Self::Publisher(topics) => Some(sign(PUBLISHER_KEY, json!({"publish": topics}))),
            Self::Subscriber(topics) => Some(sign(SUBSCRIBER_KEY, json!({"subscribe": topics}))),
        }
    }
}

/// An HS256 token with the legacy `mercure` claim, valid for an hour.
fn sign(key: &str, mercure: Value) -> String {
    let exp = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 3600;
    let claims = json!({"exp": exp, "mercure": mercure});
    jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

/// The store operation that fails while the request is tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    Append,
    PositionOf,
}

impl Fault {
    fn set(self, store: &FaultyStore, on: bool) {
        match self {
            Self::None => {}
            Self::Append => store.fail_append.store(on, Ordering::SeqCst),
            Self::PositionOf => store.fail_position_of.store(on, Ordering::SeqCst),
        }
    }
}

/// The same request in each transport's terms.
enum Request {
    /// A publish: the form body, and the WebSocket message.
    Publish { form: String, ws: Value },
    /// A batch publish: the NDJSON body, and the WebSocket message.
    Batch { ndjson: String, ws: Value },
    /// A subscription: the query parameters, and the WebSocket message.
    Subscribe { query: Vec<(&'static str, String)>, ws: Value },
}

struct Case {
    name: &'static str,
    /// Flags of the hub, besides [`LIMITS`].
    args: &'static [&'static str],
    fault: Fault,
    /// Spend the publish rate with one accepted publish first.
    spend_rate: bool,
    /// The token of the HTTP request.
    http_token: Token,
    /// The token the WebSocket is opened with (the upgrade needs rights for one role).
    ws_token: Token,
    request: Request,
    kind: Kind,
}

impl Case {
    fn new(name: &'static str, request: Request, kind: Kind) -> Self {
        Self {
            name,
            args: &[],
            fault: Fault::None,
            spend_rate: false,
            http_token: Token::None,
            ws_token: Token::None,
            request,
            kind,
        }
    }

    fn args(self, args: &'static [&'static str]) -> Self {
        Self { args, ..self }
    }

    fn tokens(self, http_token: Token, ws_token: Token) -> Self {
        Self { http_token, ws_token, ..self }
    }

    fn fault(self, fault: Fault) -> Self {
        Self { fault, ..self }
    }
}

fn publish(form: &str, ws: Value) -> Request {
    let mut ws = ws;
    ws["type"] = "publish".into();
    Request::Publish { form: form.to_owned(), ws }
}

/// A batch of these updates, as NDJSON lines and as a `publish_batch` message.
fn batch(updates: &[Value]) -> Request {
    let ndjson = updates.iter().map(|u| format!("{u}\n")).collect();
    Request::Batch { ndjson, ws: json!({"type": "publish_batch", "updates": updates}) }
}

fn subscribe(query: &[(&'static str, &str)], ws: Value) -> Request {
    let mut ws = ws;
    ws["type"] = "subscribe".into();
    Request::Subscribe { query: query.iter().map(|(n, v)| (*n, (*v).to_owned())).collect(), ws }
}

fn cases() -> Vec<Case> {
    use Kind::*;
    let long_topic = "x".repeat(65);
    vec![
        Case::new("no topic", publish("data=x", json!({"data": "x"})), BadRequest),
        Case::new(
            "type mercure",
            publish("topic=t&type=mercure", json!({"topic": "t", "event": "mercure"})),
            BadRequest,
        ),
        Case::new(
            "control character in the id",
            publish("topic=t&id=a%0Ab", json!({"topic": "t", "id": "a\nb"})),
            BadRequest,
        ),
        Case::new("non-digit retry", publish("topic=t&retry=10s", json!({"topic": "t", "retry": "10s"})), BadRequest),
        Case::new(
            "topic over --max-field-bytes",
            publish(&format!("topic={long_topic}"), json!({"topic": long_topic})),
            TooLarge,
        ),
        Case::new(
            "more topics than --max-topics-per-publish",
            publish("topic=a&topic=b&topic=c&topic=d", json!({"topic": ["a", "b", "c", "d"]})),
            TooLarge,
        ),
        // The WebSocket is opened with a subscriber's token, which is no publisher's token.
        Case::new(
            "publish without a token",
            publish("topic=t&data=x", json!({"topic": "t", "data": "x"})),
            Unauthorized,
        )
        .args(SECURED)
        .tokens(Token::None, Token::Subscriber(&["*"])),
        Case::new(
            "a token that does not grant the topic",
            publish("topic=t&data=x", json!({"topic": "t", "data": "x"})),
            Forbidden,
        )
        .args(SECURED)
        .tokens(Token::Publisher(&["other"]), Token::Publisher(&["other"])),
        // The rate is counted per client address when the publisher has no token: both
        // transports come from 127.0.0.1 and share the budget spent first.
        Case {
            spend_rate: true,
            ..Case::new(
                "over --publish-rate",
                publish("topic=t&data=x", json!({"topic": "t", "data": "x"})),
                RateLimited,
            )
            .args(&["--publish-rate", "1/min"])
        },
        Case::new(
            "store failure while publishing",
            publish("topic=t&data=x", json!({"topic": "t", "data": "x"})),
            Unavailable,
        )
        .fault(Fault::Append),
        Case::new("a batch with one update without a topic", batch(&[json!({"topic": "t"}), json!({})]), BadRequest),
        Case::new("an empty batch", batch(&[]), BadRequest),
        Case::new(
            "a batch with an unknown field",
            batch(&[json!({"topic": "t"}), json!({"topic": "t", "dta": "typo"})]),
            BadRequest,
        ),
        Case::new(
            "a batch over --max-batch-updates",
            batch(&[json!({"topic": "t"}), json!({"topic": "t"}), json!({"topic": "t"}), json!({"topic": "t"})]),
            TooLarge,
        ),
        Case::new("a batch with a topic over --max-field-bytes", batch(&[json!({"topic": long_topic})]), TooLarge),
        Case::new(
            "a batch with one topic the token does not grant",
            batch(&[json!({"topic": "mine", "data": "x"}), json!({"topic": "other", "data": "x"})]),
            Forbidden,
        )
        .args(SECURED)
        .tokens(Token::Publisher(&["mine"]), Token::Publisher(&["mine"])),
        // Each update costs one publish of the rate: two fit the first minute, three do not.
        Case {
            spend_rate: true,
            ..Case::new(
                "a batch over what is left of --publish-rate",
                batch(&[json!({"topic": "t"}), json!({"topic": "t"})]),
                RateLimited,
            )
            .args(&["--publish-rate", "2/min"])
        },
        Case::new(
            "a batch larger than --publish-rate allows at all",
            batch(&[json!({"topic": "t"}), json!({"topic": "t"}), json!({"topic": "t"})]),
            TooLarge,
        )
        .args(&["--publish-rate", "2/min"]),
        Case::new(
            "store failure while publishing a batch",
            batch(&[json!({"topic": "t"}), json!({"topic": "u"})]),
            Unavailable,
        )
        .fault(Fault::Append),
        Case::new("subscribe with no matcher", subscribe(&[], json!({})), BadRequest),
        Case::new(
            "malformed match_urlpattern",
            subscribe(&[("match_urlpattern", "https://x/(")], json!({"match_urlpattern": "https://x/("})),
            BadRequest,
        ),
        Case::new(
            "more than --max-matchers",
            subscribe(&[("match", "a"), ("match", "b"), ("match", "c")], json!({"match": ["a", "b", "c"]})),
            BadRequest,
        ),
        // The WebSocket is opened with a publisher's token, which is no subscriber's token.
        Case::new("subscribe without a token", subscribe(&[("match", "t")], json!({"match": "t"})), Unauthorized)
            .args(SECURED)
            .tokens(Token::None, Token::Publisher(&["*"])),
        Case::new(
            "store failure while resolving the resume cursor",
            subscribe(
                &[("match", "t"), ("last_event_id", "not-in-memory")],
                json!({"match": "t", "last_event_id": "not-in-memory"}),
            ),
            Unavailable,
        )
        .fault(Fault::PositionOf),
    ]
}

#[derive(Debug, Clone, Copy)]
enum Transport {
    Http,
    WebSocket,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Http => "HTTP",
            Self::WebSocket => "WebSocket",
        })
    }
}

/// Tries the case's request over HTTP; returns the status, after checking the message.
async fn over_http(hub: &TestHub, case: &Case) -> Kind {
    let request = match &case.request {
        Request::Publish { form, .. } => hub
            .client
            .post(hub.hub_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.clone()),
        Request::Batch { ndjson, .. } => {
            hub.client.post(hub.hub_url()).header("content-type", "application/x-ndjson").body(ndjson.clone())
        }
        Request::Subscribe { query, .. } => {
            let params: Vec<(&str, &str)> = query.iter().map(|(n, v)| (*n, v.as_str())).collect();
            hub.client.get(hub.subscribe_url(&params))
        }
    };
    let request = match case.http_token.mint() {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    let response = request.send().await.expect("the request completes");
    let status = response.status().as_u16();
    let body = response.text().await.expect("a text body");
    assert!(body.len() > 1 && body.ends_with('\n'), "{}: over HTTP, a message saying why, got {body:?}", case.name);
    kind_of(status, |kind| kind.status()).unwrap_or_else(|| panic!("{}: over HTTP, status {status}: {body}", case.name))
}

/// Tries the case's request over a WebSocket; returns the error's kind, after checking the
/// message and its `ref`.
async fn over_websocket(hub: &TestHub, case: &Case) -> Kind {
    let mut ws = hub.ws_connect(case.ws_token.mint().as_deref()).await;
    let mut message = match &case.request {
        Request::Publish { ws, .. } | Request::Batch { ws, .. } | Request::Subscribe { ws, .. } => ws.clone(),
    };
    message["ref"] = case.name.into();
    ws_send(&mut ws, message).await;
    let answer = ws_next(&mut ws).await;
    assert_eq!(answer["type"], "error", "{}: over the WebSocket, {answer}", case.name);
    assert_eq!(answer["ref"], case.name, "{}: the answer carries the request's ref", case.name);
    assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{}: {answer}", case.name);
    let code = answer["code"].as_str().unwrap_or_default();
    kind_of(code, |kind| kind.code()).unwrap_or_else(|| panic!("{}: over the WebSocket, code {code:?}", case.name))
}

fn kind_of<T: PartialEq>(value: T, name: impl Fn(Kind) -> T) -> Option<Kind> {
    use Kind::*;
    [BadRequest, Unauthorized, Forbidden, TooLarge, RateLimited, Unavailable].into_iter().find(|k| name(*k) == value)
}

/// Publishes straight into the hub (no token, no rate), as a good publisher elsewhere would.
async fn good(hub: &TestHub, data: &str) {
    let update = Update { topics: vec!["good".into()], data: data.into(), ..Default::default() };
    hub.state.hub.publish(update).await.expect("a good publish is accepted");
}

async fn run(case: &Case) -> Vec<String> {
    let store = FaultyStore::new();
    let hub = TestHub::start_with_store(&[LIMITS, case.args].concat(), store.clone()).await;
    let read_all = format!("Bearer {}", sign(SUBSCRIBER_KEY, json!({"subscribe": ["*"]})));
    let mut watcher = hub.event_source(&["*"]).last_event_id("earliest").header("authorization", &read_all).unwrap();
    let mut expected = vec!["before".to_owned()];
    good(&hub, "before").await;
    if case.spend_rate {
        hub.publish("good", "spends the rate").await;
        expected.push("spends the rate".into());
    }
    let seen: Vec<_> = take(&mut watcher, expected.len()).await.into_iter().map(|e| e.data).collect();
    assert_eq!(seen, expected, "{}", case.name);

    let mut mismatches = Vec::new();
    for transport in [Transport::Http, Transport::WebSocket] {
        let published = hub.state.hub.stats().published;
        case.fault.set(&store, true);
        let kind = match transport {
            Transport::Http => over_http(&hub, case).await,
            Transport::WebSocket => over_websocket(&hub, case).await,
        };
        case.fault.set(&store, false);
        if kind != case.kind {
            mismatches.push(format!("{}: over {transport}, {kind:?} instead of {:?}", case.name, case.kind));
        }
        assert_eq!(hub.state.hub.stats().published, published, "{}: over {transport}, nothing published", case.name);
        // The next event the watcher sees is the next good one: nothing refused reached it, and
        // the hub still delivers.
        let next = format!("after {} over {transport}", case.name);
        good(&hub, &next).await;
        assert_eq!(take(&mut watcher, 1).await[0].data, next, "{}", case.name);
    }
    mismatches
}

#[tokio::test]
async fn both_transports_refuse_each_bad_request_with_the_same_kind() {
    let mut mismatches = Vec::new();
    for case in cases() {
        mismatches.extend(run(&case).await);
    }
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}
