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
    Serve(ServeArgs),
    /// Publish one event and print the id the hub gave it.
    Publish(PublishArgs),
    /// Print events as they arrive, reconnecting (and resuming) by itself.
    Subscribe(SubscribeArgs),
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

    /// Origin allowed to use the hub from browsers, e.g. https://app.example.com (repeatable or
    /// comma-separated; `*` allows any origin, without cookies). Default: same origin only.
    #[arg(long = "cors-origin", env = "HERALD_CORS_ORIGINS", value_delimiter = ',', value_name = "ORIGIN")]
    pub cors_origins: Vec<String>,

    /// Do not publish the demo clock's `server-time` event every second.
    #[arg(long, env = "HERALD_NO_DEMO_CLOCK")]
    pub no_demo_clock: bool,

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
}
