//! End to end: keys from a JWK Set (`--jwt-jwks-url`) and the protected resource metadata, against
//! the built binary.
//!
//! Each test serves its JWK Set itself, on a loopback port, from a document it can change (or
//! replace by an error, or take away) while the hub runs, and counts the hub's fetches. Keys are
//! made with openssl: RSA (RS256) and EC P-256 (ES256).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{take, within, TestHub};
use herald_client::EventSource;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

const DETAIL: &str = "https://mercure.rocks/authorization-detail";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/.well-known/mercure";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl").args(args).output().expect("openssl runs");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

/// A signing key and its public JWK.
struct Key {
    signing: EncodingKey,
    algorithm: Algorithm,
    jwk: Value,
}

impl Key {
    /// A new RSA key, published under `kid`.
    fn rsa(dir: &Path, kid: &str) -> Self {
        let private = dir.join(format!("{kid}.pem"));
        let private = private.to_str().unwrap();
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", private]);
        let modulus = String::from_utf8(openssl(&["rsa", "-in", private, "-noout", "-modulus"])).unwrap();
        let hex = modulus.trim().strip_prefix("Modulus=").expect("openssl prints the modulus");
        let bytes: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        Self {
            signing: EncodingKey::from_rsa_pem(&std::fs::read(private).unwrap()).unwrap(),
            algorithm: Algorithm::RS256,
            jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "n": URL_SAFE_NO_PAD.encode(bytes), "e": "AQAB"}),
        }
    }

    /// A new EC P-256 key, published under `kid`.
    fn ec(dir: &Path, kid: &str) -> Self {
        let private = dir.join(format!("{kid}.pem"));
        let private = private.to_str().unwrap();
        openssl(&["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", private]);
        // The public key's DER ends with the uncompressed point: 0x04, x, y.
        let der = openssl(&["pkey", "-in", private, "-pubout", "-outform", "DER"]);
        let point = &der[der.len() - 64..];
        Self {
            signing: EncodingKey::from_ec_pem(&std::fs::read(private).unwrap()).unwrap(),
            algorithm: Algorithm::ES256,
            jwk: json!({"kty": "EC", "crv": "P-256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[..32]), "y": URL_SAFE_NO_PAD.encode(&point[32..])}),
        }
    }

    /// A token granting `actions` on every topic, naming this key by `kid` (or not).
    fn token(&self, actions: &[&str], with_kid: bool) -> String {
        let mut header = Header::new(self.algorithm);
        if with_kid {
            header.kid = self.jwk["kid"].as_str().map(str::to_owned);
        }
        let claims = json!({"exp": now() + 3600,
            "authorization_details": [{"type": DETAIL, "actions": actions, "topics": [{"match": "*"}]}]});
        jsonwebtoken::encode(&header, &claims, &self.signing).unwrap()
    }
}

fn set(keys: &[&Key]) -> Value {
    json!({"keys": keys.iter().map(|key| key.jwk.clone()).collect::<Vec<_>>()})
}

/// What the JWK Set server answers.
enum Answer {
    Document(Value),
    Status(u16),
}

/// A JWK Set served over HTTP/1.1 on a loopback port.
struct JwksServer {
    url: Url,
    answer: Arc<Mutex<Answer>>,
    fetches: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl JwksServer {
    async fn start(document: Value) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/jwks.json", listener.local_addr().unwrap())).unwrap();
        let answer = Arc::new(Mutex::new(Answer::Document(document)));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (served, counted) = (answer.clone(), fetches.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (served, counted) = (served.clone(), counted.clone());
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let (status, body) = match &*served.lock().unwrap() {
                        Answer::Document(document) => (200, document.to_string()),
                        Answer::Status(status) => (*status, "unavailable".to_owned()),
                    };
                    counted.fetch_add(1, Ordering::SeqCst);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/jwk-set+json\r\ncontent-length: {}\r\n\
                         connection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self { url, answer, fetches, task }
    }

    fn serve(&self, answer: Answer) {
        *self.answer.lock().unwrap() = answer;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Stops answering: connections are refused from now on.
    async fn stop(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A publish of `data` to `topic` with `token`: status, `WWW-Authenticate`, body.
async fn publish(hub: &TestHub, token: &str, topic: &str, data: &str, private: bool) -> (u16, Option<String>, String) {
    let mut body = url::form_urlencoded::Serializer::new(String::new());
    body.append_pair("topic", topic).append_pair("data", data);
    if private {
        body.append_pair("private", "on");
    }
    let response = hub
        .client
        .post(hub.hub_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .header("authorization", format!("Bearer {token}"))
        .body(body.finish())
        .send()
        .await
        .unwrap();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), challenge, response.text().await.unwrap())
}

async fn publishes(hub: &TestHub, token: &str) -> bool {
    let (status, _, text) = publish(hub, token, "/t", "x", false).await;
    assert!(status == 200 || status == 401, "{status}: {text}");
    status == 200
}

async fn hub_with(url: &Url, extra: &[&str]) -> TestHub {
    TestHub::start(&[&["--jwt-jwks-url", url.as_str()], extra].concat()).await
}

#[tokio::test]
async fn tokens_signed_with_keys_of_the_set_publish_and_read_private_updates() {
    let dir = tempfile::tempdir().unwrap();
    let (rsa, other_rsa, ec) =
        (Key::rsa(dir.path(), "rsa-1"), Key::rsa(dir.path(), "rsa-2"), Key::ec(dir.path(), "ec-1"));
    let jwks = JwksServer::start(set(&[&rsa, &other_rsa, &ec])).await;
    let hub = hub_with(&jwks.url, &["--anonymous"]).await;
    assert_eq!(jwks.fetches(), 1, "fetched once at start");

    let (status, _, private_id) = publish(&hub, &ec.token(&["publish"], true), "/secret", "private", true).await;
    assert_eq!(status, 200, "{private_id}");
    let (status, _, text) = publish(&hub, &rsa.token(&["publish"], true), "/secret", "public", false).await;
    assert_eq!(status, 200, "{text}");

    // A subscriber with rights (RSA key, by kid) reads the private update on replay, and new ones
    // live; one without a token reads the public ones only.
    let subscriber = |token: Option<String>| {
        let source = hub.event_source(&["/secret"]).last_event_id("earliest");
        match token {
            Some(token) => source.header("authorization", &format!("Bearer {token}")).unwrap(),
            None => source,
        }
    };
    let mut authorized = subscriber(Some(other_rsa.token(&["subscribe"], true)));
    let mut anonymous = subscriber(None);
    let replayed = take(&mut authorized, 2).await;
    assert_eq!(replayed.iter().map(|e| e.data.as_str()).collect::<Vec<_>>(), ["private", "public"]);
    assert_eq!(replayed[0].id, private_id.trim());
    assert_eq!(take(&mut anonymous, 1).await[0].data, "public");
    let (status, _, _) = publish(&hub, &ec.token(&["publish"], true), "/secret", "live", true).await;
    assert_eq!(status, 200);
    assert_eq!(take(&mut authorized, 1).await[0].data, "live");

    // Without kid: the one ES256 key is taken; with two RSA keys, an RS256 token must name one.
    assert!(publishes(&hub, &ec.token(&["publish"], false)).await);
    let (status, challenge, message) = publish(&hub, &rsa.token(&["publish"], false), "/t", "x", false).await;
    assert_eq!(status, 401);
    assert!(message.contains("no kid") && message.contains("2 RS256 keys"), "{message}");
    assert!(challenge.unwrap().contains("error=\"invalid_token\""));
    // A subscribe-only token does not publish; a token of another key with a known kid fails.
    let (status, _, _) = publish(&hub, &rsa.token(&["subscribe"], true), "/t", "x", false).await;
    assert_eq!(status, 403);
    let mut forged = Key::rsa(dir.path(), "forged");
    forged.jwk["kid"] = json!("rsa-1");
    assert!(!publishes(&hub, &forged.token(&["publish"], true)).await);
}

#[tokio::test]
async fn an_unknown_kid_is_refused_and_refreshes_the_set_at_most_once_per_interval() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::rsa(dir.path(), "k1");
    let jwks = JwksServer::start(set(&[&key])).await;
    let hub = hub_with(&jwks.url, &["--public-url", "https://push.example/"]).await;
    let mut unknown = Key::rsa(dir.path(), "unknown");
    unknown.jwk["kid"] = json!("not-in-the-set");

    let (status, challenge, message) = publish(&hub, &unknown.token(&["publish"], true), "/t", "x", false).await;
    assert_eq!(status, 401, "{message}");
    assert!(message.contains("no key with the token's kid \"not-in-the-set\""), "{message}");
    assert_eq!(
        challenge.as_deref(),
        Some(
            "Bearer realm=\"herald\", error=\"invalid_token\", \
             resource_metadata=\"https://push.example/.well-known/oauth-protected-resource/.well-known/mercure\""
        )
    );
    // The unknown kid had the set fetched again at once (answered before the hub answered)...
    assert_eq!(jwks.fetches(), 2);
    // ...but more unknown kids within 10s do not.
    for _ in 0..5 {
        assert!(!publishes(&hub, &unknown.token(&["publish"], true)).await);
    }
    assert_eq!(jwks.fetches(), 2);
    assert!(publishes(&hub, &key.token(&["publish"], true)).await);
}

#[tokio::test]
async fn a_rotated_key_is_taken_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Key::rsa(dir.path(), "2026-01"), Key::ec(dir.path(), "2026-02"));
    let jwks = JwksServer::start(set(&[&old])).await;
    let hub = hub_with(&jwks.url, &[]).await;
    assert!(publishes(&hub, &old.token(&["publish"], true)).await);

    // The issuer rotates: the set now holds the new key only. The first token naming it has the
    // hub fetch the set, and is accepted; the old key is gone.
    jwks.serve(Answer::Document(set(&[&new])));
    assert!(publishes(&hub, &new.token(&["publish"], true)).await);
    assert_eq!(jwks.fetches(), 2);
    assert!(!publishes(&hub, &old.token(&["publish"], true)).await);
    // A subscriber with the new key reads private updates.
    let (status, _, _) = publish(&hub, &new.token(&["publish"], true), "/p", "private", true).await;
    assert_eq!(status, 200);
    let mut source = hub
        .event_source(&["/p"])
        .last_event_id("earliest")
        .header("authorization", &format!("Bearer {}", new.token(&["subscribe"], true)))
        .unwrap();
    assert_eq!(take(&mut source, 1).await[0].data, "private");
}

#[tokio::test]
async fn the_hub_does_not_start_without_its_key_set() {
    let dir = tempfile::tempdir().unwrap();
    let start = |url: String| async move {
        let data = tempfile::tempdir().unwrap();
        match TestHub::try_start_in(data.path(), &["--jwt-jwks-url", &url]).await {
            Ok(_) => panic!("the hub started with the JWK Set at {url}"),
            Err(stderr) => stderr,
        }
    };
    // Nothing listening.
    let free = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap();
    let url = format!("http://{free}/keys.json");
    let stderr = start(url.clone()).await;
    assert!(stderr.contains(&url) && stderr.contains("cannot fetch"), "{stderr}");

    // An error status; not a JWK Set; a set without a usable key (a secret, a key for encryption).
    let jwks = JwksServer::start(json!({})).await;
    jwks.serve(Answer::Status(503));
    let stderr = start(jwks.url.to_string()).await;
    assert!(stderr.contains(jwks.url.as_str()) && stderr.contains("503"), "{stderr}");
    jwks.serve(Answer::Document(json!({"not": "keys"})));
    assert!(start(jwks.url.to_string()).await.contains("not a JWK Set"));
    let mut encryption = Key::rsa(dir.path(), "enc").jwk;
    encryption["use"] = json!("enc");
    jwks.serve(Answer::Document(json!({"keys": [{"kty": "oct", "k": "c2VjcmV0"}, encryption]})));
    let stderr = start(jwks.url.to_string()).await;
    assert!(stderr.contains("no usable signature key"), "{stderr}");
}

#[tokio::test]
async fn keys_stay_when_the_set_becomes_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::rsa(dir.path(), "k1");
    let jwks = JwksServer::start(set(&[&key])).await;
    let hub = hub_with(&jwks.url, &["--jwt-jwks-refresh", "200ms"]).await;
    // Refreshed in the background: wait for two periodic fetches.
    within(async {
        while jwks.fetches() < 3 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    // The server fails: the periodic refreshes fail, the key stays.
    jwks.serve(Answer::Status(500));
    let failing = jwks.fetches();
    within(async {
        while jwks.fetches() < failing + 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(publishes(&hub, &key.token(&["publish"], true)).await);
    // The server goes away: an unknown kid's refresh fails too, the key stays.
    jwks.stop().await;
    let mut unknown = Key::rsa(dir.path(), "k2");
    unknown.jwk["kid"] = json!("k2");
    assert!(!publishes(&hub, &unknown.token(&["publish"], true)).await);
    assert!(publishes(&hub, &key.token(&["publish"], true)).await);
}

#[tokio::test]
async fn the_protected_resource_metadata_describes_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let key = Key::rsa(dir.path(), "k1");
    let jwks = JwksServer::start(set(&[&key])).await;
    let hub = hub_with(&jwks.url, &["--public-url", "https://push.example/app/"]).await;
    let get = |path: &str| {
        let url = hub.base.join(path).unwrap();
        let client = hub.client.clone();
        async move {
            let response = client.get(url).send().await.unwrap();
            assert_eq!(response.status(), 200);
            assert_eq!(response.headers()["content-type"], "application/json");
            response.json::<Value>().await.unwrap()
        }
    };
    let document = get(METADATA_PATH).await;
    assert_eq!(
        document,
        json!({
            "resource": "https://push.example/.well-known/mercure",
            "jwks_uri": jwks.url.as_str(),
            "bearer_methods_supported": ["header"],
            "mercure_cookie": "mercureAuthorization",
        })
    );
    assert_eq!(get("/.well-known/oauth-protected-resource").await, document);

    // A request without a token is pointed to it.
    let response = hub
        .client
        .post(hub.hub_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("topic=/t")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"herald\", resource_metadata=\"https://push.example/.well-known/oauth-protected-resource/.well-known/mercure\""
    );
}

#[tokio::test]
async fn authorization_servers_are_advertised_and_bind_the_issuer() {
    let secret = "issuer-secret-for-tests";
    let hub = TestHub::start(&[
        "--jwt-key",
        secret,
        "--jwt-audience",
        "urn:herald:test",
        "--authorization-server",
        "https://auth.example",
        "--authorization-server",
        "https://other-auth.example/realm",
    ])
    .await;
    let document: Value =
        hub.client.get(hub.base.join(METADATA_PATH).unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        document,
        json!({
            "resource": "urn:herald:test",
            "authorization_servers": ["https://auth.example", "https://other-auth.example/realm"],
            "bearer_methods_supported": ["header"],
            "mercure_cookie": "mercureAuthorization",
        })
    );
    let token = |iss: Option<&str>| {
        let mut claims = json!({"exp": now() + 60, "aud": "urn:herald:test", "mercure": {"publish": ["*"]}});
        if let Some(iss) = iss {
            claims["iss"] = json!(iss);
        }
        jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
    };
    assert!(publishes(&hub, &token(Some("https://other-auth.example/realm"))).await);
    assert!(publishes(&hub, &token(Some("https://auth.example"))).await);
    assert!(!publishes(&hub, &token(Some("https://auth.example/"))).await);
    assert!(!publishes(&hub, &token(None)).await);
}

#[tokio::test]
async fn a_key_and_a_key_set_for_one_role_are_refused() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("herald.toml");
    std::fs::write(&config, "jwt_key = \"s\"\njwt_jwks_url = \"http://127.0.0.1:9/keys\"\n").unwrap();
    let stderr = TestHub::try_start_in(data.path(), &["--config", config.to_str().unwrap()]).await.err().unwrap();
    assert!(stderr.contains("--jwt-key (or --jwt-key-file) or --jwt-jwks-url, not both"), "{stderr}");
    // Role keys are separate: a publisher key and a subscriber key set go together.
    let jwks = JwksServer::start(json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let key = Key::ec(dir.path(), "sub");
    jwks.serve(Answer::Document(set(&[&key])));
    let hub =
        TestHub::start(&["--publisher-jwt-key", "pub-secret", "--subscriber-jwt-jwks-url", jwks.url.as_str()]).await;
    let document: Value =
        hub.client.get(hub.base.join(METADATA_PATH).unwrap()).send().await.unwrap().json().await.unwrap();
    assert!(document.get("jwks_uri").is_none(), "{document}");
    let mut source = EventSource::new(hub.subscribe_url(&[("match", "/s")]))
        .header("authorization", &format!("Bearer {}", key.token(&["subscribe"], true)))
        .unwrap()
        .last_event_id("earliest");
    let publisher = jsonwebtoken::encode(
        &Header::default(),
        &json!({"mercure": {"publish": ["*"]}}),
        &EncodingKey::from_secret(b"pub-secret"),
    )
    .unwrap();
    let (status, _, _) = publish(&hub, &publisher, "/s", "to-the-jwks-subscriber", true).await;
    assert_eq!(status, 200);
    assert_eq!(take(&mut source, 1).await[0].data, "to-the-jwks-subscriber");
}

#[tokio::test]
async fn a_websocket_with_a_new_key_is_accepted_at_its_upgrade() {
    let dir = tempfile::tempdir().unwrap();
    let (old, new) = (Key::rsa(dir.path(), "old"), Key::ec(dir.path(), "new"));
    let jwks = JwksServer::start(set(&[&old])).await;
    let hub = hub_with(&jwks.url, &[]).await;
    jwks.serve(Answer::Document(set(&[&old, &new])));
    // The upgrade names the new key: the set is fetched before the rights are read.
    let url = Url::parse(&hub.ws_url()).unwrap();
    let socket = within(
        herald_client::WebSocket::builder(url).token(&new.token(&["publish", "subscribe"], true)).unwrap().connect(),
    )
    .await
    .expect("the upgrade is accepted");
    assert_eq!(jwks.fetches(), 2);
    within(socket.subscribe(herald_client::Subscribe::exact("/ws").after("earliest"))).await.unwrap();
    let update = herald_client::Publication {
        topics: vec!["/ws".into()],
        data: "over the socket".into(),
        private: true,
        ..Default::default()
    };
    within(socket.publish(&update)).await.unwrap();
    let mut socket = socket;
    let event = within(socket.next()).await.expect("an event").unwrap();
    assert_eq!(event.data, "over the socket");
    // The old key still verifies: it is still in the set.
    assert!(publishes(&hub, &old.token(&["publish"], true)).await);
}
