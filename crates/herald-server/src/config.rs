//! Settings of the HTTP server: one definition gives each its flag, `HERALD_*` variable, TOML key,
//! default and help.
//!
//! The structs derive [`clap::Args`]: a field's `#[arg]` attribute names its flag and variable and
//! declares its default, and its doc comment is the help. [`ServerConfig`] gathers the groups
//! with `#[command(flatten)]`: the hub's own [`HubConfig`], [`Limits`], [`ConnectionLimits`] and
//! [`AuthConfig`]. A TOML file's keys are the arguments' ids (the flag names with `_` for `-`);
//! the `herald` binary sets the file's values as the arguments' defaults, so clap applies the
//! precedence: flag, then variable, then file, then the declared default. `Default` for each
//! struct is that declared default, read with the environment ignored.
//!
//! Fields marked `#[arg(skip)]` are not settings: [`ServerConfig::validate`] derives them from the
//! settings, after checking what no single value's parser can.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{BoolValueParser, TypedValueParser};
use clap::{ArgAction, Args, FromArgMatches};
use herald_core::HubConfig;
use url::Url;

use crate::auth::AuthConfig;
use crate::listener::ConnectionLimits;
use crate::rate::Rate;
use crate::tls::TlsFiles;

/// Where history is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreKind {
    /// The embedded durable store, in --data-dir (survives restarts and crashes).
    Disk,
    /// Memory only (lost on restart).
    Memory,
    /// A Redis stream shared by several nodes: `redis://HOST:PORT[/DB][?stream=NAME]`.
    Redis(String),
    /// A NATS JetStream stream shared by several nodes: `nats://HOST:PORT[?stream=NAME]`.
    Nats(String),
}

impl StoreKind {
    /// Whether other nodes may share this history (so ids and positions are the cluster's).
    pub fn is_shared(&self) -> bool {
        matches!(self, Self::Redis(_) | Self::Nats(_))
    }
}

impl std::str::FromStr for StoreKind {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let scheme = value.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
        match (value, scheme.as_deref()) {
            ("disk", _) => Ok(Self::Disk),
            ("memory", _) => Ok(Self::Memory),
            (_, Some("redis" | "rediss")) => Ok(Self::Redis(value.to_owned())),
            (_, Some("nats")) => Ok(Self::Nats(value.to_owned())),
            _ => Err(format!(
                "`{value}` is not a store: use `disk`, `memory`, `redis://HOST:PORT[/DB][?stream=NAME]` or \
                 `nats://HOST:PORT[?stream=NAME]`"
            )),
        }
    }
}

impl fmt::Display for StoreKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disk => f.write_str("disk"),
            Self::Memory => f.write_str("memory"),
            Self::Redis(url) | Self::Nats(url) => f.write_str(url),
        }
    }
}

/// Everything the server needs to know. Call [`ServerConfig::validate`] before use.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ServerConfig {
    /// Address to listen on. Use 0.0.0.0:8080 to accept other hosts; port 0 picks a free port
    /// (the chosen address is printed on start).
    #[arg(long, env = "HERALD_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// URL clients use to reach the hub; relative topics and URL patterns resolve against it.
    #[arg(long, env = "HERALD_PUBLIC_URL", value_name = "URL", default_value = "http://localhost:8080/")]
    pub public_url: Url,
    /// PEM file with the TLS certificate chain, leaf first. With --tls-key the hub serves HTTPS,
    /// and HTTP/2 to clients that offer it (browsers do), so all of a page's event streams share
    /// one connection.
    #[arg(long, env = "HERALD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// PEM file with the private key of --tls-cert (PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, env = "HERALD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Limits on connections.
    #[command(flatten)]
    pub connections: ConnectionLimits,
    /// Where history is kept: `disk` (durable, in --data-dir), `memory` (lost on restart), or a
    /// log shared by several Herald nodes: `redis://HOST:PORT[/DB][?stream=NAME]` (Redis Streams)
    /// or `nats://HOST:PORT[?stream=NAME]` (NATS JetStream; start nats-server with `-js`). Every
    /// node of a cluster names the same one, and the same keys.
    #[arg(long, env = "HERALD_STORE", value_name = "KIND|URL", default_value = "disk")]
    pub store: StoreKind,
    /// Directory of the disk store. Created if missing; refused if in use by another hub or
    /// unreadable.
    #[arg(long, env = "HERALD_DATA_DIR", value_name = "DIR", default_value = "herald-data")]
    pub data_dir: PathBuf,
    /// The hub's own settings: history, cache, queues.
    #[command(flatten)]
    pub hub: HubConfig,
    /// Idle time before an event stream gets a keep-alive comment.
    #[arg(
        long,
        env = "HERALD_HEARTBEAT",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "15s"
    )]
    pub heartbeat: Duration,
    /// Reconnection delay advised to clients (`retry:` field).
    #[arg(
        long,
        env = "HERALD_RETRY",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "2s"
    )]
    pub retry: Option<Duration>,
    /// Up to this many percent are added at random to each connection's `retry:` advice, so
    /// that clients cut off together (a restart, a network blip) do not all come back at once.
    #[arg(
        long,
        env = "HERALD_RETRY_JITTER",
        value_name = "PERCENT",
        default_value = "50",
        value_parser = clap::value_parser!(u16).range(0..=100)
    )]
    pub retry_jitter: u16,
    /// On shutdown (SIGTERM, Ctrl-C), end the subscriptions one by one over this period, so that
    /// their clients come back spread out instead of all at once (rolling restarts); `0s` ends
    /// them all at once.
    #[arg(
        long,
        env = "HERALD_DRAIN_PERIOD",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "5s"
    )]
    pub drain_period: Duration,
    /// Longest a long-poll request waits for events; longer `timeout`s are cut to this.
    #[arg(
        long,
        env = "HERALD_LONG_POLL_MAX",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "60s"
    )]
    pub long_poll_max: Duration,
    /// Origin allowed to use the hub from browsers, e.g. `https://app.example.com` (repeatable or
    /// comma-separated; `*` allows any origin, without cookies). Without any: same origin only.
    #[arg(long = "cors-origin", env = "HERALD_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,
    /// Do not run the demo publishers (the clock's `server-time` event every second on
    /// `/demo/clock`, the ticker's `quote` events on `/demo/stocks/<SYMBOL>`, the poker table on
    /// `/demo/poker/…`). The pages stay.
    #[arg(
        id = "no_demo",
        long = "no-demo",
        alias = "no-demo-clock",
        env = "HERALD_NO_DEMO",
        action = ArgAction::SetTrue,
        value_parser = BoolValueParser::new().map(|no_demo| !no_demo)
    )]
    pub demo: bool,
    /// How long the poker table's bots think before acting (between half and one and a half
    /// times this); the pause between hands is four times it. `0s` plays as fast as the hub
    /// publishes (for load tests).
    #[arg(long, env = "HERALD_DEMO_POKER_PACE", value_parser = herald_core::config::parse_duration, default_value = "800ms", value_name = "DURATION")]
    pub demo_poker_pace: Duration,
    /// Serve `/metrics` on this address instead of the hub's, e.g. `127.0.0.1:9090`, so that
    /// only the monitoring system reaches it; the hub's own address then answers 404 there.
    #[arg(long, env = "HERALD_METRICS_ADDR", value_name = "ADDR")]
    pub metrics_addr: Option<SocketAddr>,
    /// Require `Authorization: Bearer TOKEN` on `/metrics`, wherever it is served; others get
    /// `401`.
    #[arg(long, env = "HERALD_METRICS_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub metrics_token: Option<crate::auth::Secret>,
    /// Track active subscriptions (Mercure's "active subscriptions"): publish a private event,
    /// typed `mercure`, on `/.well-known/mercure/subscriptions/{match_type}/{match}/{subscriber}`
    /// whenever a subscription starts or ends, on every transport, and serve the subscriptions
    /// API under `/.well-known/mercure/subscriptions`.
    #[arg(long, env = "HERALD_SUBSCRIPTIONS")]
    pub subscriptions: bool,
    /// With --subscriptions: how long a long-polling, polling or Bayeux client stays present
    /// after its last request ended, waiting for its next one. A client that stops polling
    /// leaves after this; keep it above the clients' pause between two requests.
    #[arg(
        long,
        env = "HERALD_PRESENCE_WINDOW",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "10s"
    )]
    pub presence_window: Duration,
    /// With --subscriptions: instead of one event per subscription that starts or ends, publish
    /// at most one summary event per topic matcher and interval, on the matcher's collection
    /// (`/.well-known/mercure/subscriptions/{match_type}/{match}`), with its subscriber count
    /// and how many joined and left: for rooms with thousands of spectators. `0` is off.
    #[arg(
        long,
        env = "HERALD_SUBSCRIPTIONS_COALESCE",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration
    )]
    pub subscriptions_coalesce: Option<Duration>,
    /// With --subscriptions on a shared log: how often this node publishes its subscriptions
    /// for the others. A node not heard from for three of these leaves the cluster's presence.
    #[arg(
        long,
        env = "HERALD_PRESENCE_HEARTBEAT",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "5s"
    )]
    pub presence_heartbeat: Duration,
    /// Serve a WebSocket echo endpoint at /ws-echo, for protocol conformance tests only.
    #[arg(long, hide = true)]
    pub ws_echo: bool,
    /// Size limits on requests.
    #[command(flatten)]
    pub limits: Limits,
    /// The Bayeux endpoint's timings and limits.
    #[command(flatten)]
    pub bayeux: BayeuxConfig,
    /// JWT keys and authorization policy.
    #[command(flatten)]
    pub auth: AuthConfig,
    /// The certificate and key to serve HTTPS with, from `tls_cert` and `tls_key` (filled in by
    /// [`ServerConfig::validate`]); `None` serves cleartext HTTP.
    #[arg(skip)]
    pub tls: Option<TlsFiles>,
}

/// Size limits on requests; exceeding one is refused with the status its help gives.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct Limits {
    /// Largest publish request body, and largest WebSocket message, in bytes (413).
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", value_name = "BYTES", default_value = "1048576")]
    pub max_body_bytes: usize,
    /// Longest topic, id or type, in bytes (413).
    #[arg(long, env = "HERALD_MAX_FIELD_BYTES", value_name = "BYTES", default_value = "4096")]
    pub max_field_bytes: usize,
    /// Most topics in one publish (413).
    #[arg(long, env = "HERALD_MAX_TOPICS_PER_PUBLISH", value_name = "N", default_value = "32")]
    pub max_topics_per_publish: usize,
    /// Most updates in one batch publish (an NDJSON body, a WebSocket `publish_batch`) (413).
    #[arg(long, env = "HERALD_MAX_BATCH_UPDATES", value_name = "N", default_value = "10000")]
    pub max_batch_updates: usize,
    /// Most topic matchers in one subscription (400).
    #[arg(long, env = "HERALD_MAX_MATCHERS", value_name = "N", default_value = "32")]
    pub max_matchers: usize,
    /// Most publishes per publisher (token subject, else client address), e.g. `100/s`,
    /// `6000/min`; past it, 429 with Retry-After. Unset: unlimited.
    #[arg(long, env = "HERALD_PUBLISH_RATE", value_name = "N/PERIOD")]
    pub publish_rate: Option<Rate>,
}

/// The Bayeux endpoint (`/cometd`): how long a `/meta/connect` waits, when a session is
/// forgotten, and its limits.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct BayeuxConfig {
    /// Longest a Bayeux `/meta/connect` waits for events (the `timeout` advised to clients).
    #[arg(
        long = "bayeux-timeout",
        id = "bayeux_timeout",
        env = "HERALD_BAYEUX_TIMEOUT",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "30s"
    )]
    pub timeout: Duration,
    /// A Bayeux session whose client sends no `/meta/connect` for this long after its last
    /// reply is dropped (its client then handshakes again).
    #[arg(
        long = "bayeux-session-timeout",
        id = "bayeux_session_timeout",
        env = "HERALD_BAYEUX_SESSION_TIMEOUT",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "30s"
    )]
    pub session_timeout: Duration,
    /// Most messages in one Bayeux request or WebSocket message (HTTP 413, close code 1009).
    #[arg(
        long = "bayeux-max-messages",
        id = "bayeux_max_messages",
        env = "HERALD_BAYEUX_MAX_MESSAGES",
        value_name = "N",
        default_value = "100"
    )]
    pub max_messages: usize,
    /// Most Bayeux sessions from one client address (a handshake past it fails with 429).
    #[arg(
        long = "bayeux-sessions-per-ip",
        id = "bayeux_sessions_per_ip",
        env = "HERALD_BAYEUX_SESSIONS_PER_IP",
        value_name = "N",
        default_value = "1000"
    )]
    pub sessions_per_client: usize,
}

/// A configuration that cannot run; each message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A CORS origin that is not `scheme://host[:port]`.
    #[error("invalid CORS origin {0:?}: write it as scheme://host[:port], e.g. https://app.example.com")]
    CorsOrigin(String),
    /// A certificate without its key.
    #[error("--tls-cert needs --tls-key too: give the certificate's private key (PEM)")]
    TlsKeyMissing,
    /// A key without its certificate.
    #[error("--tls-key needs --tls-cert too: give the certificate chain (PEM)")]
    TlsCertMissing,
    /// A connection limit of zero.
    #[error("--max-connections and --max-connections-per-ip must be at least 1")]
    NoConnections,
    /// A connection timeout of zero.
    #[error("--header-read-timeout and --idle-timeout must be longer than 0s")]
    ZeroTimeout,
    /// A request head limit below what the HTTP stack accepts.
    #[error("--max-header-bytes must be at least 8192")]
    SmallHeaderLimit,
    /// A queue that holds nothing.
    #[error("--queue-capacity must be at least 1")]
    ZeroQueueCapacity,
    /// A heartbeat of zero.
    #[error("--heartbeat must be longer than 0s")]
    ZeroHeartbeat,
    /// A key given both as a secret and as a file; the flag's name without `--`.
    #[error("give --{0} or --{0}-file, not both")]
    KeyTwice(&'static str),
    /// A role's key given both as a key and as a JWK Set; the flags' prefix without `--`.
    #[error("give --{0}-key (or --{0}-key-file) or --{0}-jwks-url, not both")]
    KeyAndJwks(&'static str),
    /// A JWT key file that cannot be read.
    #[error("cannot read JWT key file {}: {source}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No publisher key on an address other hosts reach, without `--no-auth`.
    #[error(
        "listening on {0} without a JWT key would let anyone who reaches it publish: give --jwt-key \
         (see the README's Security section), or --no-auth to run open on a trusted network"
    )]
    OpenToTheNetwork(SocketAddr),
}

impl ServerConfig {
    /// Checks what each value's parser cannot check alone, reads the JWT key files, and fills in
    /// the fields that are not settings: `hub.hub_url`, `tls`, `auth.publisher_key` and
    /// `auth.subscriber_key`. Idempotent: they are derived from the settings each time.
    pub fn validate(mut self) -> Result<Self, ConfigError> {
        for origin in &self.cors_origins {
            check_origin(origin)?;
        }
        self.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert: cert.clone(), key: key.clone() }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::TlsKeyMissing),
            (None, Some(_)) => return Err(ConfigError::TlsCertMissing),
        };
        let connections = &self.connections;
        if connections.max_connections == 0 || connections.max_connections_per_ip == 0 {
            return Err(ConfigError::NoConnections);
        }
        if connections.header_read_timeout.is_zero() || connections.idle_timeout.is_zero() {
            return Err(ConfigError::ZeroTimeout);
        }
        if connections.max_header_bytes < crate::listener::MIN_HEADER_BYTES {
            return Err(ConfigError::SmallHeaderLimit);
        }
        if self.hub.queue_capacity == 0 {
            return Err(ConfigError::ZeroQueueCapacity);
        }
        if self.heartbeat.is_zero() {
            return Err(ConfigError::ZeroHeartbeat);
        }
        self.auth.load_keys()?;
        // Open publishing is for a laptop: reachable from other hosts, a hub needs a key (or says so).
        if self.auth.publisher_key.is_none() && !self.addr.ip().is_loopback() && !self.auth.no_auth {
            return Err(ConfigError::OpenToTheNetwork(self.addr));
        }
        self.hub.hub_url = self.public_url.clone();
        self.hub.hub_url.set_path(herald_core::HUB_PATH);
        self.hub.hub_url.set_query(None);
        self.hub.hub_url.set_fragment(None);
        Ok(self)
    }
}

/// An origin is `*` or `scheme://host[:port]`, with nothing after.
fn check_origin(origin: &str) -> Result<(), ConfigError> {
    if origin == "*" {
        return Ok(());
    }
    let bad = || ConfigError::CorsOrigin(origin.to_owned());
    let url = Url::parse(origin).map_err(|_| bad())?;
    if url.host().is_none() || url.origin().ascii_serialization() != origin.trim_end_matches('/') {
        return Err(bad());
    }
    Ok(())
}

impl Default for ServerConfig {
    fn default() -> Self {
        defaults()
    }
}

impl Default for Limits {
    fn default() -> Self {
        defaults()
    }
}

/// The settings of `T` when no flag is given and no variable is set: the defaults its arguments
/// declare (the environment is ignored, so it never leaks into `Default`).
pub(crate) fn defaults<T: Args + FromArgMatches>() -> T {
    let command =
        T::augment_args(clap::Command::new("defaults").no_binary_name(true)).mut_args(|arg| arg.env(None::<&str>));
    let matches = command.try_get_matches_from(std::iter::empty::<&str>()).expect("the declared defaults parse");
    T::from_arg_matches(&matches).expect("the declared defaults fill every setting")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServerConfig, clap::Error> {
        let command = ServerConfig::augment_args(clap::Command::new("serve").no_binary_name(true))
            .mut_args(|arg| arg.env(None::<&str>));
        ServerConfig::from_arg_matches(&command.try_get_matches_from(args)?)
    }

    #[test]
    fn defaults_are_the_declared_ones() {
        let config = ServerConfig::default();
        assert_eq!(config, parse(&[]).unwrap());
        assert_eq!(config.addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.public_url.as_str(), "http://localhost:8080/");
        assert_eq!((config.store, config.data_dir.to_str()), (StoreKind::Disk, Some("herald-data")));
        assert_eq!(config.hub, HubConfig::default());
        assert_eq!((config.heartbeat, config.retry), (Duration::from_secs(15), Some(Duration::from_secs(2))));
        assert_eq!(config.long_poll_max, Duration::from_secs(60));
        assert!(config.demo && !config.ws_echo && config.cors_origins.is_empty() && config.tls.is_none());
        assert_eq!((config.limits.max_body_bytes, config.limits.max_field_bytes), (1024 * 1024, 4096));
        assert_eq!((config.limits.max_topics_per_publish, config.limits.max_matchers), (32, 32));
        assert_eq!(config.limits.publish_rate, None);
        assert_eq!(config.connections.max_connections, 10_000);
        assert_eq!(config.connections.max_connections_per_ip, 256);
        assert_eq!(config.connections.header_read_timeout, Duration::from_secs(10));
        assert_eq!(config.connections.idle_timeout, Duration::from_secs(120));
        assert_eq!(config.auth, AuthConfig::default());
        assert!(config.auth.jwt_key.is_none() && !config.auth.anonymous && !config.auth.no_auth);
    }

    #[test]
    fn the_request_head_limit_has_the_http_stacks_floor() {
        let small = parse(&["--max-header-bytes", "8191"]).unwrap().validate();
        assert!(matches!(small, Err(ConfigError::SmallHeaderLimit)), "{small:?}");
        assert_eq!(
            parse(&["--max-header-bytes", "65536"]).unwrap().validate().unwrap().connections.max_header_bytes,
            65536
        );
    }

    #[test]
    fn no_demo_turns_the_demos_off() {
        assert!(!parse(&["--no-demo"]).unwrap().demo);
        assert!(!parse(&["--no-demo-clock"]).unwrap().demo);
    }

    #[test]
    fn origins_must_be_bare() {
        for ok in ["*", "https://app.example.com", "http://localhost:3000", "https://a.example/"] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in ["app.example.com", "https://a.example/path", "https://a.example?x", "nonsense"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_checks_and_derives() {
        let config = parse(&["--public-url", "https://push.example.com/base?x=1", "--jwt-key", "s"]).unwrap();
        let config = config.validate().unwrap();
        assert_eq!(config.hub.hub_url.as_str(), "https://push.example.com/.well-known/mercure");
        assert!(config.auth.publisher_key.is_some() && config.auth.subscriber_key.is_some());
        let config = parse(&["--tls-cert", "c.pem", "--tls-key", "k.pem"]).unwrap().validate().unwrap();
        assert_eq!(config.tls, Some(TlsFiles { cert: "c.pem".into(), key: "k.pem".into() }));

        let error = |args: &[&str]| parse(args).unwrap().validate().unwrap_err().to_string();
        assert!(error(&["--tls-cert", "c.pem"]).starts_with("--tls-cert needs --tls-key too"));
        assert!(error(&["--tls-key", "k.pem"]).starts_with("--tls-key needs --tls-cert too"));
        assert!(error(&["--max-connections-per-ip", "0"]).contains("at least 1"));
        assert!(error(&["--idle-timeout", "0s"]).contains("longer than 0s"));
        assert!(error(&["--queue-capacity", "0"]).contains("--queue-capacity"));
        assert!(error(&["--heartbeat", "0s"]).contains("--heartbeat"));
        assert!(error(&["--cors-origin", "app.example.com"]).contains("invalid CORS origin"));
        assert!(error(&["--jwt-key-file", "/nonexistent/key.pem"]).contains("cannot read JWT key file"));
        let open = error(&["--addr", "0.0.0.0:8080"]);
        assert!(open.contains("--jwt-key") && open.contains("--no-auth"), "{open}");
        assert!(parse(&["--addr", "0.0.0.0:8080", "--no-auth"]).unwrap().validate().is_ok());
    }

    #[test]
    fn a_role_key_wins_over_the_shared_one() {
        let config = parse(&["--jwt-key", "shared", "--subscriber-jwt-key", "own"]).unwrap().validate().unwrap();
        let secret = |key: Option<crate::auth::KeyConfig>| match key.map(|k| k.material) {
            Some(crate::auth::KeyMaterial::Secret(secret)) => secret,
            other => panic!("{other:?}"),
        };
        assert_eq!(secret(config.auth.publisher_key), b"shared");
        assert_eq!(secret(config.auth.subscriber_key), b"own");
        // Both forms of one key on the command line: clap refuses them together.
        assert!(parse(&["--jwt-key", "s", "--jwt-key-file", "k.pem"]).is_err());
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let config = parse(&["--jwt-key", "hunter2"]).unwrap().validate().unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
