//! Command-line interface: subcommands, flags and their `HERALD_*` environment variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use url::Url;

/// Herald, a real-time server-push hub.
///
/// Browsers keep one long-lived connection to Herald (Server-Sent Events); any application pushes
/// an event to them with one HTTP POST. The HTTP API follows the Mercure protocol.
#[derive(Debug, Parser)]
#[command(name = "herald", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log filter, e.g. `info`, `debug`, `herald_server=trace`.
    #[arg(long, global = true, env = "HERALD_LOG", default_value = "info")]
    pub log: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the hub.
    ///
    /// Every setting can come from a flag, a `HERALD_*` environment variable, or a TOML file
    /// given with --config (keys are the flag names with `_` for `-`); flags win over the
    /// environment, which wins over the file.
    Serve(Box<ServeArgs>),
    /// Publish one event and print the id the hub gave it.
    Publish(PublishArgs),
    /// Print events as they arrive, reconnecting (and resuming) by itself.
    Subscribe(SubscribeArgs),
    /// Mint a JWT granting publish and/or subscribe rights, for tests and demos.
    ///
    /// Example: herald token --key "$HERALD_JWT_KEY" --publish '*' --subscribe '/users/42/*'
    Token(TokenArgs),
    /// Load generator: many subscribers, sequenced publishes; throughput, latency, loss, and
    /// the target's CPU and memory.
    Bench(crate::bench::BenchArgs),
}

/// Where the hub keeps history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded durable store (survives restarts and crashes).
    Disk,
    /// Memory only.
    Memory,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, short = 'c', env = "HERALD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Address to listen on [default: 127.0.0.1:8080]. Use 0.0.0.0:8080 to accept other hosts;
    /// port 0 picks a free port (the chosen address is printed on start).
    #[arg(long, env = "HERALD_ADDR")]
    pub addr: Option<SocketAddr>,

    /// URL clients use to reach the hub; relative topics and URL patterns resolve against it
    /// [default: http://localhost:8080/].
    #[arg(long, env = "HERALD_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<Url>,

    /// PEM file with the TLS certificate chain, leaf first. With --tls-key the hub serves HTTPS,
    /// and HTTP/2 to clients that offer it (browsers do), so all of a page's event streams share
    /// one connection.
    #[arg(long, env = "HERALD_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of --tls-cert (PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, env = "HERALD_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// Most open connections; past it, new ones are answered 503 (with TLS: closed at once)
    /// [default: 10000].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS", value_name = "N")]
    pub max_connections: Option<usize>,

    /// Most open connections from one IP address; past it, new ones are answered 429 (with TLS:
    /// closed at once) [default: 256].
    #[arg(long, env = "HERALD_MAX_CONNECTIONS_PER_IP", value_name = "N")]
    pub max_connections_per_ip: Option<usize>,

    /// Time a client has to finish the TLS handshake and send a whole request head; a kept-alive
    /// HTTP/1.1 connection must send its next request head within it too [default: 10s].
    #[arg(long, env = "HERALD_HEADER_READ_TIMEOUT", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub header_read_timeout: Option<Duration>,

    /// Close a connection that has no request in progress and sent nothing either way for this
    /// long; event streams are never idle [default: 120s].
    #[arg(long, env = "HERALD_IDLE_TIMEOUT", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub idle_timeout: Option<Duration>,

    /// Where history is kept: `disk` (durable, in --data-dir) or `memory` (lost on restart)
    /// [default: disk].
    #[arg(long, env = "HERALD_STORE", value_name = "KIND")]
    pub store: Option<StoreKind>,

    /// Directory of the disk store [default: ./herald-data]. Created if missing; refused if in
    /// use by another hub or unreadable.
    #[arg(long, env = "HERALD_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Most events kept for replay to reconnecting clients [default: 10000].
    #[arg(long, env = "HERALD_HISTORY_SIZE", value_name = "EVENTS")]
    pub history_size: Option<u64>,

    /// Drop events older than this from history, e.g. `24h` [default: no age limit].
    #[arg(long, env = "HERALD_HISTORY_MAX_AGE", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub history_max_age: Option<Duration>,

    /// Keep history under this many bytes [default: no size limit].
    #[arg(long, env = "HERALD_HISTORY_MAX_BYTES", value_name = "BYTES")]
    pub history_max_bytes: Option<u64>,

    /// With the disk store: newest events also kept in memory, so most resumptions read no disk
    /// [default: 10000].
    #[arg(long, env = "HERALD_CACHE_SIZE", value_name = "EVENTS")]
    pub cache_size: Option<u64>,

    /// Events queued per connection; a client that falls further behind is disconnected and
    /// catches up from history when it reconnects [default: 1024].
    #[arg(long, env = "HERALD_QUEUE_CAPACITY", value_name = "EVENTS")]
    pub queue_capacity: Option<usize>,

    /// Idle time before an event stream gets a keep-alive comment [default: 15s].
    #[arg(long, env = "HERALD_HEARTBEAT", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub heartbeat: Option<Duration>,

    /// Reconnection delay advised to clients (`retry:` field) [default: 2s].
    #[arg(long, env = "HERALD_RETRY", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry: Option<Duration>,

    /// Longest a long-poll request waits for events; longer `timeout`s are cut to this
    /// [default: 60s].
    #[arg(long, env = "HERALD_LONG_POLL_MAX", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub long_poll_max: Option<Duration>,

    /// Origin allowed to use the hub from browsers, e.g. https://app.example.com (repeatable or
    /// comma-separated; `*` allows any origin, without cookies). Default: same origin only.
    #[arg(long = "cors-origin", env = "HERALD_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,

    /// Do not run the demo publishers (the clock's `server-time` event every second on
    /// /demo/clock, the ticker's `quote` events on /demo/stocks/<SYMBOL>). The pages stay.
    #[arg(long, alias = "no-demo-clock", env = "HERALD_NO_DEMO")]
    pub no_demo: bool,

    /// Serve a WebSocket echo endpoint at /ws-echo, for protocol conformance tests only.
    #[arg(long, hide = true)]
    pub ws_echo: bool,

    /// Largest publish request body, and largest WebSocket message, in bytes [default: 1048576].
    #[arg(long, env = "HERALD_MAX_BODY_BYTES", value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Longest topic, id or type, in bytes [default: 4096].
    #[arg(long, env = "HERALD_MAX_FIELD_BYTES", value_name = "BYTES")]
    pub max_field_bytes: Option<usize>,

    /// Most topics in one publish [default: 32].
    #[arg(long, env = "HERALD_MAX_TOPICS_PER_PUBLISH", value_name = "N")]
    pub max_topics_per_publish: Option<usize>,

    /// Most topic matchers in one subscription [default: 32].
    #[arg(long, env = "HERALD_MAX_MATCHERS", value_name = "N")]
    pub max_matchers: Option<usize>,

    /// Most publishes per publisher (token subject, else client address), e.g. `100/s`,
    /// `6000/min`; past it, 429 with Retry-After [default: unlimited].
    #[arg(long, env = "HERALD_PUBLISH_RATE", value_name = "N/PERIOD")]
    pub publish_rate: Option<herald_server::rate::Rate>,

    /// HMAC secret verifying both publishers' and subscribers' JWTs. Without any key the hub
    /// is open: anyone who can reach it may publish.
    #[arg(long, env = "HERALD_JWT_KEY", value_name = "SECRET", hide_env_values = true)]
    pub jwt_key: Option<String>,

    /// File holding the JWT key: a PEM public key (RSA, EC or Ed25519) or an HMAC secret.
    #[arg(long, env = "HERALD_JWT_KEY_FILE", value_name = "FILE")]
    pub jwt_key_file: Option<PathBuf>,

    /// The one JWT algorithm accepted, e.g. HS256, RS256, ES256, EdDSA [default: HS256 for a
    /// secret, else from the PEM key's kind].
    #[arg(long, env = "HERALD_JWT_ALG", value_name = "ALG")]
    pub jwt_alg: Option<String>,

    /// Publishers' key, when it differs from --jwt-key (recommended).
    #[arg(long, env = "HERALD_PUBLISHER_JWT_KEY", value_name = "SECRET", hide_env_values = true)]
    pub publisher_jwt_key: Option<String>,

    /// File holding the publishers' key (PEM public key or secret).
    #[arg(long, env = "HERALD_PUBLISHER_JWT_KEY_FILE", value_name = "FILE")]
    pub publisher_jwt_key_file: Option<PathBuf>,

    /// Subscribers' key, when it differs from --jwt-key (recommended).
    #[arg(long, env = "HERALD_SUBSCRIBER_JWT_KEY", value_name = "SECRET", hide_env_values = true)]
    pub subscriber_jwt_key: Option<String>,

    /// File holding the subscribers' key (PEM public key or secret).
    #[arg(long, env = "HERALD_SUBSCRIBER_JWT_KEY_FILE", value_name = "FILE")]
    pub subscriber_jwt_key_file: Option<PathBuf>,

    /// Run without a publisher key on a non-loopback address, letting anyone who reaches the
    /// hub publish (trusted networks only; on 127.0.0.1 the hub runs open without it).
    #[arg(long, env = "HERALD_NO_AUTH")]
    pub no_auth: bool,

    /// Let subscribers without a token in (they receive public updates only).
    #[arg(long, env = "HERALD_ANONYMOUS")]
    pub anonymous: bool,

    /// Also accept the token in the `authorization` query parameter (URLs end up in logs:
    /// prefer the header or the cookie).
    #[arg(long, env = "HERALD_JWT_QUERY_PARAM")]
    pub jwt_query_param: bool,

    /// Require tokens to name this audience in `aud`, e.g. the hub's URL.
    #[arg(long, env = "HERALD_JWT_AUDIENCE", value_name = "AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Require tokens to have exactly this issuer in `iss`.
    #[arg(long, env = "HERALD_JWT_ISSUER", value_name = "ISSUER")]
    pub jwt_issuer: Option<String>,
}

#[derive(Debug, Args)]
pub struct PublishArgs {
    /// Hub URL.
    #[arg(long, env = "HERALD_HUB", default_value = "http://localhost:8080/.well-known/mercure")]
    pub hub: Url,
    /// Topic of the event (repeatable: the first is canonical, the others alternates).
    #[arg(long = "topic", short = 't', required = true)]
    pub topics: Vec<String>,
    /// The event's data; `-` reads it from standard input.
    #[arg(long, short = 'd', default_value = "")]
    pub data: String,
    /// Event id (default: generated by the hub).
    #[arg(long)]
    pub id: Option<String>,
    /// Event type (the `event:` field; listeners use addEventListener(type)).
    #[arg(long = "type")]
    pub event_type: Option<String>,
    /// Reconnection delay to advise subscribers, in milliseconds.
    #[arg(long)]
    pub retry: Option<u64>,
    /// Deliver only to subscribers authorized for the topic.
    #[arg(long)]
    pub private: bool,
    /// JWT granting `publish` on the topics (see `herald token`).
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubscribeArgs {
    /// Hub URL.
    #[arg(long, env = "HERALD_HUB", default_value = "http://localhost:8080/.well-known/mercure")]
    pub hub: Url,
    /// Topic to receive (repeatable; `*` for every topic).
    #[arg(long = "match", short = 'm', required = true)]
    pub matchers: Vec<String>,
    /// Resume after this event id (`earliest` replays all history).
    #[arg(long)]
    pub last_event_id: Option<String>,
    /// Print each event as one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// JWT to present (needed when the hub refuses anonymous subscribers, and to receive
    /// private updates).
    #[arg(long, env = "HERALD_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// HMAC secret to sign with (the hub's --jwt-key).
    #[arg(long, env = "HERALD_JWT_KEY", hide_env_values = true)]
    pub key: Option<String>,
    /// File with a PEM private key (RSA, EC or Ed25519) or an HMAC secret to sign with.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Signing algorithm [default: HS256 for a secret, else from the key's kind].
    #[arg(long, env = "HERALD_JWT_ALG")]
    pub alg: Option<String>,
    /// Topic the token may publish to (repeatable): a topic, `*` for all, or
    /// `pattern:<URL pattern>` (with --legacy: a topic or URI template).
    #[arg(long, value_name = "SELECTOR")]
    pub publish: Vec<String>,
    /// Topic whose private updates the token may read (repeatable; same forms as --publish).
    #[arg(long, value_name = "SELECTOR")]
    pub subscribe: Vec<String>,
    /// Lifetime of the token (`exp`); 0 for none [default: 1h].
    #[arg(long, value_parser = humantime::parse_duration, default_value = "1h", value_name = "DURATION")]
    pub ttl: Option<Duration>,
    /// Write the legacy `mercure` claim instead of `authorization_details`.
    #[arg(long)]
    pub legacy: bool,
    /// The `sub` claim (who the token is for).
    #[arg(long, value_name = "SUBJECT")]
    pub subject: Option<String>,
    /// The `aud` claim (the hub's --jwt-audience).
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
    /// The `iss` claim (the hub's --jwt-issuer).
    #[arg(long, value_name = "ISSUER")]
    pub issuer: Option<String>,
}
