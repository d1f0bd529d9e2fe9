//! Who may publish and what a subscriber may read: JWT authorization as Mercure defines it.
//!
//! Every transport asks the `Authorizer`, so rights are decided in one place. A token comes
//! from the `Authorization: Bearer` header, else from the `mercureAuthorization` (or
//! `__Secure-mercure_access_token`) cookie, else, only when enabled, from the `authorization`
//! query parameter. It must be signed with the role's key and the one algorithm configured for
//! it (`keys.rs`), or with a key of the role's JWK Set (`jwks.rs`: fetched from a URL, the key
//! chosen by the token's `kid`, refreshed in the background and when a token names a key the set
//! lacks); `exp` and `nbf` are enforced when present, `aud` and `iss` when configured (with
//! `--authorization-server`, `iss` must be one of them). Its rights come from the
//! `authorization_details` or legacy `mercure` claim (`claims.rs`).
//!
//! - Publishing needs a token granting `publish` on every topic of the update. A token from a
//!   cookie must also come with an allowed `Origin` (or `Referer`), so another site cannot make
//!   a logged-in browser publish.
//! - Subscribing without a token is allowed only when configured (`anonymous`) and reads public
//!   updates only; a token's `subscribe` grants decide which private updates are delivered, live
//!   and on replay.
//! - Without any key configured the hub is open: anyone who can reach it publishes, and every
//!   subscriber reads public updates. Only for trusted networks; the hub warns at start.
//!
//! Failures answer as RFC 6750 says: 401 with a `WWW-Authenticate: Bearer` challenge when no
//! token came, 401 `invalid_token` when it failed validation (the reason is logged, not told,
//! except which key of a JWK Set was missing),
//! 403 `insufficient_scope` when it does not grant the operation, 400 `invalid_request` when
//! the `Authorization` header is malformed.

mod claims;
pub(crate) mod demo;
mod jwks;
mod keys;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap};
use herald_core::{Matcher, ReadAccess};
use jsonwebtoken::{Algorithm, Validation};
use url::Url;

use crate::config::ConfigError;
use crate::rate::PublisherKey;
use claims::Grants;
pub use claims::DETAIL_TYPE;
use keys::VerifyingKey;
pub use keys::{KeyConfig, KeyMaterial, Secret};

/// Cookies that may carry the token: the legacy Mercure name and the one the protocol now
/// recommends.
pub(crate) const COOKIE_NAMES: [&str; 2] = ["mercureAuthorization", "__Secure-mercure_access_token"];
/// The query parameter that may carry the token, when enabled.
pub(crate) const QUERY_PARAM: &str = "authorization";
/// Allowed clock difference when checking `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;

/// The role a token is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Publishing updates.
    Publisher,
    /// Receiving updates.
    Subscriber,
}

/// Why a request's credentials do not allow what it asks. Each transport answers it in its own
/// terms (HTTP: RFC 6750 statuses and challenges; WebSocket: an error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuthError {
    /// No token came, and the role needs one (401).
    MissingToken(Role),
    /// The token failed validation (401 `invalid_token`); the reason is logged, not told.
    InvalidToken,
    /// No key of the role's JWK Set is the token's (401 `invalid_token`); says why.
    UnknownKey(String),
    /// The token is valid but expired since it was checked (401 `invalid_token`).
    Expired,
    /// The `Authorization` header is not `Bearer <token>` (400 `invalid_request`).
    MalformedHeader,
    /// The token does not grant publishing to this topic (403 `insufficient_scope`).
    InsufficientScope {
        /// The first topic not granted.
        topic: String,
    },
    /// A publish authorized by the cookie came from another origin, or from none (403).
    CookieOrigin {
        /// The request's origin, if it named one.
        origin: Option<String>,
    },
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::MissingToken(Role::Publisher) => {
                f.write_str("publishing needs a token: send Authorization: Bearer <JWT> (mint one with `herald token`)")
            }
            Self::MissingToken(Role::Subscriber) => f.write_str(
                "subscribing needs a token: send Authorization: Bearer <JWT> or the mercureAuthorization cookie",
            ),
            Self::InvalidToken => f.write_str("invalid token"),
            Self::UnknownKey(why) => f.write_str(why),
            Self::Expired => f.write_str("token expired: reconnect with a new one"),
            Self::MalformedHeader => f.write_str("malformed Authorization header: send `Authorization: Bearer <JWT>`"),
            Self::InsufficientScope { topic } => write!(f, "the token does not allow publishing to {topic:?}"),
            Self::CookieOrigin { origin: Some(origin) } => {
                write!(f, "publishing with the cookie from origin {origin} is refused: allow it with --cors-origin")
            }
            Self::CookieOrigin { origin: None } => f.write_str(
                "publishing with the cookie needs an Origin or Referer header (or send Authorization: Bearer)",
            ),
        }
    }
}

impl std::error::Error for AuthError {}

/// Authorization settings: each role's key as configured (a secret or a file), and the policy.
///
/// A key given on its own for a role wins over the shared `--jwt-key`; each key is a secret or a
/// file, not both (a flag or variable for one replaces the file's setting of either). The keys
/// themselves are read by [`ServerConfig::validate`](crate::ServerConfig::validate), which fills
/// in `publisher_key` and `subscriber_key`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct AuthConfig {
    /// HMAC secret verifying both publishers' and subscribers' JWTs. Without any key the hub
    /// is open: anyone who can reach it may publish.
    #[arg(long, env = "HERALD_JWT_KEY", value_name = "SECRET", hide_env_values = true, group = "jwt_key_source")]
    pub jwt_key: Option<Secret>,
    /// File holding the JWT key: a PEM public key (RSA, EC or Ed25519) or an HMAC secret.
    #[arg(long, env = "HERALD_JWT_KEY_FILE", value_name = "FILE", group = "jwt_key_source")]
    pub jwt_key_file: Option<PathBuf>,
    /// URL of a JWK Set (e.g. an authorization server's `jwks_uri`) whose public keys verify
    /// both publishers' and subscribers' JWTs, each token's key chosen by its `kid`. Fetched at
    /// start (the hub does not start without it) and refreshed in the background.
    #[arg(long, env = "HERALD_JWT_JWKS_URL", value_name = "URL", group = "jwt_key_source")]
    pub jwt_jwks_url: Option<Url>,
    /// The one JWT algorithm accepted, e.g. HS256, RS256, ES256, EdDSA; unset, HS256 for a
    /// secret, else the usual one for the PEM key's kind.
    #[arg(long, env = "HERALD_JWT_ALG", value_name = "ALG")]
    pub jwt_alg: Option<String>,
    /// Publishers' key, when it differs from --jwt-key (recommended).
    #[arg(
        long,
        env = "HERALD_PUBLISHER_JWT_KEY",
        value_name = "SECRET",
        hide_env_values = true,
        group = "publisher_jwt_key_source"
    )]
    pub publisher_jwt_key: Option<Secret>,
    /// File holding the publishers' key (PEM public key or secret).
    #[arg(long, env = "HERALD_PUBLISHER_JWT_KEY_FILE", value_name = "FILE", group = "publisher_jwt_key_source")]
    pub publisher_jwt_key_file: Option<PathBuf>,
    /// URL of the JWK Set verifying publishers' tokens, when it differs from --jwt-jwks-url.
    #[arg(long, env = "HERALD_PUBLISHER_JWT_JWKS_URL", value_name = "URL", group = "publisher_jwt_key_source")]
    pub publisher_jwt_jwks_url: Option<Url>,
    /// Subscribers' key, when it differs from --jwt-key (recommended).
    #[arg(
        long,
        env = "HERALD_SUBSCRIBER_JWT_KEY",
        value_name = "SECRET",
        hide_env_values = true,
        group = "subscriber_jwt_key_source"
    )]
    pub subscriber_jwt_key: Option<Secret>,
    /// File holding the subscribers' key (PEM public key or secret).
    #[arg(long, env = "HERALD_SUBSCRIBER_JWT_KEY_FILE", value_name = "FILE", group = "subscriber_jwt_key_source")]
    pub subscriber_jwt_key_file: Option<PathBuf>,
    /// URL of the JWK Set verifying subscribers' tokens, when it differs from --jwt-jwks-url.
    #[arg(long, env = "HERALD_SUBSCRIBER_JWT_JWKS_URL", value_name = "URL", group = "subscriber_jwt_key_source")]
    pub subscriber_jwt_jwks_url: Option<Url>,
    /// How often JWK Sets are fetched again. A token naming a `kid` the set lacks also has it
    /// fetched at once (at most once every 10s), so rotated keys work without a restart; a
    /// failed fetch keeps the keys loaded.
    #[arg(
        long,
        env = "HERALD_JWT_JWKS_REFRESH",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "5m"
    )]
    pub jwt_jwks_refresh: Duration,
    /// Run without a publisher key on a non-loopback address, letting anyone who reaches the
    /// hub publish (trusted networks only; on 127.0.0.1 the hub runs open without it).
    #[arg(long, env = "HERALD_NO_AUTH")]
    pub no_auth: bool,
    /// Let subscribers without a token in (they receive public updates only).
    #[arg(long, env = "HERALD_ANONYMOUS")]
    pub anonymous: bool,
    /// Also accept the token in the `authorization` query parameter (URLs end up in logs:
    /// prefer the header or the cookie).
    #[arg(id = "jwt_query_param", long = "jwt-query-param", env = "HERALD_JWT_QUERY_PARAM")]
    pub query_param: bool,
    /// Require tokens to name this audience in `aud`, e.g. the hub's URL.
    #[arg(id = "jwt_audience", long = "jwt-audience", env = "HERALD_JWT_AUDIENCE", value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// Require tokens to have exactly this issuer in `iss`.
    #[arg(id = "jwt_issuer", long = "jwt-issuer", env = "HERALD_JWT_ISSUER", value_name = "ISSUER")]
    pub issuer: Option<String>,
    /// Issuer identifier of an OAuth 2.0 authorization server issuing tokens for the hub
    /// (repeatable or comma-separated), advertised in the hub's protected resource metadata;
    /// tokens must then have one of them in `iss` (unless --jwt-issuer names the one).
    #[arg(
        id = "authorization_servers",
        long = "authorization-server",
        env = "HERALD_AUTHORIZATION_SERVERS",
        value_delimiter = ',',
        value_name = "URL"
    )]
    pub authorization_servers: Vec<Issuer>,
    /// Verifies publishers' tokens (built by validation); `None` leaves publishing open.
    #[arg(skip)]
    pub publisher_key: Option<KeyConfig>,
    /// Verifies subscribers' tokens (built by validation); `None` makes every subscriber
    /// anonymous.
    #[arg(skip)]
    pub subscriber_key: Option<KeyConfig>,
}

/// An authorization server's issuer identifier: an absolute URL, kept as written (tokens' `iss`
/// must equal it exactly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issuer(pub String);

impl std::str::FromStr for Issuer {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match Url::parse(text) {
            Ok(url) if matches!(url.scheme(), "https" | "http") && url.host().is_some() => Ok(Self(text.to_owned())),
            _ => Err(format!("`{text}` is not an issuer identifier: write its URL, e.g. https://auth.example.com")),
        }
    }
}

impl std::fmt::Display for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        crate::config::defaults()
    }
}

impl AuthConfig {
    /// Reads the key files and fills in `publisher_key` and `subscriber_key` from the settings.
    pub(crate) fn load_keys(&mut self) -> Result<(), ConfigError> {
        let key = |prefix: &'static str, secret: &Option<Secret>, file: &Option<PathBuf>, jwks: &Option<Url>| match (
            secret, file, jwks,
        ) {
            (Some(_), Some(_), _) => Err(ConfigError::KeyTwice(match prefix {
                "publisher-jwt" => "publisher-jwt-key",
                "subscriber-jwt" => "subscriber-jwt-key",
                _ => "jwt-key",
            })),
            (Some(_), None, Some(_)) | (None, Some(_), Some(_)) => Err(ConfigError::KeyAndJwks(prefix)),
            (Some(Secret(secret)), None, None) => Ok(Some(KeyConfig {
                material: KeyMaterial::Secret(secret.as_bytes().to_vec()),
                algorithm: self.jwt_alg.clone(),
            })),
            (None, Some(path), None) => KeyConfig::from_file(path, self.jwt_alg.clone())
                .map(Some)
                .map_err(|source| ConfigError::KeyFile { path: path.clone(), source }),
            (None, None, Some(url)) => {
                Ok(Some(KeyConfig { material: KeyMaterial::Jwks(url.clone()), algorithm: self.jwt_alg.clone() }))
            }
            (None, None, None) => Ok(None),
        };
        let shared = key("jwt", &self.jwt_key, &self.jwt_key_file, &self.jwt_jwks_url)?;
        let publisher =
            key("publisher-jwt", &self.publisher_jwt_key, &self.publisher_jwt_key_file, &self.publisher_jwt_jwks_url)?;
        let subscriber = key(
            "subscriber-jwt",
            &self.subscriber_jwt_key,
            &self.subscriber_jwt_key_file,
            &self.subscriber_jwt_jwks_url,
        )?;
        self.publisher_key = publisher.or_else(|| shared.clone());
        self.subscriber_key = subscriber.or(shared);
        Ok(())
    }
}

/// A role's keys and checks.
// Two per hub, at most: their size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Verifier {
    /// One key, configured.
    Key { key: VerifyingKey, validation: Validation },
    /// The keys of a JWK Set, each with its checks.
    Jwks(Arc<jwks::Jwks>),
}

/// Where the token came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Header,
    Cookie,
    Query,
}

/// What a publisher may publish to.
#[derive(Debug)]
pub(crate) enum PublishRights {
    /// No publisher key is configured: anything.
    Open,
    /// Topics matched by `selectors`, for the token's subject (`sub`), if it names one.
    Granted {
        /// The topics it may publish to.
        selectors: Vec<Matcher>,
        /// The token's `sub`, which the publish rate is counted by.
        subject: Option<String>,
    },
}

impl PublishRights {
    /// Checks that every topic of an update is granted (nothing is published otherwise).
    pub(crate) fn check(&self, topics: &[String]) -> Result<(), AuthError> {
        let Self::Granted { selectors, .. } = self else {
            return Ok(());
        };
        match topics.iter().find(|topic| !selectors.iter().any(|s| s.matches(topic))) {
            None => Ok(()),
            Some(topic) => {
                crate::metrics::auth_failed("insufficient_scope");
                Err(AuthError::InsufficientScope { topic: topic.clone() })
            }
        }
    }

    /// Who publishes, for rate limiting: the token's subject, else the client's address.
    pub(crate) fn publisher_key(&self, client: Option<std::net::IpAddr>) -> PublisherKey {
        match (self, client) {
            (Self::Granted { subject: Some(subject), .. }, _) => PublisherKey::Subject(subject.clone()),
            (_, Some(address)) => PublisherKey::Address(address),
            (_, None) => PublisherKey::Unknown,
        }
    }
}

/// A valid token's content.
struct Verified {
    grants: Grants,
    expires: Option<u64>,
    subject: Option<String>,
}

/// What a subscriber may read, and until when (its token's `exp`, in seconds since the epoch).
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadRights {
    /// The private topics it may read.
    pub access: ReadAccess,
    /// The token's `exp`, if it has one.
    pub expires: Option<u64>,
    /// The token's subscription payloads, each with the topics it is for, first match wins.
    pub payloads: std::sync::Arc<[(Vec<herald_core::Matcher>, std::sync::Arc<serde_json::Value>)]>,
}

impl ReadRights {
    /// The payload for a subscription whose matcher is `matcher` (read as a topic): that of the
    /// first detail one of whose topics selects it.
    pub(crate) fn payload_for(&self, matcher: &str) -> Option<std::sync::Arc<serde_json::Value>> {
        self.payloads.iter().find(|(topics, _)| topics.iter().any(|t| t.matches(matcher))).map(|(_, p)| p.clone())
    }

    /// When a subscription using these rights must end: the token's expiry, as a timer instant;
    /// `None` when it never expires (or so far ahead that no timer reaches it).
    pub(crate) fn deadline(&self) -> Option<tokio::time::Instant> {
        let expires = self.expires?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        tokio::time::Instant::now().checked_add(std::time::Duration::from_secs(expires).saturating_sub(now))
    }
}

/// Decides the rights of each request.
#[derive(Debug)]
pub(crate) struct Authorizer {
    publisher: Option<Verifier>,
    subscriber: Option<Verifier>,
    anonymous: bool,
    query_param: bool,
    hub_url: Url,
    /// Origins a cookie-carried publish may come from.
    publish_origins: Vec<String>,
    /// The JWK Sets the roles' keys come from, each once.
    jwks: Vec<Arc<jwks::Jwks>>,
    /// How often they are fetched again.
    jwks_refresh: Duration,
    /// The demo pages' key, when they run.
    demo: Option<Arc<demo::DemoKey>>,
}

impl Authorizer {
    /// Builds the authorizer, fetching the JWK Sets it is configured with; the error says which
    /// key is unusable and why.
    pub(crate) fn new(config: &AuthConfig, hub_url: &Url, cors_origins: &[String]) -> Result<Self, String> {
        let mut sets: Vec<Arc<jwks::Jwks>> = Vec::new();
        let mut verifier = |key: &Option<KeyConfig>, role: &str| {
            let Some(key) = key else {
                return Ok(None);
            };
            if let KeyMaterial::Jwks(url) = &key.material {
                if let Some(set) = sets.iter().find(|set| set.url() == url) {
                    return Ok(Some(Verifier::Jwks(set.clone())));
                }
                let named =
                    keys::named_algorithm(key.algorithm.as_deref()).map_err(|e| format!("{role} JWT keys: {e}"))?;
                let flag = if config.publisher_jwt_jwks_url.as_ref() == Some(url) {
                    "--publisher-jwt-jwks-url"
                } else if config.subscriber_jwt_jwks_url.as_ref() == Some(url) {
                    "--subscriber-jwt-jwks-url"
                } else {
                    "--jwt-jwks-url"
                };
                let set = jwks::Jwks::load(url, named, validation(Algorithm::RS256, config))
                    .map_err(|e| format!("cannot use the JWK Set at {url} ({flag}): {e}"))?;
                sets.push(set.clone());
                return Ok(Some(Verifier::Jwks(set)));
            }
            let key = VerifyingKey::new(key).map_err(|e| format!("{role} JWT key: {e}"))?;
            Ok::<_, String>(Some(Verifier::Key { validation: validation(key.algorithm, config), key }))
        };
        let publisher = verifier(&config.publisher_key, "publisher")?;
        let subscriber = verifier(&config.subscriber_key, "subscriber")?;
        let mut publish_origins: Vec<String> =
            cors_origins.iter().filter(|o| *o != "*").map(|o| o.trim_end_matches('/').to_ascii_lowercase()).collect();
        publish_origins.push(hub_url.origin().ascii_serialization().to_ascii_lowercase());
        Ok(Self {
            publisher,
            subscriber,
            anonymous: config.anonymous,
            query_param: config.query_param,
            hub_url: hub_url.clone(),
            publish_origins,
            jwks: sets,
            jwks_refresh: config.jwt_jwks_refresh,
            demo: None,
        })
    }

    /// Also accepts the tokens the demo pages mint with `key` (see [`demo`]).
    pub(crate) fn with_demo_key(mut self, key: Arc<demo::DemoKey>) -> Self {
        self.demo = Some(key);
        self
    }

    /// Starts refreshing the JWK Sets every `--jwt-jwks-refresh`. Must be called inside a Tokio
    /// runtime, once.
    pub(crate) fn spawn_key_refresh(&self) {
        for set in &self.jwks {
            tokio::spawn(set.clone().keep_fresh(self.jwks_refresh));
        }
    }

    /// Before the rights of a request are read: when its token names a `kid` that no JWK Set of
    /// the hub holds, has the sets fetched again at once (see `jwks.rs` for the limit), and
    /// waits for that, so that a key the issuer just added verifies it.
    pub(crate) async fn load_named_key(&self, headers: &HeaderMap, query: Option<&str>) {
        if self.jwks.is_empty() {
            return;
        }
        let Ok(Some((token, _))) = self.token(headers, query) else {
            return;
        };
        let Some(kid) = jsonwebtoken::decode_header(&token).ok().and_then(|header| header.kid) else {
            return;
        };
        if self.jwks.iter().any(|set| set.current().has(&kid)) {
            return;
        }
        for set in &self.jwks {
            set.refresh_for(&kid).await;
        }
    }

    /// The URL of the one JWK Set verifying both roles' tokens, if that is how they are verified.
    pub(crate) fn shared_jwks_url(&self) -> Option<&Url> {
        match (&self.publisher, &self.subscriber) {
            (Some(Verifier::Jwks(publisher)), Some(Verifier::Jwks(subscriber)))
                if Arc::ptr_eq(publisher, subscriber) =>
            {
                Some(publisher.url())
            }
            _ => None,
        }
    }

    /// True when anyone may publish (no publisher key configured).
    pub(crate) fn publishing_is_open(&self) -> bool {
        self.publisher.is_none()
    }

    /// The publish rights of a request.
    pub(crate) fn publisher(&self, headers: &HeaderMap, query: Option<&str>) -> Result<PublishRights, AuthError> {
        let Some(verifier) = &self.publisher else {
            return Ok(PublishRights::Open);
        };
        let Some((token, source)) = self.token(headers, query)? else {
            crate::metrics::auth_failed("missing_token");
            return Err(AuthError::MissingToken(Role::Publisher));
        };
        if source == Source::Cookie {
            self.check_cookie_origin(headers)?;
        }
        let verified = match &self.demo {
            Some(key) if demo::names_demo_key(&token) => self.verify_demo(key, &token)?,
            _ => self.verify(verifier, &token)?,
        };
        Ok(PublishRights::Granted { selectors: verified.grants.publish, subject: verified.subject })
    }

    /// The read rights of a subscriber.
    pub(crate) fn subscriber(&self, headers: &HeaderMap, query: Option<&str>) -> Result<ReadRights, AuthError> {
        // Read once. Without a subscriber key, a malformed credential only matters to the demos.
        let token = match (&self.subscriber, &self.demo) {
            (Some(_), _) => self.token(headers, query)?,
            (None, Some(_)) => self.token(headers, query).ok().flatten(),
            (None, None) => return Ok(ReadRights::default()),
        };
        let verified = match (&self.demo, &token, &self.subscriber) {
            (Some(key), Some((token, _)), _) if demo::names_demo_key(token) => self.verify_demo(key, token)?,
            (_, _, None) => return Ok(ReadRights::default()),
            (_, None, Some(_)) if self.anonymous => return Ok(ReadRights::default()),
            (_, None, Some(_)) => {
                crate::metrics::auth_failed("missing_token");
                return Err(AuthError::MissingToken(Role::Subscriber));
            }
            (_, Some((token, _)), Some(verifier)) => self.verify(verifier, token)?,
        };
        Ok(ReadRights {
            access: ReadAccess::with_private(verified.grants.subscribe),
            expires: verified.expires,
            payloads: verified.grants.payloads.into(),
        })
    }

    /// The read rights of a request for a private resource named by `topic` (a subscription,
    /// the dashboard): refused with `401` when the request has no token granting private topics
    /// (also with `--anonymous`), `403` when its token grants others.
    pub(crate) fn reader_of(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        topic: &str,
    ) -> Result<ReadRights, crate::error::ApiError> {
        use crate::error::ApiError;
        match self.subscriber(headers, query) {
            Ok(rights) if rights.access.allows_topic(topic) => Ok(rights),
            Ok(rights) if rights.access.is_public_only() => {
                let mut error = ApiError::from(AuthError::MissingToken(Role::Subscriber));
                error.message = match self.subscriber {
                    Some(_) => format!("a token allowing subscribing to {topic:?} is required"),
                    None => format!(
                        "a token allowing subscribing to {topic:?} is required, and this hub verifies none: \
                         start it with --jwt-key (or --subscriber-jwt-key)"
                    ),
                };
                Err(error)
            }
            Ok(_) => {
                let mut error = ApiError::from(AuthError::InsufficientScope { topic: topic.to_owned() });
                error.message = format!("the token does not allow subscribing to {topic:?}");
                Err(error)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Finds the token: the `Authorization` header wins, then a cookie, then (if enabled) the
    /// query string.
    fn token(&self, headers: &HeaderMap, query: Option<&str>) -> Result<Option<(String, Source)>, AuthError> {
        let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
        if let Some(value) = authorization.next() {
            let malformed = || {
                crate::metrics::auth_failed("invalid_request");
                AuthError::MalformedHeader
            };
            if authorization.next().is_some() {
                return Err(malformed());
            }
            let value = value.to_str().map_err(|_| malformed())?;
            let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
            let token = token.trim();
            if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
                return Err(malformed());
            }
            return Ok(Some((token.to_owned(), Source::Header)));
        }
        if let Some(token) = cookie_token(headers) {
            return Ok(Some((token, Source::Cookie)));
        }
        if self.query_param || self.demo.is_some() {
            let token = query.and_then(|q| {
                url::form_urlencoded::parse(q.as_bytes()).find(|(name, _)| name == QUERY_PARAM).map(|(_, v)| v)
            });
            // Without --query-param, only the demos' tokens are read from the query.
            if let Some(token) = token.filter(|t| !t.is_empty() && (self.query_param || demo::names_demo_key(t))) {
                return Ok(Some((token.into_owned(), Source::Query)));
            }
        }
        Ok(None)
    }

    /// Verifies signature and claims; the reason of a failure is logged, the client told
    /// `invalid_token` only.
    fn verify(&self, verifier: &Verifier, token: &str) -> Result<Verified, AuthError> {
        let invalid = |reason: String| {
            tracing::debug!("token refused: {reason}");
            crate::metrics::auth_failed("invalid_token");
            AuthError::InvalidToken
        };
        let data = match verifier {
            Verifier::Key { key, validation } => jsonwebtoken::decode::<claims::Claims>(token, &key.key, validation),
            Verifier::Jwks(set) => {
                let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
                let keys = set.current();
                let key = keys.select(&header).map_err(|miss| {
                    tracing::debug!("token refused: {miss}");
                    crate::metrics::auth_failed("invalid_token");
                    AuthError::UnknownKey(miss.to_string())
                })?;
                jsonwebtoken::decode::<claims::Claims>(token, &key.key, &key.validation)
            }
        }
        .map_err(|e| invalid(e.to_string()))?;
        self.verified(data, invalid)
    }

    /// Verifies a token signed with the demos' key: it must grant only demo topics.
    fn verify_demo(&self, key: &demo::DemoKey, token: &str) -> Result<Verified, AuthError> {
        let invalid = |reason: String| {
            tracing::debug!("demo token refused: {reason}");
            crate::metrics::auth_failed("invalid_token");
            AuthError::InvalidToken
        };
        let (decoding, validation) = key.decoding();
        let data =
            jsonwebtoken::decode::<claims::Claims>(token, decoding, validation).map_err(|e| invalid(e.to_string()))?;
        let verified = self.verified(data, invalid)?;
        let grants = &verified.grants;
        if !demo::grants_only_demo_topics(&grants.publish) || !demo::grants_only_demo_topics(&grants.subscribe) {
            return Err(invalid(format!("a demo token may grant only topics under {}", demo::PREFIX)));
        }
        Ok(verified)
    }

    /// The checks after the signature: the token's type, `nbf`, and its grants.
    fn verified(
        &self,
        data: jsonwebtoken::TokenData<claims::Claims>,
        invalid: impl Fn(String) -> AuthError,
    ) -> Result<Verified, AuthError> {
        if let Some(typ) = &data.header.typ {
            let typ = typ.to_ascii_lowercase();
            let typ = typ.strip_prefix("application/").unwrap_or(&typ);
            if typ != "jwt" && typ != "at+jwt" {
                return Err(invalid(format!("token type {typ:?} is not an access token")));
            }
        }
        data.claims.check_nbf().map_err(&invalid)?;
        let grants = Grants::from_claims(&data.claims, &self.hub_url).map_err(&invalid)?;
        Ok(Verified { grants, expires: data.claims.exp, subject: data.claims.sub })
    }

    /// A publish authorized by a cookie must come from an allowed origin.
    fn check_cookie_origin(&self, headers: &HeaderMap) -> Result<(), AuthError> {
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).map(str::to_owned).or_else(|| {
            let referer = headers.get(header::REFERER)?.to_str().ok()?;
            Some(Url::parse(referer).ok()?.origin().ascii_serialization())
        });
        match origin {
            Some(origin) if self.publish_origins.contains(&origin.trim_end_matches('/').to_ascii_lowercase()) => Ok(()),
            origin => Err(AuthError::CookieOrigin { origin }),
        }
    }
}

/// The checks of a token verified with a key for `algorithm`.
fn validation(algorithm: Algorithm, config: &AuthConfig) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.required_spec_claims = HashSet::new();
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    match &config.audience {
        Some(audience) => {
            validation.set_audience(&[audience]);
            validation.required_spec_claims.insert("aud".into());
        }
        None => validation.validate_aud = false,
    }
    let servers: Vec<&str> = config.authorization_servers.iter().map(|server| server.0.as_str()).collect();
    match (&config.issuer, servers.is_empty()) {
        (Some(issuer), _) => validation.set_issuer(&[issuer]),
        (None, false) => validation.set_issuer(&servers),
        (None, true) => {}
    }
    if validation.iss.is_some() {
        validation.required_spec_claims.insert("iss".into());
    }
    validation
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, value)| COOKIE_NAMES.contains(name) && !value.is_empty())
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const SECRET: &str = "a-hub-secret-of-at-least-thirty-two-bytes";

    /// An authorizer accepting the demos' tokens; with `keyed`, also the hub's own secret.
    fn authorizer(keyed: bool) -> (Authorizer, Arc<demo::DemoKey>) {
        let mut config = AuthConfig::default();
        if keyed {
            config.jwt_key = Some(Secret::from(SECRET.to_owned()));
            config.load_keys().unwrap();
        }
        let hub = Url::parse("http://localhost:8080/.well-known/mercure").unwrap();
        let key = Arc::new(demo::DemoKey::generate().unwrap());
        (Authorizer::new(&config, &hub, &[]).unwrap().with_demo_key(key.clone()), key)
    }

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).unwrap());
        headers
    }

    #[test]
    fn demo_tokens_grant_their_demo_topics_with_or_without_hub_keys() {
        for keyed in [false, true] {
            let (auth, key) = authorizer(keyed);
            let seat = ["/demo/poker/seats/2".to_owned()];
            let actions = ["/demo/poker/seats/2/actions".to_owned()];
            let token = key.mint("seat", &seat, &actions, 60).unwrap();
            let rights = auth.subscriber(&bearer(&token), None).unwrap();
            assert!(rights.access.allows_topic("/demo/poker/seats/2"));
            assert!(!rights.access.allows_topic("/demo/poker/seats/3"));
            // From the query too, although --jwt-query-param is off.
            let query = format!("topic=x&{QUERY_PARAM}={token}");
            assert!(auth.subscriber(&HeaderMap::new(), Some(&query)).unwrap().access.allows_topic(&seat[0]));
            if keyed {
                let PublishRights::Granted { selectors, .. } = auth.publisher(&bearer(&token), None).unwrap() else {
                    panic!("a keyed hub grants publishing by the token");
                };
                assert!(selectors.iter().any(|m| m.matches(&actions[0])) && !selectors.iter().any(|m| m.matches("/x")));
            }
        }
    }

    #[test]
    fn demo_tokens_granting_anything_outside_the_demos_are_refused() {
        let (auth, key) = authorizer(true);
        for grants in [vec!["*".to_owned()], vec!["/private/x".to_owned()], vec!["/demo/a".to_owned(), "/b".to_owned()]]
        {
            let token = key.mint("greedy", &grants, &[], 60).unwrap();
            assert!(matches!(auth.subscriber(&bearer(&token), None), Err(AuthError::InvalidToken)), "{grants:?}");
        }
        // Another process's demo key signs nothing here.
        let stranger = demo::DemoKey::generate().unwrap();
        let token = stranger.mint("seat", &["/demo/poker/seats/1".to_owned()], &[], 60).unwrap();
        assert!(matches!(auth.subscriber(&bearer(&token), None), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn other_tokens_are_not_read_from_the_query_without_the_flag() {
        let (auth, _) = authorizer(true);
        let claims = serde_json::json!({"mercure": {"subscribe": ["*"]}});
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        assert!(auth.subscriber(&bearer(&token), None).unwrap().access.allows_topic("/any"));
        let query = format!("{QUERY_PARAM}={token}");
        assert!(matches!(auth.subscriber(&HeaderMap::new(), Some(&query)), Err(AuthError::MissingToken(_))));
    }
}
