//! The dashboard's figures, read from the counters `/metrics` reads.
//!
//! A [`Sampler`] keeps the counters of its previous reading, so that every sample gives rates
//! (publishes and deliveries per second) and the latency distribution of the interval alone,
//! not of the whole life of the process.

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::metrics::histogram::{BOUNDS_MICROS, PUBLISH_ACK, PUBLISH_TO_WRITE};
use crate::metrics::{self, connections};
use crate::presence::Presence;
use crate::StoreKind;

/// Where the figures are read.
pub(crate) struct Source<'a> {
    pub hub: &'a herald_core::Hub,
    pub presence: Option<&'a Presence>,
    pub store: &'a StoreKind,
}

/// How many topics the dashboard lists.
const BUSIEST: usize = 10;

/// One reading, as the dashboard's event carries it (JSON).
#[derive(Debug, Serialize)]
pub(crate) struct Figures {
    /// The node that read them (host name and port).
    pub node: String,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// Over how long the rates and latencies were measured, in milliseconds.
    pub interval_ms: u64,
    /// Dashboards open on this node now (subscribers of the dashboard's topic).
    pub watchers: usize,
    /// Open connections by transport.
    pub connections: BTreeMap<&'static str, u64>,
    /// Subscriptions registered with the hub.
    pub subscribers: u64,
    pub published_per_s: f64,
    pub delivered_per_s: f64,
    pub published_total: u64,
    pub delivered_total: u64,
    /// Subscribers disconnected for being too slow (their queue overflowed).
    pub overflowed_total: u64,
    pub limit_rejections_total: u64,
    pub auth_failures_total: u64,
    /// From the hub accepting an event to a connection writing it, over the interval.
    pub publish_to_write: Latency,
    /// From a publish's admission to its acknowledgement, over the interval.
    pub publish_ack: Latency,
    /// The topics with the most subscribers.
    pub busiest: Vec<Busiest>,
    pub history: HistoryFigures,
}

/// A latency distribution over one interval.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Latency {
    pub count: u64,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Observations per bucket: `[upper bound in ms (None: over the last bound), count]`.
    pub buckets: Vec<(Option<f64>, u64)>,
}

/// A topic and its subscribers.
#[derive(Debug, Serialize)]
pub(crate) struct Busiest {
    pub topic: String,
    pub subscribers: usize,
}

/// History and the store that keeps it.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryFigures {
    /// `disk`, `memory`, `redis` or `nats`.
    pub store: &'static str,
    /// `ok`, or `unreachable` when a shared log cannot be read.
    pub state: &'static str,
    /// Events held in memory for replays.
    pub cached: u64,
    /// Events the store retains, and their size, when it tells.
    pub stored_events: Option<u64>,
    pub stored_bytes: Option<u64>,
}

type Buckets = [u64; BOUNDS_MICROS.len() + 1];

/// The counters of one reading.
struct Counters {
    at: Instant,
    stats: herald_core::HubStats,
    to_write: Buckets,
    ack: Buckets,
}

impl Counters {
    fn now(hub: &herald_core::Hub) -> Self {
        Self { at: Instant::now(), stats: hub.stats(), to_write: PUBLISH_TO_WRITE.counts(), ack: PUBLISH_ACK.counts() }
    }
}

/// Reads figures, each time over the interval since its previous reading.
pub(crate) struct Sampler {
    node: String,
    previous: Counters,
}

impl Sampler {
    pub(crate) fn new(hub: &herald_core::Hub, port: u16) -> Self {
        Self { node: node_name(port), previous: Counters::now(hub) }
    }

    /// The node's name, as its figures give it.
    pub(crate) fn node(&self) -> &str {
        &self.node
    }

    /// Starts the next interval now, without reading the figures (nobody watches).
    pub(crate) fn skip(&mut self, hub: &herald_core::Hub) {
        self.previous = Counters::now(hub);
    }

    /// Reads the figures, over the interval since the previous reading or skip.
    pub(crate) fn sample(&mut self, source: &Source<'_>, watchers: usize) -> Figures {
        let now = Counters::now(source.hub);
        let (stats, before) = (now.stats, self.previous.stats);
        let seconds = now.at.saturating_duration_since(self.previous.at).as_secs_f64().max(1e-3);
        let rate = |new: u64, old: u64| (new.saturating_sub(old) as f64 / seconds * 10.0).round() / 10.0;
        let (limit_rejections_total, auth_failures_total) = metrics::refusals();
        let busiest = match source.presence {
            Some(presence) => presence
                .busiest(BUSIEST)
                .into_iter()
                .map(|(matcher, subscribers)| Busiest { topic: matcher.value.to_string(), subscribers })
                .collect(),
            None => source
                .hub
                .busiest_topics(BUSIEST)
                .into_iter()
                .map(|(topic, subscribers)| Busiest { topic, subscribers })
                .collect(),
        };
        let footprint = source.hub.store_footprint();
        let figures = Figures {
            node: self.node.clone(),
            at_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
            interval_ms: (seconds * 1000.0).round() as u64,
            watchers,
            connections: connections::open().into_iter().collect(),
            subscribers: stats.subscribers,
            published_per_s: rate(stats.published, before.published),
            delivered_per_s: rate(stats.delivered, before.delivered),
            published_total: stats.published,
            delivered_total: stats.delivered,
            overflowed_total: stats.overflowed,
            limit_rejections_total,
            auth_failures_total,
            publish_to_write: latency(&now.to_write, &self.previous.to_write),
            publish_ack: latency(&now.ack, &self.previous.ack),
            busiest,
            history: HistoryFigures {
                store: match source.store {
                    StoreKind::Disk => "disk",
                    StoreKind::Memory => "memory",
                    StoreKind::Redis(_) => "redis",
                    StoreKind::Nats(_) => "nats",
                },
                state: match source.hub.shared_log_readable() {
                    Some(false) => "unreachable",
                    _ => "ok",
                },
                cached: stats.history_len,
                stored_events: footprint.map(|f| f.events),
                stored_bytes: footprint.map(|f| f.bytes),
            },
        };
        self.previous = now;
        figures
    }
}

/// The distribution of the observations between two readings of a histogram's counts.
fn latency(now: &Buckets, before: &Buckets) -> Latency {
    let counts: Vec<u64> = now.iter().zip(before).map(|(n, b)| n.saturating_sub(*b)).collect();
    let count: u64 = counts.iter().sum();
    let quantile = |q: f64| (count > 0).then(|| quantile(&counts, count, q));
    Latency {
        count,
        p50_ms: quantile(0.5),
        p90_ms: quantile(0.9),
        p99_ms: quantile(0.99),
        buckets: counts
            .iter()
            .enumerate()
            .map(|(i, n)| (BOUNDS_MICROS.get(i).map(|&bound| bound as f64 / 1000.0), *n))
            .collect(),
    }
}

/// The `q` quantile in milliseconds, interpolated linearly within its bucket (the first bucket
/// starts at zero; past the last bound, the last bound).
fn quantile(counts: &[u64], count: u64, q: f64) -> f64 {
    let rank = (q * count as f64).ceil().max(1.0);
    let mut below = 0u64;
    for (i, &n) in counts.iter().enumerate() {
        if n > 0 && (below + n) as f64 >= rank {
            let Some(&upper) = BOUNDS_MICROS.get(i) else { break };
            let lower = if i == 0 { 0 } else { BOUNDS_MICROS[i - 1] };
            let within = (rank - below as f64) / n as f64;
            let micros = lower as f64 + within * (upper - lower) as f64;
            return (micros / 10.0).round() / 100.0;
        }
        below += n;
    }
    BOUNDS_MICROS[BOUNDS_MICROS.len() - 1] as f64 / 1000.0
}

/// The node's name on the dashboard: the machine's host name and the hub's port.
fn node_name(port: u16) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "herald".to_owned());
    format!("{host}:{port}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn buckets(pairs: &[(usize, u64)]) -> Buckets {
        let mut b = [0; BOUNDS_MICROS.len() + 1];
        for &(i, n) in pairs {
            b[i] = n;
        }
        b
    }

    #[test]
    fn the_latency_of_an_interval_leaves_out_what_came_before() {
        let before = buckets(&[(0, 1_000)]);
        // 100 new observations: 90 in (250 µs, 500 µs], 10 in (1 ms, 2.5 ms].
        let now = buckets(&[(0, 1_000), (2, 90), (4, 10)]);
        let latency = latency(&now, &before);
        assert_eq!(latency.count, 100);
        // The 50th of 90 in (0.25, 0.5] ms: 0.25 + 50/90 × 0.25.
        assert_eq!(latency.p50_ms, Some(0.39));
        assert_eq!(latency.p90_ms, Some(0.5));
        // The 99th: the 9th of 10 in (1, 2.5] ms.
        assert_eq!(latency.p99_ms, Some(2.35));
        assert_eq!(latency.buckets[2], (Some(0.5), 90));
        assert_eq!(latency.buckets[BOUNDS_MICROS.len()], (None, 0));
    }

    #[test]
    fn an_empty_interval_has_no_percentiles_and_overflow_reports_the_last_bound() {
        let none = latency(&buckets(&[(3, 5)]), &buckets(&[(3, 5)]));
        assert_eq!((none.count, none.p50_ms, none.p99_ms), (0, None, None));
        let over = latency(&buckets(&[(BOUNDS_MICROS.len(), 4)]), &buckets(&[]));
        assert_eq!(over.p50_ms, Some(10_000.0));
    }
}
