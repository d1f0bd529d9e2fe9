//! Command-line interface: subcommands, flags and their `HERALD_*` environment variables.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use herald_server::ServerConfig;
use url::Url;

/// Herald, a real-time server-push hub.
///
/// Browsers keep one long-lived connection to Herald (Server-Sent Events); any application pushes
/// an event to them with one HTTP POST. The HTTP API follows the Mercure protocol.
#[derive(Debug, Parser)]
#[command(name = "herald", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Log filter, e.g. `info`, `debug`, `herald_server=trace`.
    #[arg(long, global = true, env = "HERALD_LOG", default_value = "info")]
    pub log: String,

    /// Log lines as human-readable text, or as one JSON object per line (for log shippers).
    #[arg(long, global = true, env = "HERALD_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written (on standard error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum LogFormat {
    /// `2026-01-01T00:00:00Z  INFO target: message key=value`, coloured on a terminal.
    Text,
    /// `{"timestamp":…,"level":"INFO","fields":{"message":…},"target":…}`.
    Json,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
    /// Print a configuration file for `herald serve --config`, with every setting at its default.
    ///
    /// A TOML file with each setting `herald serve` takes: a comment with its meaning (its
    /// `--help` text), its flag and its environment variable, then the key at its default value;
    /// settings without a default are commented out. It is generated from the settings'
    /// definitions, so it always lists them all. Save it, edit it, and check it with `herald
    /// check-config`.
    ///
    /// Example: herald genconfig > herald.toml
    Genconfig,
    /// Check a configuration file without starting the hub.
    ///
    /// Reads the file as `herald serve --config FILE` does and reports each problem as
    /// `FILE:LINE:COLUMN: message` on standard error: TOML syntax errors, unknown keys, values of
    /// the wrong type or that do not parse (a bad duration, address or number), then the checks
    /// `herald serve` makes before it starts (settings that do not go together, JWT key and TLS
    /// files that cannot be read or used). Exits with 0 and prints "FILE is valid" when there is
    /// none, else with 1. The environment's `HERALD_*` variables are ignored: the file is checked
    /// with the built-in defaults for what it does not set. Paths in it are relative to the
    /// working directory, as for `herald serve`.
    #[command(name = "check-config")]
    CheckConfig(CheckConfigArgs),
    /// Print a shell completion script for every command and flag.
    ///
    /// Bash: herald completions bash > ~/.local/share/bash-completion/completions/herald
    ///
    /// Zsh: herald completions zsh > ~/.zfunc/_herald (with `fpath+=(~/.zfunc)` before `compinit`
    /// in ~/.zshrc)
    ///
    /// Fish: herald completions fish > ~/.config/fish/completions/herald.fish
    Completions(CompletionsArgs),
    /// Print a manual page (roff), generated from the command-line definition.
    ///
    /// `herald man` prints herald(1), which lists the commands; `herald man serve` prints
    /// herald-serve(1) with every flag, its environment variable and its default, and likewise for
    /// each command. Read one with `herald man serve | man -l -`; `--out-dir` writes them all,
    /// e.g. for a package's man1 directory.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CheckConfigArgs {
    /// The TOML configuration file to check.
    #[arg(value_name = "FILE", env = "HERALD_CONFIG")]
    pub file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write the script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The command whose page to print, e.g. `serve`; without it, the page of `herald` itself.
    #[arg(value_name = "COMMAND")]
    pub command: Option<String>,
    /// Write every page (herald.1, herald-serve.1, …) into this directory instead, and print
    /// their paths.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file (keys are the flag names with `_` for `-`).
    #[arg(id = "config_file", long = "config", short = 'c', env = "HERALD_CONFIG", value_name = "FILE")]
    pub config_file: Option<PathBuf>,

    #[command(flatten)]
    pub config: ServerConfig,
}

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
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
pub(crate) struct SubscribeArgs {
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
pub(crate) struct TokenArgs {
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
