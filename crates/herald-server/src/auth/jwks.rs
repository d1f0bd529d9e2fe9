//! Verification keys from a JSON Web Key Set (RFC 7517), as `--jwt-jwks-url` names it.
//!
//! The set is fetched when the hub starts (the hub refuses to start when it cannot fetch or read
//! it, or when it holds no usable key), then again every `--jwt-jwks-refresh`, in the background.
//! A token that names (`kid`) a key the set lacks asks for a refresh at once, so keys rotated by
//! the issuer work without a restart; those refreshes are at most one per
//! [`UNKNOWN_KID_INTERVAL`], so tokens with made-up key ids cannot flood the key server. A
//! failed refresh keeps the keys already loaded and logs a warning.
//!
//! Each key accepts exactly one algorithm: its `alg` member, else the usual one for its kind
//! (RS256 for RSA, ES256 or ES384 for the P-256 or P-384 curve, EdDSA for Ed25519), and with
//! `--jwt-alg` only keys for that algorithm are kept. Keys for encryption (`use: enc`), secrets
//! (`kty: oct`) and kinds the hub cannot verify with are skipped. A token's key is the one with
//! its `kid`; a token without `kid` is verified with the one key for its algorithm, and refused
//! when there are several (or none).
//!
//! Fetching never holds a lock: the keys are an `Arc` swapped in once a document is read.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use parking_lot::{Mutex, RwLock};
use tokio::sync::watch;
use tokio::time::Instant;
use url::Url;

/// Longest a fetch of the set may take, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Fewest time between two refreshes asked for by tokens naming an unknown `kid`.
pub(crate) const UNKNOWN_KID_INTERVAL: Duration = Duration::from_secs(10);
/// Largest document read, in bytes.
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;
/// Most keys kept from one document.
const MAX_KEYS: usize = 256;
/// Longest `kid` repeated in an answer, in characters.
const MAX_KID_SHOWN: usize = 64;

/// One usable key of the set.
pub(super) struct SetKey {
    /// Its `kid`, if it has one.
    pub kid: Option<String>,
    /// The one algorithm it accepts.
    pub algorithm: Algorithm,
    /// The key.
    pub key: DecodingKey,
    /// The checks of a token verified with it (its algorithm, and the configured claims).
    pub validation: Validation,
}

/// The usable keys of one document.
pub(super) struct KeySet {
    keys: Vec<SetKey>,
}

/// Why no key of the set verifies a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Miss {
    /// The token names a key the set lacks.
    UnknownKid(String),
    /// The token names no key, and the set has not exactly one for its algorithm.
    NoKid {
        /// The token's algorithm.
        algorithm: Algorithm,
        /// How many keys of the set are for it.
        candidates: usize,
    },
}

impl std::fmt::Display for Miss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnknownKid(kid) => {
                let shown: String = kid.chars().take(MAX_KID_SHOWN).collect();
                write!(f, "invalid token: the hub's JWK Set has no key with the token's kid {shown:?}")
            }
            Self::NoKid { algorithm, candidates: 0 } => {
                write!(f, "invalid token: it has no kid, and the hub's JWK Set has no {algorithm:?} key")
            }
            Self::NoKid { algorithm, candidates } => write!(
                f,
                "invalid token: it has no kid, and the hub's JWK Set has {candidates} {algorithm:?} keys: name one \
                 with the kid header"
            ),
        }
    }
}

impl KeySet {
    /// Reads a JWK Set document: the usable keys, and why each other one was skipped. Fails when
    /// the document is not a JWK Set, or holds no usable key.
    pub(super) fn parse(
        document: &[u8],
        named: Option<Algorithm>,
        template: &Validation,
    ) -> Result<(Self, Vec<String>), String> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(document)
            .map_err(|e| format!("not a JWK Set (a JSON object with a \"keys\" array): {e}"))?;
        let mut keys = Vec::new();
        let mut skipped = Vec::new();
        for (i, value) in document.keys.into_iter().enumerate() {
            if keys.len() == MAX_KEYS {
                skipped.push(format!("keys past the first {MAX_KEYS} usable ones"));
                break;
            }
            match usable(value, named) {
                Ok((kid, algorithm, key)) => {
                    let mut validation = template.clone();
                    validation.algorithms = vec![algorithm];
                    keys.push(SetKey { kid, algorithm, key, validation });
                }
                Err(reason) => skipped.push(format!("key {i}: {reason}")),
            }
        }
        if keys.is_empty() {
            let why = if skipped.is_empty() { "it is empty".to_owned() } else { skipped.join("; ") };
            return Err(format!("no usable signature key in the JWK Set ({why})"));
        }
        Ok((Self { keys }, skipped))
    }

    /// How many keys it holds.
    pub(super) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds a key with this `kid`.
    pub(super) fn has(&self, kid: &str) -> bool {
        self.keys.iter().any(|key| key.kid.as_deref() == Some(kid))
    }

    /// The key verifying a token with this header: the one with its `kid` (of the token's
    /// algorithm, when several share the id); without `kid`, the only one for its algorithm.
    pub(super) fn select(&self, header: &Header) -> Result<&SetKey, Miss> {
        match &header.kid {
            Some(kid) => {
                let mut named = self.keys.iter().filter(|key| key.kid.as_deref() == Some(kid.as_str()));
                let first = named.next().ok_or_else(|| Miss::UnknownKid(kid.clone()))?;
                if first.algorithm == header.alg {
                    return Ok(first);
                }
                Ok(named.find(|key| key.algorithm == header.alg).unwrap_or(first))
            }
            None => {
                let mut fitting = self.keys.iter().filter(|key| key.algorithm == header.alg);
                match (fitting.next(), fitting.count()) {
                    (Some(key), 0) => Ok(key),
                    (first, others) => {
                        Err(Miss::NoKid { algorithm: header.alg, candidates: usize::from(first.is_some()) + others })
                    }
                }
            }
        }
    }
}

/// A key of the document, if the hub can verify signatures with it: its `kid`, algorithm and key.
fn usable(
    value: serde_json::Value,
    named: Option<Algorithm>,
) -> Result<(Option<String>, Algorithm, DecodingKey), String> {
    use Algorithm::*;
    let jwk: Jwk = serde_json::from_value(value).map_err(|e| format!("not a key the hub can read ({e})"))?;
    match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => {}
        Some(_) => return Err("not for signatures (its \"use\" is not \"sig\")".into()),
    }
    if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
        return Err("not for verifying (its \"key_ops\" lack \"verify\")".into());
    }
    let usual = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Some(RS256),
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Some(ES256),
            EllipticCurve::P384 => Some(ES384),
            _ => None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => (okp.curve == EllipticCurve::Ed25519).then_some(EdDSA),
        AlgorithmParameters::OctetKey(_) => {
            return Err("a secret (\"kty\": \"oct\"): only public keys are taken from a JWK Set".into())
        }
    };
    let declared = jwk
        .common
        .key_algorithm
        .map(|alg| alg.to_string().parse::<Algorithm>().map_err(|_| format!("{alg} is not a signature algorithm")))
        .transpose()?;
    let algorithm = declared.or(named).or(usual).ok_or("its curve is not P-256, P-384 or Ed25519")?;
    if let Some(named) = named.filter(|named| *named != algorithm) {
        return Err(format!("for {algorithm:?}, not for {named:?} (--jwt-alg)"));
    }
    let fits = match (&jwk.algorithm, algorithm) {
        (AlgorithmParameters::RSA(_), RS256 | RS384 | RS512 | PS256 | PS384 | PS512) => true,
        (AlgorithmParameters::EllipticCurve(ec), ES256) => ec.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(ec), ES384) => ec.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(okp), EdDSA) => okp.curve == EllipticCurve::Ed25519,
        _ => false,
    };
    if !fits {
        return Err(format!("its algorithm {algorithm:?} does not suit its kind of key"));
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|e| format!("unreadable key material ({e})"))?;
    Ok((jwk.common.key_id, algorithm, key))
}

/// When a refresh may start.
#[derive(Debug)]
pub(super) struct Gate {
    /// Fewest time between two refreshes asked for by unknown key ids.
    min_interval: Duration,
    /// When the last of those started.
    last_on_demand: Option<Instant>,
    /// Whether a refresh is under way.
    in_flight: bool,
}

/// What a token naming an unknown key id gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admit {
    /// A refresh starts for it.
    Start,
    /// A refresh is under way: wait for it.
    Wait,
    /// One ran too recently: none now.
    Refused,
}

impl Gate {
    pub(super) fn new(min_interval: Duration) -> Self {
        Self { min_interval, last_on_demand: None, in_flight: false }
    }

    /// A token names an unknown key id at `now`.
    pub(super) fn on_demand(&mut self, now: Instant) -> Admit {
        if self.in_flight {
            return Admit::Wait;
        }
        if self.last_on_demand.is_some_and(|last| now.saturating_duration_since(last) < self.min_interval) {
            return Admit::Refused;
        }
        self.last_on_demand = Some(now);
        self.in_flight = true;
        Admit::Start
    }

    /// The periodic refresh is due: true when it may start (none under way).
    pub(super) fn scheduled(&mut self) -> bool {
        !std::mem::replace(&mut self.in_flight, true)
    }

    /// The refresh under way ended.
    pub(super) fn done(&mut self) {
        self.in_flight = false;
    }
}

/// A JWK Set kept fresh.
pub(super) struct Jwks {
    url: Url,
    client: reqwest::Client,
    named: Option<Algorithm>,
    template: Validation,
    keys: RwLock<Arc<KeySet>>,
    gate: Mutex<Gate>,
    /// Counts the refreshes ended, so that tokens waiting for one wake up.
    refreshed: watch::Sender<u64>,
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks").field("url", &self.url.as_str()).field("keys", &self.keys.read().len()).finish()
    }
}

impl Jwks {
    /// Fetches and reads the set at `url`, waiting for it: the hub starts with its keys or not at
    /// all. The fetch runs on a thread of its own, so this may be called inside or outside a
    /// Tokio runtime.
    pub(super) fn load(url: &Url, named: Option<Algorithm>, template: Validation) -> Result<Arc<Self>, String> {
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            // One fetch every few minutes: no connection is kept between them (nor across the
            // runtime of the first fetch and the hub's).
            .pool_max_idle_per_host(0)
            .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {}", chain(&e)))?;
        let document = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| format!("cannot start the fetch: {e}"))?;
                    runtime.block_on(fetch(&client, url))
                })
                .join()
                .unwrap_or_else(|_| Err("the fetch failed unexpectedly".to_owned()))
        })?;
        let (keys, skipped) = KeySet::parse(&document, named, &template)?;
        for reason in &skipped {
            tracing::warn!(url = %url, "JWK Set: skipped {reason}");
        }
        tracing::info!(url = %url, keys = keys.len(), "JWK Set loaded");
        Ok(Arc::new(Self {
            url: url.clone(),
            client,
            named,
            template,
            keys: RwLock::new(Arc::new(keys)),
            gate: Mutex::new(Gate::new(UNKNOWN_KID_INTERVAL)),
            refreshed: watch::Sender::new(0),
        }))
    }

    /// The set's URL.
    pub(super) fn url(&self) -> &Url {
        &self.url
    }

    /// The keys loaded now.
    pub(super) fn current(&self) -> Arc<KeySet> {
        self.keys.read().clone()
    }

    /// A token names `kid`, which the set lacks: refreshes it at once unless one ran in the last
    /// [`UNKNOWN_KID_INTERVAL`], and returns when the refresh under way (if any) has ended.
    pub(super) async fn refresh_for(self: &Arc<Self>, kid: &str) {
        let mut refreshed = self.refreshed.subscribe();
        if self.current().has(kid) {
            return;
        }
        let admitted = self.gate.lock().on_demand(Instant::now());
        match admitted {
            Admit::Refused => return,
            // On a task of its own, so that the refresh ends even if this request is dropped.
            Admit::Start => drop(tokio::spawn(self.clone().refresh())),
            Admit::Wait => {}
        }
        let _ = tokio::time::timeout(FETCH_TIMEOUT + Duration::from_secs(1), refreshed.changed()).await;
    }

    /// Refreshes the set every `period`, until the runtime ends.
    pub(super) async fn keep_fresh(self: Arc<Self>, period: Duration) {
        let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let due = self.gate.lock().scheduled();
            if due {
                self.clone().refresh().await;
            }
        }
    }

    /// Fetches the set again and swaps the new keys in; on failure keeps the old ones and warns.
    /// The gate must have admitted it.
    async fn refresh(self: Arc<Self>) {
        let result = fetch(&self.client, &self.url)
            .await
            .and_then(|document| KeySet::parse(&document, self.named, &self.template));
        match result {
            Ok((keys, skipped)) => {
                for reason in &skipped {
                    tracing::debug!(url = %self.url, "JWK Set: skipped {reason}");
                }
                tracing::debug!(url = %self.url, keys = keys.len(), "JWK Set refreshed");
                *self.keys.write() = Arc::new(keys);
            }
            Err(e) => {
                let kept = self.current().len();
                tracing::warn!(url = %self.url, "cannot refresh the JWK Set, keeping the {kept} keys loaded: {e}");
            }
        }
        self.gate.lock().done();
        self.refreshed.send_modify(|count| *count = count.wrapping_add(1));
    }
}

/// The document at `url`, if it answers 2xx within the limits.
async fn fetch(client: &reqwest::Client, url: &Url) -> Result<Vec<u8>, String> {
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
        .send()
        .await
        .map_err(|e| format!("cannot fetch it: {}", chain(&e)))?;
    if !response.status().is_success() {
        return Err(format!("it answered {}", response.status()));
    }
    let mut document = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| format!("cannot read it: {}", chain(&e)))? {
        if document.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("it is larger than {MAX_DOCUMENT_BYTES} bytes"));
        }
        document.extend_from_slice(&chunk);
    }
    Ok(document)
}

/// An error and its causes, in one line.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rsa(kid: Option<&str>, alg: Option<&str>) -> serde_json::Value {
        let mut key = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"});
        if let Some(kid) = kid {
            key["kid"] = json!(kid);
        }
        if let Some(alg) = alg {
            key["alg"] = json!(alg);
        }
        key
    }

    fn ec(kid: &str, crv: &str) -> serde_json::Value {
        json!({"kty": "EC", "crv": crv, "x": "AQAB", "y": "AQAB", "kid": kid})
    }

    fn set(keys: Vec<serde_json::Value>, named: Option<Algorithm>) -> Result<(KeySet, Vec<String>), String> {
        let document = serde_json::to_vec(&json!({ "keys": keys })).unwrap();
        KeySet::parse(&document, named, &Validation::default())
    }

    fn header(alg: Algorithm, kid: Option<&str>) -> Header {
        Header { kid: kid.map(str::to_owned), ..Header::new(alg) }
    }

    #[test]
    fn keys_take_their_alg_or_the_usual_one_for_their_kind() {
        let (keys, skipped) =
            set(vec![rsa(Some("a"), None), rsa(Some("b"), Some("PS256")), ec("c", "P-256"), ec("d", "P-384")], None)
                .unwrap();
        assert!(skipped.is_empty(), "{skipped:?}");
        let algorithms: Vec<_> = keys.keys.iter().map(|k| (k.kid.as_deref(), k.algorithm)).collect();
        use Algorithm::*;
        assert_eq!(algorithms, [(Some("a"), RS256), (Some("b"), PS256), (Some("c"), ES256), (Some("d"), ES384)]);
        assert_eq!(keys.keys[1].validation.algorithms, [PS256]);
    }

    #[test]
    fn unusable_keys_are_skipped_and_a_set_without_any_refused() {
        let secret = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "s"});
        let encryption = json!({"kty": "RSA", "n": "AQAB", "e": "AQAB", "use": "enc"});
        let wrong_alg = rsa(Some("w"), Some("ES256"));
        let unknown = json!({"kty": "XYZ"});
        let (keys, skipped) =
            set(vec![secret.clone(), encryption.clone(), wrong_alg.clone(), unknown, rsa(Some("ok"), None)], None)
                .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        let error = set(vec![secret, encryption, wrong_alg], None).err().unwrap();
        assert!(error.contains("no usable signature key"), "{error}");
        assert!(set(vec![], None).err().unwrap().contains("empty"));
        let not_a_set = KeySet::parse(b"{\"kty\": \"RSA\"}", None, &Validation::default()).err().unwrap();
        assert!(not_a_set.contains("not a JWK Set"), "{not_a_set}");
    }

    #[test]
    fn the_configured_algorithm_keeps_only_its_keys() {
        let (keys, skipped) =
            set(vec![rsa(Some("a"), None), rsa(Some("b"), Some("RS256")), ec("c", "P-256")], Some(Algorithm::RS512))
                .unwrap();
        // The key without alg takes the configured one; the others are for other algorithms.
        assert_eq!(keys.keys.iter().map(|k| k.algorithm).collect::<Vec<_>>(), [Algorithm::RS512]);
        assert_eq!(skipped.len(), 2);
    }

    #[test]
    fn a_token_names_its_key() {
        let (keys, _) = set(vec![rsa(Some("a"), None), rsa(Some("b"), None), ec("c", "P-256")], None).unwrap();
        let kid = |alg, kid| keys.select(&header(alg, kid)).map(|key| key.kid.clone().unwrap());
        assert_eq!(kid(Algorithm::RS256, Some("b")), Ok("b".to_owned()));
        assert_eq!(kid(Algorithm::ES256, Some("c")), Ok("c".to_owned()));
        assert_eq!(kid(Algorithm::RS256, Some("z")), Err(Miss::UnknownKid("z".to_owned())));
        // Without kid: the one key for the algorithm, else refused.
        assert_eq!(kid(Algorithm::ES256, None), Ok("c".to_owned()));
        assert_eq!(kid(Algorithm::RS256, None), Err(Miss::NoKid { algorithm: Algorithm::RS256, candidates: 2 }));
        assert_eq!(kid(Algorithm::EdDSA, None), Err(Miss::NoKid { algorithm: Algorithm::EdDSA, candidates: 0 }));
        assert!(Miss::UnknownKid("x".repeat(500)).to_string().len() < 200);
    }

    #[test]
    fn a_kid_shared_by_two_keys_takes_the_one_of_the_tokens_algorithm() {
        let (keys, _) = set(vec![rsa(Some("k"), None), ec("k", "P-256")], None).unwrap();
        assert_eq!(keys.select(&header(Algorithm::ES256, Some("k"))).unwrap().algorithm, Algorithm::ES256);
        assert_eq!(keys.select(&header(Algorithm::RS256, Some("k"))).unwrap().algorithm, Algorithm::RS256);
    }

    #[test]
    fn unknown_kids_refresh_at_most_once_per_interval() {
        let start = Instant::now();
        let mut gate = Gate::new(Duration::from_secs(10));
        assert_eq!(gate.on_demand(start), Admit::Start);
        // While it runs, others wait for it rather than starting their own.
        assert_eq!(gate.on_demand(start + Duration::from_secs(1)), Admit::Wait);
        assert!(!gate.scheduled());
        gate.done();
        assert_eq!(gate.on_demand(start + Duration::from_secs(9)), Admit::Refused);
        // The periodic refresh is not limited by the interval, and does not count in it.
        assert!(gate.scheduled());
        gate.done();
        assert_eq!(gate.on_demand(start + Duration::from_secs(10)), Admit::Start);
        gate.done();
        assert_eq!(gate.on_demand(start + Duration::from_secs(15)), Admit::Refused);
    }
}
