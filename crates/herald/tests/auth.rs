//! End to end: JWT authorization and hostile input, against the built binary.
//!
//! One hub verifies publishers' tokens with an RSA public key (RS256) and subscribers' with an
//! HMAC secret (HS256). A table of hostile requests checks each exact status and challenge,
//! while a legitimate subscriber keeps receiving a steady flow of events throughout.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{take, TestHub};
use herald_client::EventSource;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const SUBSCRIBER_SECRET: &str = "subscriber-secret-for-tests";
const DETAIL: &str = "https://mercure.rocks/authorization-detail";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Writes an RSA key pair with openssl; returns the private key PEM.
fn rsa_pair(dir: &Path, name: &str) -> Vec<u8> {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let run = |args: &[&str]| {
        let status = Command::new("openssl").args(args).output().expect("openssl runs");
        assert!(status.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&status.stderr));
    };
    run(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private.to_str().unwrap()]);
    run(&["pkey", "-in", private.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()]);
    std::fs::read(private).unwrap()
}

fn sign(header: Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn grant(actions: &[&str], topics: &[&str]) -> Value {
    let topics: Vec<Value> = topics.iter().map(|t| json!({"match": t})).collect();
    json!({"exp": now() + 3600, "authorization_details": [{"type": DETAIL, "actions": actions, "topics": topics}]})
}

struct Keys {
    publisher: EncodingKey,
    other_rsa: EncodingKey,
    public_pem: Vec<u8>,
    subscriber: EncodingKey,
}

impl Keys {
    fn publish_token(&self, topics: &[&str]) -> String {
        sign(Header::new(Algorithm::RS256), &grant(&["publish"], topics), &self.publisher)
    }

    fn subscribe_token(&self, topics: &[&str]) -> String {
        sign(Header::new(Algorithm::HS256), &grant(&["subscribe"], topics), &self.subscriber)
    }
}

async fn secured_hub(extra: &[&str]) -> (TestHub, Keys, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let private = rsa_pair(dir.path(), "publisher");
    let other = rsa_pair(dir.path(), "other");
    let public_path = dir.path().join("publisher.pub.pem");
    let keys = Keys {
        publisher: EncodingKey::from_rsa_pem(&private).unwrap(),
        other_rsa: EncodingKey::from_rsa_pem(&other).unwrap(),
        public_pem: std::fs::read(&public_path).unwrap(),
        subscriber: EncodingKey::from_secret(SUBSCRIBER_SECRET.as_bytes()),
    };
    let mut args = vec![
        "--publisher-jwt-key-file",
        public_path.to_str().unwrap(),
        "--subscriber-jwt-key",
        SUBSCRIBER_SECRET,
        "--max-body-bytes",
        "2048",
        "--cors-origin",
        "https://app.example",
    ];
    args.extend_from_slice(extra);
    (TestHub::start(&args).await, keys, dir)
}

/// A raw publish: status, `WWW-Authenticate`, body.
async fn post(hub: &TestHub, headers: &[(&str, &str)], body: &str) -> (u16, Option<String>, String) {
    let mut request = hub
        .client
        .post(hub.hub_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), challenge, response.text().await.unwrap())
}

/// A hostile request: what it is, its headers and body, the status and challenge it must get.
type Case = (&'static str, Vec<(&'static str, String)>, String, u16, Option<&'static str>);

// 401 challenges point to the protected resource metadata, at the default public URL.
const CHALLENGE: &str = "Bearer realm=\"herald\", resource_metadata=\"http://localhost:8080/.well-known/oauth-protected-resource/.well-known/mercure\"";
const INVALID: &str = "Bearer realm=\"herald\", error=\"invalid_token\", resource_metadata=\"http://localhost:8080/.well-known/oauth-protected-resource/.well-known/mercure\"";
const SCOPE: &str = "Bearer realm=\"herald\", error=\"insufficient_scope\"";
const BAD_REQUEST: &str = "Bearer realm=\"herald\", error=\"invalid_request\"";

#[tokio::test]
async fn hostile_publishes_get_their_exact_answer_and_a_watcher_keeps_receiving() {
    let (hub, keys, _dir) = secured_hub(&[]).await;
    let watch_token = keys.subscribe_token(&["/watch"]);
    let mut watcher = hub
        .event_source(&["/watch"])
        .header("authorization", &format!("Bearer {watch_token}"))
        .unwrap()
        .last_event_id("earliest");
    let good = keys.publish_token(&["/watch", "/allowed/1"]);
    let bearer = |token: &str| format!("Bearer {token}");

    let expired = sign(
        Header::new(Algorithm::RS256),
        &json!({"exp": now() - 600, "mercure": {"publish": ["*"]}}),
        &keys.publisher,
    );
    let not_yet = sign(
        Header::new(Algorithm::RS256),
        &json!({"exp": now() + 3600, "nbf": now() + 600, "mercure": {"publish": ["*"]}}),
        &keys.publisher,
    );
    let foreign_signature = sign(Header::new(Algorithm::RS256), &grant(&["publish"], &["*"]), &keys.other_rsa);
    // `alg: none`, unsigned.
    let b64 = |v: &Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!("{}.{}.", b64(&json!({"alg": "none", "typ": "JWT"})), b64(&grant(&["publish"], &["*"])));
    // Algorithm confusion: HS256 "signed" with the RSA public key as the HMAC secret.
    let confused =
        sign(Header::new(Algorithm::HS256), &grant(&["publish"], &["*"]), &EncodingKey::from_secret(&keys.public_pem));
    // A subscriber's token (other key, other algorithm) used to publish.
    let subscriber_token = sign(Header::new(Algorithm::HS256), &grant(&["publish"], &["*"]), &keys.subscriber);
    let mut id_token_header = Header::new(Algorithm::RS256);
    id_token_header.typ = Some("id_token+jwt".into());
    let id_token = sign(id_token_header, &grant(&["publish"], &["*"]), &keys.publisher);
    let bad_details = sign(
        Header::new(Algorithm::RS256),
        &json!({"exp": now() + 60, "authorization_details": [{"type": DETAIL, "actions": ["publish"], "topics": [{"match": "*"}, {"match": "x", "match_type": "regex"}]}]}),
        &keys.publisher,
    );
    let big = format!("topic=/watch&data={}", "x".repeat(4096));
    let cookie = format!("mercureAuthorization={good}");

    let cases: Vec<Case> = vec![
        ("no token", vec![], "topic=/watch&data=x".into(), 401, Some(CHALLENGE)),
        (
            "bad signature",
            vec![("authorization", bearer(&foreign_signature))],
            "topic=/watch".into(),
            401,
            Some(INVALID),
        ),
        ("expired", vec![("authorization", bearer(&expired))], "topic=/watch".into(), 401, Some(INVALID)),
        ("not yet valid", vec![("authorization", bearer(&not_yet))], "topic=/watch".into(), 401, Some(INVALID)),
        ("alg none", vec![("authorization", bearer(&alg_none))], "topic=/watch".into(), 401, Some(INVALID)),
        ("key confusion", vec![("authorization", bearer(&confused))], "topic=/watch".into(), 401, Some(INVALID)),
        (
            "other role's key",
            vec![("authorization", bearer(&subscriber_token))],
            "topic=/watch".into(),
            401,
            Some(INVALID),
        ),
        ("not an access token", vec![("authorization", bearer(&id_token))], "topic=/watch".into(), 401, Some(INVALID)),
        (
            "bad authorization_details",
            vec![("authorization", bearer(&bad_details))],
            "topic=/watch".into(),
            401,
            Some(INVALID),
        ),
        ("garbage token", vec![("authorization", bearer("a.b.c"))], "topic=/watch".into(), 401, Some(INVALID)),
        (
            "not bearer",
            vec![("authorization", "Basic dXNlcjpwYXNz".into())],
            "topic=/watch".into(),
            400,
            Some(BAD_REQUEST),
        ),
        (
            "topic outside the claim",
            vec![("authorization", bearer(&good))],
            "topic=/elsewhere".into(),
            403,
            Some(SCOPE),
        ),
        (
            "one topic of several outside",
            vec![("authorization", bearer(&good))],
            "topic=/allowed/1&topic=/elsewhere".into(),
            403,
            Some(SCOPE),
        ),
        ("forged type=mercure", vec![("authorization", bearer(&good))], "topic=/watch&type=mercure".into(), 400, None),
        (
            "reserved topic",
            vec![("authorization", bearer(&keys.publish_token(&["*"])))],
            "topic=/.well-known/mercure/subscriptions/x".into(),
            400,
            None,
        ),
        ("CR/LF in id", vec![("authorization", bearer(&good))], "topic=/watch&id=a%0D%0Adata:%20x".into(), 400, None),
        ("CR/LF in type", vec![("authorization", bearer(&good))], "topic=/watch&type=a%0Ab".into(), 400, None),
        ("oversize body", vec![("authorization", bearer(&good))], big, 413, None),
        (
            "cookie from a foreign origin",
            vec![("cookie", cookie.clone()), ("origin", "https://evil.example".into())],
            "topic=/watch".into(),
            403,
            None,
        ),
        ("cookie without origin", vec![("cookie", cookie.clone())], "topic=/watch".into(), 403, None),
    ];
    // The watcher reads live while the hostile requests come in.
    let expected_count = cases.len() + 1;
    let collector = tokio::spawn(async move { take(&mut watcher, expected_count).await });
    for (i, (what, headers, body, status, challenge)) in cases.iter().enumerate() {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let (got, got_challenge, message) = post(&hub, &headers, body).await;
        assert_eq!(got, *status, "{what}: {message}");
        assert_eq!(got_challenge.as_deref(), *challenge, "{what}");
        assert!(!message.trim().is_empty() && message.len() < 300, "{what}: short message, got {message:?}");
        // The watcher still receives, after every hostile request.
        let (ok, _, id) =
            post(&hub, &[("authorization", &bearer(&good))], &format!("topic=/watch&data=after-{i}")).await;
        assert_eq!(ok, 200, "{what}: legitimate publish refused: {id}");
    }
    let (ok, _, _) =
        post(&hub, &[("cookie", &cookie), ("origin", "https://app.example")], "topic=/watch&data=cookie").await;
    assert_eq!(ok, 200, "cookie from an allowed origin");
    let received = collector.await.unwrap();
    let data: Vec<String> = received.iter().map(|e| e.data.clone()).collect();
    let mut expected: Vec<String> = (0..cases.len()).map(|i| format!("after-{i}")).collect();
    expected.push("cookie".into());
    assert_eq!(data, expected, "nothing hostile got through, nothing legitimate was lost");
}

#[tokio::test]
async fn subscribers_need_a_valid_token_unless_anonymous_is_allowed() {
    let (hub, keys, _dir) = secured_hub(&[]).await;
    let get = |auth: Option<String>| {
        let mut request = hub.client.get(hub.subscribe_url(&[("match", "/t")]));
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let none = get(None).await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(none.headers()["www-authenticate"], CHALLENGE);
    // A publisher's token is signed with the other role's key.
    let wrong_role = get(Some(format!("Bearer {}", keys.publish_token(&["*"])))).await.unwrap();
    assert_eq!(wrong_role.status(), 401);
    assert_eq!(wrong_role.headers()["www-authenticate"], INVALID);
    let ok = get(Some(format!("Bearer {}", keys.subscribe_token(&["/nothing"])))).await.unwrap();
    assert_eq!(ok.status(), 200);
    // Through the cookie too, and over long-polling and WebSocket alike.
    let cookie = hub
        .client
        .get(hub.subscribe_url(&[("match", "/t"), ("transport", "poll")]))
        .header("cookie", format!("other=1; mercureAuthorization={}", keys.subscribe_token(&["/t"])))
        .send()
        .await
        .unwrap();
    assert_eq!(cookie.status(), 200);
    let poll = hub.client.get(hub.subscribe_url(&[("match", "/t"), ("transport", "poll")])).send().await.unwrap();
    assert_eq!(poll.status(), 401);

    let (anonymous_hub, _keys, _dir2) = secured_hub(&["--anonymous"]).await;
    let anonymous = anonymous_hub.client.get(anonymous_hub.subscribe_url(&[("match", "/t")])).send().await.unwrap();
    assert_eq!(anonymous.status(), 200);
}

#[tokio::test]
async fn private_updates_reach_only_authorized_subscribers_live_and_on_replay() {
    let (hub, keys, _dir) = secured_hub(&["--anonymous"]).await;
    let publisher = keys.publish_token(&["*"]);
    let publish = |topics: &[&str], data: &str, private: bool| {
        let mut body = url::form_urlencoded::Serializer::new(String::new());
        for t in topics {
            body.append_pair("topic", t);
        }
        body.append_pair("data", data);
        if private {
            body.append_pair("private", "on");
        }
        let body = body.finish();
        let auth = format!("Bearer {publisher}");
        let hub = &hub;
        async move {
            let (status, _, text) = post(hub, &[("authorization", &auth)], &body).await;
            assert_eq!(status, 200, "{text}");
            text
        }
    };
    // Routing by template, rights for /books/1 and /users/42/* via the alternate topic.
    let rights = sign(
        Header::new(Algorithm::HS256),
        &json!({"exp": now() + 3600, "authorization_details": [{"type": DETAIL, "actions": ["subscribe"], "topics": [
            {"match": "/books/1"}, {"match": "/users/42/*", "match_type": "urlpattern"}]}]}),
        &keys.subscriber,
    );
    let legacy =
        sign(Header::new(Algorithm::HS256), &json!({"mercure": {"subscribe": ["/books/{id}"]}}), &keys.subscriber);
    let template = [("topic", "/books/{id}")];
    let authorized = |token: &str| {
        EventSource::new(hub.subscribe_url(&template))
            .header("authorization", &format!("Bearer {token}"))
            .unwrap()
            .last_event_id("earliest")
    };
    let mut with_rights = authorized(&rights);
    let mut with_legacy = authorized(&legacy);
    let mut anonymous = EventSource::new(hub.subscribe_url(&template)).last_event_id("earliest");
    let mut wrong = authorized(&keys.subscribe_token(&["/books/3"]));

    publish(&["/books/1"], "private 1", true).await;
    publish(&["/books/2", "/users/42/books/2"], "private 2 via alternate", true).await;
    publish(&["/books/2"], "private 2", true).await;
    publish(&["/books/9"], "public", false).await;

    let got = |events: Vec<herald_client::Event>| events.into_iter().map(|e| e.data).collect::<Vec<_>>();
    assert_eq!(got(take(&mut with_rights, 3).await), ["private 1", "private 2 via alternate", "public"]);
    assert_eq!(got(take(&mut with_legacy, 4).await), ["private 1", "private 2 via alternate", "private 2", "public"]);
    assert_eq!(got(take(&mut anonymous, 1).await), ["public"]);
    assert_eq!(got(take(&mut wrong, 1).await), ["public"]);

    // Replay: a late subscriber without rights gets only the public update from history, one
    // with rights gets what its token allows.
    let mut late_anonymous = EventSource::new(hub.subscribe_url(&template)).last_event_id("earliest");
    let mut late_authorized = authorized(&rights);
    publish(&["/books/9"], "marker", false).await;
    assert_eq!(got(take(&mut late_anonymous, 2).await), ["public", "marker"]);
    assert_eq!(got(take(&mut late_authorized, 4).await), ["private 1", "private 2 via alternate", "public", "marker"]);

    // Long-polling applies the same rights.
    let batch: Value = hub
        .client
        .get(hub.subscribe_url(&[("topic", "/books/{id}"), ("transport", "poll"), ("last_event_id", "earliest")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data: Vec<&str> = batch["events"].as_array().unwrap().iter().map(|e| e["data"].as_str().unwrap()).collect();
    assert_eq!(data, ["public", "marker"]);
}

#[tokio::test]
async fn herald_token_mints_tokens_the_hub_accepts() {
    let hub = TestHub::start(&["--jwt-key", "shared-secret", "--anonymous"]).await;
    let mint = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_herald")).arg("token").args(args).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    for token in [
        mint(&["--key", "shared-secret", "--publish", "/a"]),
        mint(&["--key", "shared-secret", "--publish", "pattern:/a{/:rest}*", "--ttl", "5m"]),
        mint(&["--key", "shared-secret", "--publish", "/{x}", "--legacy"]),
    ] {
        let (status, _, body) = post(&hub, &[("authorization", &format!("Bearer {token}"))], "topic=/a").await;
        assert_eq!(status, 200, "{token}: {body}");
    }
    let wrong_key = mint(&["--key", "not-the-secret", "--publish", "*"]);
    assert_eq!(post(&hub, &[("authorization", &format!("Bearer {wrong_key}"))], "topic=/a").await.0, 401);
    let output = Command::new(env!("CARGO_BIN_EXE_herald")).args(["token", "--key", "k"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--publish"));
}

#[tokio::test]
async fn hub_refuses_to_start_with_an_unusable_key() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.pem");
    std::fs::write(&bad, "-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n").unwrap();
    let data = tempfile::tempdir().unwrap();
    let message = TestHub::try_start_in(data.path(), &["--no-demo", "--jwt-key-file", bad.to_str().unwrap()])
        .await
        .err()
        .expect("refused");
    assert!(message.contains("JWT key"), "{message}");
    let message = TestHub::try_start_in(data.path(), &["--no-demo", "--jwt-key", "s", "--jwt-alg", "RS256"])
        .await
        .err()
        .expect("refused");
    assert!(message.contains("PEM"), "{message}");
}

#[tokio::test]
async fn websocket_upgrades_need_a_token_for_one_of_the_roles() {
    let (hub, keys, _dir) = secured_hub(&[]).await;
    let upgrade = |auth: Option<String>| {
        let mut request = hub
            .client
            .get(hub.base.join("/ws").unwrap())
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==");
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        request.send()
    };
    let refused = upgrade(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["www-authenticate"], CHALLENGE);
    let invalid = upgrade(Some("Bearer a.b.c".into())).await.unwrap();
    assert_eq!(invalid.status(), 401);
    for token in [keys.subscribe_token(&["/t"]), keys.publish_token(&["/t"])] {
        let accepted = upgrade(Some(format!("Bearer {token}"))).await.unwrap();
        assert_eq!(accepted.status(), 101);
    }
}

#[tokio::test]
async fn an_event_stream_ends_when_its_token_expires() {
    let (hub, keys, _dir) = secured_hub(&["--heartbeat", "200ms"]).await;
    let claims = json!({"exp": now() + 2, "mercure": {"subscribe": ["/t"]}});
    let token = sign(Header::new(Algorithm::HS256), &claims, &keys.subscriber);
    let mut response = hub
        .client
        .get(hub.subscribe_url(&[("match", "/t")]))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Heartbeats flow, then the stream ends cleanly: the client reconnects with a fresh token.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut chunks = 0;
        while let Ok(Some(_)) = response.chunk().await {
            chunks += 1;
        }
        chunks
    })
    .await
    .expect("the stream ends at the token's expiry");
    assert!(ended >= 2, "the stream was open until then ({ended} chunks)");
}

#[tokio::test]
async fn refusals_are_counted_in_the_metrics() {
    let (hub, keys, _dir) = secured_hub(&[]).await;
    assert_eq!(post(&hub, &[], "topic=/t").await.0, 401);
    assert_eq!(post(&hub, &[("authorization", "Bearer a.b.c")], "topic=/t").await.0, 401);
    let token = keys.publish_token(&["/t"]);
    let big = format!("topic=/t&data={}", "x".repeat(4096));
    assert_eq!(post(&hub, &[("authorization", &format!("Bearer {token}"))], &big).await.0, 413);
    let response = hub.client.get(hub.base.join("/metrics").unwrap()).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for line in [
        "herald_auth_failures_total{reason=\"missing_token\"} 1",
        "herald_auth_failures_total{reason=\"invalid_token\"} 1",
        "herald_limit_rejections_total{limit=\"body_size\"} 1",
        "herald_events_published_total 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
    }
}

#[tokio::test]
async fn publishing_too_fast_is_refused_per_publisher() {
    let hub = TestHub::start(&["--jwt-key", "rate-secret", "--anonymous", "--publish-rate", "3/min"]).await;
    let key = EncodingKey::from_secret(b"rate-secret");
    let token = |subject: &str| {
        let mut claims = grant(&["publish"], &["*"]);
        claims["sub"] = json!(subject);
        format!("Bearer {}", sign(Header::new(Algorithm::HS256), &claims, &key))
    };
    let (alice, bob) = (token("alice"), token("bob"));
    for i in 0..3 {
        let (status, _, body) = post(&hub, &[("authorization", &alice)], &format!("topic=/r&data={i}")).await;
        assert_eq!(status, 200, "{body}");
    }
    let response = hub
        .client
        .post(hub.hub_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", &alice)
        .body("topic=/r&data=too-many")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "Retry-After: {retry_after}");
    assert_eq!(post(&hub, &[("authorization", &bob)], "topic=/r&data=bob").await.0, 200, "other publishers unaffected");
    // Without a subject, the client's address is the publisher: it shares one bucket.
    let anonymous_token = format!("Bearer {}", sign(Header::new(Algorithm::HS256), &grant(&["publish"], &["*"]), &key));
    let statuses: Vec<u16> = {
        let mut statuses = Vec::new();
        for _ in 0..4 {
            statuses.push(post(&hub, &[("authorization", &anonymous_token)], "topic=/r").await.0);
        }
        statuses
    };
    assert_eq!(statuses, [200, 200, 200, 429]);
    let metrics = hub.metrics().await;
    assert!(metrics.lines().any(|l| l == "herald_limit_rejections_total{limit=\"publish_rate\"} 2"), "{metrics}");
}

#[tokio::test]
async fn es256_keys_verify_tokens_and_refuse_other_algorithms() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("ec.pem");
    let public = dir.path().join("ec.pub.pem");
    for args in [
        vec!["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", private.to_str().unwrap()],
        vec!["pkey", "-in", private.to_str().unwrap(), "-pubout", "-out", public.to_str().unwrap()],
    ] {
        let output = Command::new("openssl").args(&args).output().expect("openssl runs");
        assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    // openssl writes SEC1 or PKCS#8; the signing side reads PKCS#8.
    let pkcs8 = Command::new("openssl").args(["pkcs8", "-topk8", "-nocrypt", "-in"]).arg(&private).output().unwrap();
    assert!(pkcs8.status.success());
    let key = EncodingKey::from_ec_pem(&pkcs8.stdout).unwrap();
    let hub = TestHub::start(&["--jwt-key-file", public.to_str().unwrap(), "--anonymous"]).await;
    let es256 = sign(Header::new(Algorithm::ES256), &grant(&["publish"], &["/e"]), &key);
    assert_eq!(post(&hub, &[("authorization", &format!("Bearer {es256}"))], "topic=/e").await.0, 200);
    // The same claims under HS256 with the public key as a secret: algorithm confusion, refused.
    let pem = std::fs::read(&public).unwrap();
    let hs256 = sign(Header::new(Algorithm::HS256), &grant(&["publish"], &["/e"]), &EncodingKey::from_secret(&pem));
    let (status, challenge, _) = post(&hub, &[("authorization", &format!("Bearer {hs256}"))], "topic=/e").await;
    assert_eq!((status, challenge.as_deref()), (401, Some(INVALID)));
}
