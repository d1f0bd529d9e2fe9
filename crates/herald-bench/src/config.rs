//! What one benchmark run does: the target, the transport, the load and what to measure.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

/// The hub under test, which decides the URLs and the publish format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// Herald: the Mercure endpoint, `/ws` and long-polling.
    Herald,
    /// nginx with the nchan module: `/pub?id=` and `/sub/<channel>`.
    Nchan,
    /// Pushpin: subscribers on its proxy port, publishes on its HTTP control API.
    Pushpin,
    /// Faye's Node.js server (`bench/faye/`): Bayeux at `/faye`, publishes as Bayeux messages.
    Faye,
}

/// What fills each payload after its sequence number and send time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadStyle {
    /// `x` repeated: the cheapest, and far more compressible than real events.
    #[default]
    Filler,
    /// JSON-like text with varying numbers and words, about as compressible as real events.
    Json,
}

/// How subscribers receive events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// Server-Sent Events over a raw HTTP/1.1 stream.
    Sse,
    /// WebSocket (RFC 6455).
    Ws,
    /// Long-polling: one keep-alive HTTP/1.1 request after another, each carrying the cursor.
    LongPoll,
    /// Each of the three in turn: subscriber `i` uses SSE, WebSocket or long-polling as `i % 3`
    /// is 0, 1 or 2 (Herald only).
    Mixed,
    /// Bayeux (CometD, Faye) over a WebSocket: handshake, subscribe, then one `/meta/connect`
    /// after another (Herald's `/cometd`, Faye's `/faye`).
    BayeuxWs,
    /// Bayeux over long-polling: the same messages POSTed, each `/meta/connect` held until
    /// events come.
    BayeuxLongPoll,
}

impl Transport {
    /// Whether subscribers speak Bayeux (and so need channel-like topic names).
    pub fn is_bayeux(self) -> bool {
        matches!(self, Self::BayeuxWs | Self::BayeuxLongPoll)
    }

    /// The topic prefix a run uses unless told otherwise: Bayeux channels are paths.
    pub fn default_topic_prefix(self) -> &'static str {
        if self.is_bayeux() {
            "/bench/t"
        } else {
            "bench-"
        }
    }

    /// The transport subscriber `index` uses.
    pub(crate) fn for_subscriber(self, index: usize) -> Self {
        match self {
            Self::Mixed => [Self::Sse, Self::Ws, Self::LongPoll][index % 3],
            one => one,
        }
    }
}

/// Subscribers that keep coming and going: each connects, receives a few events, disconnects
/// and starts over, for a set time, while the target's memory and descriptors are sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Churn {
    /// How long the subscribers churn (and the publishers publish).
    pub duration: Duration,
    /// Events a subscriber receives on each connection before it disconnects.
    pub events_per_connection: u64,
    /// How often the target's memory and open descriptors are read.
    pub sample_every: Duration,
}

impl Default for Churn {
    fn default() -> Self {
        Self { duration: Duration::from_secs(60), events_per_connection: 3, sample_every: Duration::from_secs(10) }
    }
}

/// A reconnect storm: every subscriber connected, then the target restarted (by a command of
/// the caller's) while publishing goes on; each subscriber reconnects as a browser's
/// EventSource would and the run measures how long each took to be back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storm {
    /// Shell command (run with `sh -c`) that restarts the target, e.g. a `SIGTERM`, a wait for
    /// the process to end, and a start of a new one; the run waits for it to finish.
    pub restart: String,
    /// How long to publish with every subscriber connected before the restart.
    pub before: Duration,
    /// How long publishing goes on after the restart command started.
    pub after: Duration,
    /// How often the target's CPU time and memory are read.
    pub sample_every: Duration,
}

/// When messages are sent.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Pace {
    /// As fast as the publishers can.
    Burst,
    /// At this many messages per second in total.
    Rate {
        /// Messages per second over all publishers; must be positive.
        per_second: f64,
    },
    /// No publishing: connect, measure memory, disconnect.
    Idle,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The hub under test.
    pub target: Target,
    /// How subscribers receive events.
    pub transport: Transport,
    /// Where subscribers connect, e.g. `http://127.0.0.1:8080` (no trailing slash needed).
    pub base: String,
    /// Where publishes go: Pushpin's HTTP control API (e.g. `http://127.0.0.1:5561`), or another node of a
    /// Herald cluster; without it, every target publishes on `base`.
    pub control: Option<String>,
    /// Subscriber connections; subscriber `i` listens to topic `i % topics`. Zero only with
    /// `publish_only`.
    pub subscribers: usize,
    /// Distinct topics the subscribers and messages are spread over.
    pub topics: usize,
    /// Topic `i` is named this followed by `i` (runs side by side on one hub need their own);
    /// for Bayeux, a channel such as `/bench/t` (topics `/bench/t0`, `/bench/t1`, …).
    pub topic_prefix: String,
    /// Messages in total, spread over the topics round-robin.
    pub messages: usize,
    /// Bytes of each message's payload (at least what the sequence number and timestamp take).
    pub payload_size: usize,
    /// What fills the payloads.
    pub payload_style: PayloadStyle,
    /// WebSocket subscribers offer permessage-deflate (and fail if the target declines it).
    pub ws_deflate: bool,
    /// When messages are sent.
    pub pace: Pace,
    /// Concurrent publishers, each with its own keep-alive connection.
    pub publishers: usize,
    /// Sent as `Authorization: Bearer` with every publish.
    pub publish_token: Option<String>,
    /// Sent as `Authorization: Bearer` when subscribing (hubs that require subscriber tokens).
    pub subscribe_token: Option<String>,
    /// Processes of the target whose memory and CPU time are measured.
    pub pids: Vec<u32>,
    /// A file holding the target's process id, read again at every reading (a restart changes
    /// it); used instead of `pids` when set.
    pub pid_file: Option<std::path::PathBuf>,
    /// Loopback source addresses subscribers bind before connecting, used round-robin.
    pub source_addrs: Vec<Ipv4Addr>,
    /// Connections being set up at once.
    pub connect_concurrency: usize,
    /// Pause between the last subscriber being ready and the first publish (and the memory
    /// reading), so the target finishes registering subscriptions.
    pub settle: Duration,
    /// After publishing, how long to wait with no new delivery before counting the rest as lost.
    pub drain_timeout: Duration,
    /// After publishing, the longest wait for deliveries however fast they still arrive.
    pub drain_deadline: Duration,
    /// Draw a progress bar on standard error (only when it is a terminal).
    pub progress: bool,
    /// Churn instead of one connect-publish-drain pass (see [`crate::churn`]).
    pub churn: Option<Churn>,
    /// A reconnect storm instead of one connect-publish-drain pass (see [`crate::storm`]).
    pub storm: Option<Storm>,
    /// Watch a topic someone else publishes on instead (see [`crate::watch`]).
    pub watch: Option<crate::watch::Watch>,
    /// Publish with no subscribers at all (`subscribers` must be 0) and report the publishes
    /// per second and the target's CPU per publish: the cost of accepting (and, with a durable
    /// store, storing) events by itself.
    pub publish_only: bool,
    /// Messages per publish request: 1 publishes each alone (the form); more send them as one
    /// NDJSON batch (Herald only), each message acknowledged with its batch.
    pub batch: usize,
}

impl BenchConfig {
    /// A configuration with the defaults for everything but the target and where it is.
    pub fn new(target: Target, transport: Transport, base: impl Into<String>) -> Self {
        Self {
            target,
            transport,
            base: base.into().trim_end_matches('/').to_owned(),
            control: None,
            subscribers: 100,
            topics: 1,
            topic_prefix: transport.default_topic_prefix().to_owned(),
            messages: 100,
            payload_size: 100,
            payload_style: PayloadStyle::Filler,
            ws_deflate: false,
            pace: Pace::Burst,
            publishers: 4,
            publish_token: None,
            subscribe_token: None,
            pids: Vec::new(),
            pid_file: None,
            source_addrs: loopback_sources(4),
            connect_concurrency: 200,
            settle: Duration::from_secs(1),
            drain_timeout: Duration::from_secs(5),
            drain_deadline: Duration::from_secs(300),
            progress: false,
            churn: None,
            watch: None,
            storm: None,
            publish_only: false,
            batch: 1,
        }
    }

    /// Refuses settings the run cannot use (zero counts, a transport the target lacks).
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.publish_only {
            if self.subscribers != 0 {
                return Err(format!("a publish-only run has no subscribers (-n 0, not {})", self.subscribers));
            }
            if self.pace == Pace::Idle || self.churn.is_some() || self.storm.is_some() || self.messages == 0 {
                return Err(
                    "a publish-only run publishes messages: no idle, churn or storm, and at least 1 message".into()
                );
            }
        } else if self.subscribers == 0 {
            return Err("subscribers must be at least 1 (0 only in a publish-only run)".into());
        }
        if self.topics == 0 || self.publishers == 0 || self.batch == 0 {
            return Err("topics, publishers and the batch size must be at least 1".into());
        }
        if self.batch > 1 && self.target != Target::Herald {
            return Err(
                "batch publishing (--batch more than 1) is Herald's: other targets take one message a request".into()
            );
        }
        if self.source_addrs.is_empty() {
            return Err("at least one source address is needed".into());
        }
        if let Pace::Rate { per_second } = self.pace {
            if !(per_second > 0.0 && per_second.is_finite()) {
                return Err("the rate must be a positive number of messages per second".into());
            }
        }
        if matches!(self.transport, Transport::LongPoll | Transport::Mixed) && self.target != Target::Herald {
            return Err("long-polling (and so the mixed transport) is measured against Herald only".into());
        }
        if self.transport.is_bayeux() {
            if !matches!(self.target, Target::Herald | Target::Faye) {
                return Err("Bayeux transports are measured against Herald and Faye only".into());
            }
            if !is_channel_prefix(&self.topic_prefix) {
                return Err(format!(
                    "Bayeux topics are channels: the topic prefix must be a path such as /bench/t, not {:?}",
                    self.topic_prefix
                ));
            }
        } else if self.target == Target::Faye {
            return Err("Faye speaks Bayeux only: --transport bayeux-ws or bayeux-long-poll".into());
        }
        if self.ws_deflate && !matches!(self.transport, Transport::Ws | Transport::Mixed) {
            return Err("--ws-deflate needs WebSocket subscribers (--transport ws or mixed)".into());
        }
        if let Some(churn) = &self.churn {
            if !matches!(self.pace, Pace::Rate { .. }) {
                return Err("churn needs a publishing rate (--rate)".into());
            }
            if churn.duration.is_zero() || churn.sample_every.is_zero() || churn.events_per_connection == 0 {
                return Err("churn needs a duration, a sampling interval and events per connection above 0".into());
            }
        }
        if let Some(storm) = &self.storm {
            if !matches!(self.pace, Pace::Rate { .. }) {
                return Err("a storm needs a publishing rate (--rate)".into());
            }
            if self.transport != Transport::Sse || self.target != Target::Herald {
                return Err("a storm is measured with SSE subscribers against Herald".into());
            }
            if storm.restart.trim().is_empty() || storm.after.is_zero() || storm.sample_every.is_zero() {
                return Err("a storm needs a restart command, a time after it and a sampling interval".into());
            }
        }
        if self.target == Target::Pushpin && self.control.is_none() && self.pace != Pace::Idle {
            return Err("pushpin needs --control (its HTTP control API, e.g. http://127.0.0.1:5561)".into());
        }
        Ok(())
    }

    /// The target's processes now: the one in `pid_file` (none while it cannot be read), or `pids`.
    pub(crate) fn target_pids(&self) -> Vec<u32> {
        match &self.pid_file {
            Some(file) => {
                std::fs::read_to_string(file).ok().and_then(|text| text.trim().parse().ok()).into_iter().collect()
            }
            None => self.pids.clone(),
        }
    }

    /// The target's address as `host:port`, from `base`.
    pub(crate) fn base_addr(&self) -> Result<SocketAddr, String> {
        crate::url::socket_addr(&self.base)
    }
}

/// Whether topic names made of `prefix` and a number are Bayeux channels: `/` and segments of
/// letters, digits, `-`, `_` and `.`, none empty (a trailing `/` lets the number be a segment).
fn is_channel_prefix(prefix: &str) -> bool {
    let Some(rest) = prefix.strip_prefix('/') else { return false };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    !rest.starts_with("meta/")
        && !rest.starts_with("service/")
        && segments.iter().enumerate().all(|(i, segment)| {
            (i == last || !segment.is_empty())
                && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        })
}

/// `127.0.0.1`, `127.0.0.2`, … : `count` loopback addresses.
pub fn loopback_sources(count: u8) -> Vec<Ipv4Addr> {
    (1..=count.max(1)).map(|i| Ipv4Addr::new(127, 0, 0, i)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_cannot_run() {
        let ok = BenchConfig::new(Target::Herald, Transport::LongPoll, "http://127.0.0.1:8080/");
        assert!(ok.validate().is_ok());
        assert_eq!(ok.base, "http://127.0.0.1:8080");
        let mut no_subscribers = ok.clone();
        no_subscribers.subscribers = 0;
        assert!(no_subscribers.validate().is_err());
        let nchan_long_poll = BenchConfig::new(Target::Nchan, Transport::LongPoll, "http://127.0.0.1:1");
        assert!(nchan_long_poll.validate().is_err());
        let pushpin = BenchConfig::new(Target::Pushpin, Transport::Sse, "http://127.0.0.1:1");
        assert!(pushpin.validate().is_err(), "publishing to Pushpin needs its control API");
        let mut churn = ok.clone();
        churn.churn = Some(Churn::default());
        assert!(churn.validate().is_err(), "churn publishes at a rate");
        churn.pace = Pace::Rate { per_second: 10.0 };
        assert!(churn.validate().is_ok());
        let nchan_mixed = BenchConfig::new(Target::Nchan, Transport::Mixed, "http://127.0.0.1:1");
        assert!(nchan_mixed.validate().is_err());
        let mut zero_rate = ok;
        zero_rate.pace = Pace::Rate { per_second: 0.0 };
        assert!(zero_rate.validate().is_err());
    }

    #[test]
    fn batches_are_herald_s_and_never_empty() {
        let mut config = BenchConfig::new(Target::Herald, Transport::Sse, "http://127.0.0.1:8080");
        config.batch = 100;
        assert!(config.validate().is_ok());
        config.batch = 0;
        assert!(config.validate().is_err(), "an empty batch");
        let mut nchan = BenchConfig::new(Target::Nchan, Transport::Sse, "http://127.0.0.1:8080");
        nchan.batch = 2;
        assert!(nchan.validate().is_err(), "nchan takes one message a request");
    }

    #[test]
    fn publish_only_runs_have_no_subscribers() {
        let mut config = BenchConfig::new(Target::Herald, Transport::Sse, "http://127.0.0.1:8080");
        config.publish_only = true;
        assert!(config.validate().is_err(), "publish-only with subscribers");
        config.subscribers = 0;
        assert!(config.validate().is_ok());
        config.pace = Pace::Idle;
        assert!(config.validate().is_err(), "publish-only publishes");
        config.pace = Pace::Burst;
        config.publish_only = false;
        assert!(config.validate().is_err(), "no subscribers outside publish-only");
    }

    #[test]
    fn bayeux_runs_on_channels_against_herald_and_faye() {
        let herald = BenchConfig::new(Target::Herald, Transport::BayeuxWs, "http://127.0.0.1:8080");
        assert_eq!(herald.topic_prefix, "/bench/t");
        assert!(herald.validate().is_ok());
        let faye = BenchConfig::new(Target::Faye, Transport::BayeuxLongPoll, "http://127.0.0.1:8000");
        assert!(faye.validate().is_ok());
        let faye_sse = BenchConfig::new(Target::Faye, Transport::Sse, "http://127.0.0.1:8000");
        assert!(faye_sse.validate().is_err(), "Faye speaks Bayeux only");
        let nchan = BenchConfig::new(Target::Nchan, Transport::BayeuxWs, "http://127.0.0.1:8000");
        assert!(nchan.validate().is_err(), "nchan has no Bayeux");
        for bad in ["bench-", "/meta/t", "/a//b", "/a b", ""] {
            let mut config = herald.clone();
            config.topic_prefix = bad.into();
            assert!(config.validate().is_err(), "{bad:?} is no channel prefix");
        }
        for good in ["/t", "/bench/", "/bench/run-2/t"] {
            let mut config = herald.clone();
            config.topic_prefix = good.into();
            assert!(config.validate().is_ok(), "{good:?} makes channels");
        }
        assert_eq!(BenchConfig::new(Target::Herald, Transport::Sse, "http://h:1").topic_prefix, "bench-");
    }

    #[test]
    fn mixed_takes_each_transport_in_turn() {
        let picked: Vec<Transport> = (0..4).map(|i| Transport::Mixed.for_subscriber(i)).collect();
        assert_eq!(picked, [Transport::Sse, Transport::Ws, Transport::LongPoll, Transport::Sse]);
        assert_eq!(Transport::Ws.for_subscriber(2), Transport::Ws);
    }

    #[test]
    fn loopback_source_addresses() {
        assert_eq!(
            loopback_sources(3),
            [Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3)]
        );
        assert_eq!(loopback_sources(0).len(), 1);
    }
}
