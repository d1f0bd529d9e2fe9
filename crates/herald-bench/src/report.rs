//! The figures of a run: one serializable record, printed as a table or one JSON line.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{Pace, Target, Transport};

/// Publish-to-receive latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// The median.
    pub p50_us: u32,
    /// 90% of deliveries took at most this long.
    pub p90_us: u32,
    /// 99% of deliveries took at most this long.
    pub p99_us: u32,
    /// The slowest delivery.
    pub max_us: u32,
}

impl Latency {
    /// Percentiles of `samples` (sorted in place); `None` when there are none.
    pub fn of(samples: &mut [u32]) -> Option<Self> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Some(Self { p50_us: at(0.50), p90_us: at(0.90), p99_us: at(0.99), max_us: samples[samples.len() - 1] })
    }
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The hub that was measured.
    pub target: Target,
    /// How subscribers received events.
    pub transport: Transport,
    /// When messages were sent.
    pub pace: Pace,
    /// Subscribers the run opened.
    pub subscribers: usize,
    /// Topics the subscribers and messages were spread over.
    pub topics: usize,
    /// Messages to publish (0 for an idle run).
    pub messages: usize,
    /// Bytes asked for in each payload.
    pub payload_size: usize,
    /// Concurrent publishers.
    pub publishers: usize,
    /// Subscribers that became ready.
    pub connected: usize,
    /// Subscribers that never became ready, or whose task failed.
    pub failed_connections: usize,
    /// Failed attempts (connect, status, upgrade) retried before subscribers became ready.
    pub connect_retries: usize,
    /// Ready subscribers whose connection ended before the run did.
    pub dropped_connections: usize,
    /// From opening the first subscriber until every one was ready or had failed (three minutes
    /// at most).
    pub connect_seconds: f64,
    /// Messages the target accepted.
    pub published: u64,
    /// Messages that failed on every attempt (refused, or no answer).
    pub publish_failures: u64,
    /// From the first publish until every publisher was done (in a publish-only run the
    /// publishers are connected before it starts).
    pub publish_seconds: f64,
    /// `published` over `publish_seconds`: acknowledged publishes per second.
    pub publishes_per_second: f64,
    /// Deliveries a lossless target makes: each subscriber receives every message of its topic.
    pub expected_deliveries: u64,
    /// First deliveries of expected messages, over all subscribers.
    pub deliveries: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// The run stopped at the drain deadline while deliveries were still arriving: part of
    /// `lost` is messages still on their way.
    pub cut_short: bool,
    /// Deliveries of a message the subscriber had already received.
    pub duplicated: u64,
    /// Messages that arrived after a later one from the same publisher.
    pub reordered: u64,
    /// Messages that were not one of the run's, or arrived on the wrong topic.
    pub foreign: u64,
    /// From the first publish to the last delivery.
    pub delivery_seconds: f64,
    /// `deliveries` over `delivery_seconds`.
    pub deliveries_per_second: f64,
    /// Publish-to-receive latency of the deliveries; `None` when nothing was delivered.
    pub latency: Option<Latency>,
    /// From sending each publish to the end of its answer, as the publisher waits for it (the
    /// acknowledgement latency); `None` when nothing was published.
    pub publish_ack: Option<Latency>,
    /// The target's resident memory (all `--pid`s) before connecting.
    pub target_rss_before_bytes: Option<u64>,
    /// The target's resident memory with every subscriber connected and idle.
    pub target_rss_connected_bytes: Option<u64>,
    /// The memory the target gained while connecting, divided by the subscribers that became ready.
    pub target_rss_per_connection_bytes: Option<f64>,
    /// The target's CPU time (user + system, all `--pid`s) from the first publish to the end.
    pub target_cpu_seconds: Option<f64>,
    /// `target_cpu_seconds` per delivery, in microseconds.
    pub target_cpu_us_per_delivery: Option<f64>,
    /// `target_cpu_seconds` per accepted publish, in microseconds (what a publish-only run
    /// measures; with subscribers it includes the fan-out).
    pub target_cpu_us_per_publish: Option<f64>,
    /// The load generator's own CPU time over the same span.
    pub bench_cpu_seconds: f64,
    /// `bench_cpu_seconds` per delivery, in microseconds.
    pub bench_cpu_us_per_delivery: Option<f64>,
    /// Bytes the WebSocket subscribers read off their connections over the whole run (handshakes,
    /// acknowledgements and frames); 0 with other transports.
    pub ws_bytes_received: u64,
    /// `ws_bytes_received` per delivery: what one event costs on the wire.
    pub ws_bytes_per_delivery: Option<f64>,
    /// WebSocket subscribers offered permessage-deflate (and the target accepted it).
    pub ws_deflate: bool,
    /// The first error a subscriber or publisher met, if any.
    pub first_error: Option<String>,
}

impl Report {
    /// Zero lost, duplicated and reordered messages, every subscriber connected to the end,
    /// every publish accepted.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.reordered == 0
            && self.failed_connections == 0
            && self.dropped_connections == 0
            && self.publish_failures == 0
    }

    /// The JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the report: {e}\"}}"))
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("target / transport", format!("{:?} / {:?}", self.target, self.transport)),
            (
                "load",
                format!(
                    "{} subscribers, {} topics, {} messages of {} B, {} publishers, {}",
                    self.subscribers,
                    self.topics,
                    self.messages,
                    self.payload_size,
                    self.publishers,
                    pace_text(self.pace)
                ),
            ),
            (
                "connections",
                format!(
                    "{} ready in {:.1} s, {} failed, {} dropped, {} retries",
                    self.connected,
                    self.connect_seconds,
                    self.failed_connections,
                    self.dropped_connections,
                    self.connect_retries
                ),
            ),
        ];
        if let (Some(before), Some(after)) = (self.target_rss_before_bytes, self.target_rss_connected_bytes) {
            let per = self.target_rss_per_connection_bytes.map_or("-".into(), |b| format!("{:.1} KiB", b / 1024.0));
            rows.push(("target memory", format!("{} → {} MiB, {per} per connection", mib(before), mib(after))));
        }
        if self.pace != Pace::Idle {
            rows.push((
                "published",
                format!(
                    "{} in {:.2} s ({:.0}/s), {} failed",
                    self.published, self.publish_seconds, self.publishes_per_second, self.publish_failures
                ),
            ));
            rows.push((
                "deliveries",
                format!(
                    "{} of {} in {:.2} s: {:.0}/s",
                    self.deliveries, self.expected_deliveries, self.delivery_seconds, self.deliveries_per_second
                ),
            ));
            rows.push((
                "lost / dup / reordered",
                format!(
                    "{} / {} / {} (foreign {}){}",
                    self.lost,
                    self.duplicated,
                    self.reordered,
                    self.foreign,
                    if self.cut_short { ", cut short at the drain deadline" } else { "" }
                ),
            ));
            if let Some(l) = self.latency {
                rows.push((
                    "latency p50/p90/p99/max",
                    format!("{} / {} / {} / {} ms", ms(l.p50_us), ms(l.p90_us), ms(l.p99_us), ms(l.max_us)),
                ));
            }
            if let Some(l) = self.publish_ack {
                rows.push((
                    "publish ack p50/p90/p99/max",
                    format!("{} / {} / {} / {} ms", ms(l.p50_us), ms(l.p90_us), ms(l.p99_us), ms(l.max_us)),
                ));
            }
            if let Some(per) = self.ws_bytes_per_delivery.filter(|_| self.ws_bytes_received > 0) {
                let deflate = if self.ws_deflate { ", permessage-deflate" } else { "" };
                rows.push((
                    "WebSocket bytes",
                    format!("{} B received, {per:.1} B per delivery{deflate}", self.ws_bytes_received),
                ));
            }
            if let (Some(cpu), Some(per)) = (self.target_cpu_seconds, self.target_cpu_us_per_delivery) {
                rows.push(("target CPU", format!("{cpu:.2} s, {per:.2} µs per delivery")));
            } else if let (Some(cpu), Some(per)) = (self.target_cpu_seconds, self.target_cpu_us_per_publish) {
                rows.push(("target CPU", format!("{cpu:.2} s, {per:.2} µs per publish")));
            }
            let per = self.bench_cpu_us_per_delivery.map_or("-".into(), |p| format!("{p:.2} µs per delivery"));
            rows.push(("load generator CPU", format!("{:.2} s, {per}", self.bench_cpu_seconds)));
        }
        if let Some(e) = &self.first_error {
            rows.push(("first error", e.clone()));
        }
        let width = rows.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        let mut out = String::new();
        for (key, value) in rows {
            let _ = writeln!(out, "{key:<width$}  {value}");
        }
        out
    }
}

fn pace_text(pace: Pace) -> String {
    match pace {
        Pace::Burst => "burst".into(),
        Pace::Rate { per_second } => format!("{per_second} msg/s"),
        Pace::Idle => "idle".into(),
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

fn ms(us: u32) -> String {
    format!("{:.2}", f64::from(us) / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let mut samples: Vec<u32> = (1..=100).rev().collect();
        let l = Latency::of(&mut samples).expect("samples");
        assert_eq!((l.p50_us, l.p90_us, l.p99_us, l.max_us), (51, 90, 99, 100));
        assert!(Latency::of(&mut []).is_none());
    }
}
