//! `herald bench`: the load generator's command-line flags, mapped onto `herald-bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use herald_bench::{BenchConfig, Churn, Pace, PayloadStyle, Storm, Target, Transport, Watch};

/// Flags of `herald bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Kind of hub under test; decides the URLs and the publish format (faye: Faye's Node.js
    /// server, Bayeux at /faye, publishes as Bayeux messages; bayeux-* transports only).
    #[arg(long, value_enum, default_value = "herald")]
    pub target: TargetArg,
    /// How subscribers receive events (long-poll and mixed, each in turn: Herald only;
    /// bayeux-ws and bayeux-long-poll: Bayeux handshake, subscribe and connects over a
    /// WebSocket or long-polling, at Herald's /cometd or Faye's /faye).
    #[arg(long, value_enum, default_value = "sse")]
    pub transport: TransportArg,
    /// Base URL subscribers connect to (and Herald, nchan and Faye take publishes on).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Where publishes go when not at --url: Pushpin's HTTP control API (e.g.
    /// http://127.0.0.1:5561), or for Herald another node of the same cluster (subscribers on
    /// --url, publishes here, so every event crosses the shared log).
    #[arg(long, value_name = "URL")]
    pub control: Option<String>,
    /// Subscribers (one connection each).
    #[arg(long, short = 'n', default_value_t = 1000, conflicts_with = "publish_only")]
    pub subscribers: usize,
    /// Topics; subscriber i listens to topic i % topics.
    #[arg(long, default_value_t = 1)]
    pub topics: usize,
    /// Topic i is named PREFIX followed by i (two runs on one hub need different prefixes);
    /// Bayeux topics are channels, so a path there [default: bench-, /bench/t for Bayeux].
    #[arg(long, value_name = "PREFIX")]
    pub topic_prefix: Option<String>,
    /// Messages to publish in total, spread over the topics round-robin.
    #[arg(long, short = 'm', default_value_t = 500)]
    pub messages: usize,
    /// Payload size in bytes (it holds the sequence number and the send time).
    #[arg(long, default_value_t = 100)]
    pub payload_size: usize,
    /// What fills each payload after its numbers: `filler` (x's, compresses unrealistically
    /// well) or `json` (JSON-like quotes, about as compressible as real events).
    #[arg(long, value_enum, default_value = "filler")]
    pub payload_style: PayloadStyleArg,
    /// WebSocket subscribers offer permessage-deflate (RFC 7692) and inflate what they receive;
    /// a target that declines the offer fails them. The report gives the bytes received per
    /// delivery either way.
    #[arg(long)]
    pub ws_deflate: bool,
    /// Publish at this many messages per second in total (default: as fast as possible).
    #[arg(long, value_name = "MSG_PER_S")]
    pub rate: Option<f64>,
    /// Concurrent publishers, each with its own connection.
    #[arg(long, default_value_t = 4)]
    pub publishers: usize,
    /// Messages per publish request: more than 1 sends them as one NDJSON batch (Herald only),
    /// each message acknowledged with its batch.
    #[arg(long, default_value_t = 1, value_name = "MESSAGES")]
    pub batch: usize,
    /// Connect and measure memory only; publish nothing.
    #[arg(long, conflicts_with = "rate")]
    pub idle: bool,
    /// Publish with no subscribers at all and report publishes per second and the target's CPU
    /// per publish (with --pid): the cost of accepting, and storing, events by themselves.
    #[arg(long, conflicts_with_all = ["idle", "churn", "storm"])]
    pub publish_only: bool,
    /// Churn: each subscriber connects, receives --events-per-connection events, disconnects and
    /// starts over, for --duration, while --rate messages per second are published; the target's
    /// memory and open descriptors (--pid) are sampled every --sample-every.
    #[arg(long, requires = "rate", conflicts_with = "idle")]
    pub churn: bool,
    /// How long a churn run lasts; in a storm, how long publishing goes on after the restart
    /// began; in a watch, how long the measured window lasts.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Events a churning subscriber receives on each connection.
    #[arg(long, default_value_t = 3, requires = "churn")]
    pub events_per_connection: u64,
    /// How often a churn run reads the target's memory and descriptors (a storm: its CPU and
    /// memory).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub sample_every: Duration,
    /// Reconnect storm: connect every SSE subscriber, publish at --rate, after --restart-after
    /// run the shell command CMD (which restarts the target), keep publishing for --duration,
    /// and measure how long each subscriber took to be back, failed attempts, losses and
    /// repeats, and the target's peak CPU and memory (its pid read from --pid-file). Each
    /// subscriber reconnects as a browser's EventSource does (its `retry:` advice, then
    /// `Last-Event-ID`); publishers retry each message, with an id, until acknowledged.
    #[arg(long, value_name = "CMD", requires = "rate", conflicts_with_all = ["idle", "churn"])]
    pub storm: Option<String>,
    /// Watch: hold --subscribers SSE spectators on TOPIC, which another program publishes on
    /// (e.g. the demo poker table, `/demo/poker/table`), for --duration, publishing nothing;
    /// then check that every spectator received every event once and in order, against one
    /// another and against the hub's replay.
    #[arg(long, value_name = "TOPIC", conflicts_with_all = ["idle", "churn", "storm", "publish_only"])]
    pub watch: Option<String>,
    /// In a storm, how long to publish before the restart.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration, requires = "storm")]
    pub restart_after: Duration,
    /// A file holding the target's process id, read at every sample instead of --pid (a
    /// restart, as in a storm, rewrites it).
    #[arg(long, value_name = "PATH", conflicts_with = "pids")]
    pub pid_file: Option<PathBuf>,
    /// Token sent as `Authorization: Bearer` with each publish.
    #[arg(long, value_name = "JWT")]
    pub publish_token: Option<String>,
    /// Token sent as `Authorization: Bearer` by each subscriber (for a hub started with a JWT key).
    #[arg(long, value_name = "JWT")]
    pub subscribe_token: Option<String>,
    /// Process id of the target, for its memory and CPU time (repeatable: all are summed).
    #[arg(long = "pid")]
    pub pids: Vec<u32>,
    /// Loopback source addresses to spread subscribers over (127.0.0.1, 127.0.0.2, …).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..))]
    pub source_addrs: u8,
    /// Connections being opened at once.
    #[arg(long, default_value_t = 200)]
    pub connect_concurrency: usize,
    /// Pause once every subscriber is ready, before measuring memory and publishing.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// After publishing, how long without a delivery before the rest counts as lost.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub drain_timeout: Duration,
    /// After publishing, the longest wait for deliveries even while they still arrive.
    #[arg(long, default_value = "300s", value_parser = humantime::parse_duration)]
    pub drain_deadline: Duration,
    /// Write the JSON report to this file instead of printing it as the last line.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Fail (exit status 1) unless nothing was lost, duplicated or reordered.
    #[arg(long)]
    pub check: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TargetArg {
    Herald,
    Nchan,
    Pushpin,
    Faye,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TransportArg {
    Sse,
    Ws,
    LongPoll,
    Mixed,
    BayeuxWs,
    BayeuxLongPoll,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum PayloadStyleArg {
    Filler,
    Json,
}

pub(crate) async fn run(args: BenchArgs) -> Result<(), String> {
    let target = match args.target {
        TargetArg::Herald => Target::Herald,
        TargetArg::Nchan => Target::Nchan,
        TargetArg::Pushpin => Target::Pushpin,
        TargetArg::Faye => Target::Faye,
    };
    let transport = match args.transport {
        TransportArg::Sse => Transport::Sse,
        TransportArg::Ws => Transport::Ws,
        TransportArg::LongPoll => Transport::LongPoll,
        TransportArg::Mixed => Transport::Mixed,
        TransportArg::BayeuxWs => Transport::BayeuxWs,
        TransportArg::BayeuxLongPoll => Transport::BayeuxLongPoll,
    };
    let mut config = BenchConfig::new(target, transport, args.url);
    config.control = args.control;
    config.subscribers = if args.publish_only { 0 } else { args.subscribers };
    config.publish_only = args.publish_only;
    config.topics = args.topics;
    if let Some(prefix) = args.topic_prefix {
        config.topic_prefix = prefix;
    }
    config.messages = args.messages;
    config.payload_size = args.payload_size;
    config.payload_style = match args.payload_style {
        PayloadStyleArg::Filler => PayloadStyle::Filler,
        PayloadStyleArg::Json => PayloadStyle::Json,
    };
    config.ws_deflate = args.ws_deflate;
    config.pace = match (args.idle, args.rate) {
        (true, _) => Pace::Idle,
        (false, Some(per_second)) => Pace::Rate { per_second },
        (false, None) => Pace::Burst,
    };
    config.publishers = args.publishers;
    config.batch = args.batch;
    config.publish_token = args.publish_token;
    config.subscribe_token = args.subscribe_token;
    config.pids = args.pids;
    config.pid_file = args.pid_file;
    config.source_addrs = herald_bench::loopback_sources(args.source_addrs);
    config.connect_concurrency = args.connect_concurrency;
    config.settle = args.settle;
    config.drain_timeout = args.drain_timeout;
    config.drain_deadline = args.drain_deadline;
    config.progress = !args.no_progress;
    if let Some(restart) = args.storm {
        config.storm =
            Some(Storm { restart, before: args.restart_after, after: args.duration, sample_every: args.sample_every });
        let report = herald_bench::storm(&config).await?;
        print!("{}", report.table());
        write_json(args.json.as_deref(), report.to_json())?;
        if args.check && !report.is_clean() {
            return Err("subscribers were not back, or messages were lost, duplicated or reordered".into());
        }
        return Ok(());
    }
    if let Some(topic) = args.watch {
        config.watch = Some(Watch { topic, duration: args.duration });
        let report = herald_bench::watch(&config).await?;
        print!("{}", report.table());
        write_json(args.json.as_deref(), report.to_json())?;
        if args.check && !report.is_clean() {
            return Err("spectators missed, repeated or reordered events, or did not connect".into());
        }
        return Ok(());
    }
    if args.churn {
        config.churn = Some(Churn {
            duration: args.duration,
            events_per_connection: args.events_per_connection,
            sample_every: args.sample_every,
        });
        let report = herald_bench::churn(&config).await?;
        print!("{}", report.table());
        return write_json(args.json.as_deref(), report.to_json());
    }

    let report = herald_bench::run(&config).await?;
    print!("{}", report.table());
    write_json(args.json.as_deref(), report.to_json())?;
    if args.check && !report.is_clean() {
        return Err("messages were lost, duplicated or reordered, or connections failed".into());
    }
    Ok(())
}

/// Writes the JSON report to `path`, or prints it as the last line.
fn write_json(path: Option<&std::path::Path>, json: String) -> Result<(), String> {
    match path {
        Some(path) => std::fs::write(path, json + "\n").map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            println!("{json}");
            Ok(())
        }
    }
}
