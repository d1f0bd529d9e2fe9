//! The figures of a reconnect storm, printed as a table or one JSON line.

use std::fmt::Write as _;

use serde::Serialize;

use crate::report::Latency;

/// The target's figures at one moment of the storm; `None` where `/proc` could not be read.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct TargetSample {
    /// On the run's clock, in seconds.
    pub at_seconds: f64,
    /// The process read (it changes at the restart).
    pub pid: Option<u32>,
    /// CPU time (user + system) since the previous sample of the same process, in percent of
    /// one core.
    pub cpu_percent: Option<f64>,
    /// Resident memory now.
    pub rss_bytes: Option<u64>,
    /// The highest resident memory of the process so far (`VmHWM`).
    pub peak_rss_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
}

/// Everything a storm measured.
#[derive(Debug, Clone, Serialize)]
pub struct StormReport {
    /// Subscribers (SSE connections).
    pub subscribers: usize,
    /// Topics they were spread over.
    pub topics: usize,
    /// Messages published per second, before, through and after the restart.
    pub rate_per_second: f64,
    /// Concurrent publishers.
    pub publishers: usize,
    /// Bytes of each payload.
    pub payload_size: usize,
    /// What restarted the target.
    pub restart_command: String,
    /// From the first connection to every subscriber connected.
    pub connect_seconds: f64,
    /// How long the restart command took.
    pub restart_command_seconds: f64,
    /// Streams that ended after the restart began.
    pub outages: u64,
    /// Subscribers whose stream never ended (a restart that kept them, or a broken one).
    pub subscribers_without_outage: usize,
    /// Outages still open when the run ended.
    pub not_back: u64,
    /// From a stream's end to the next stream's `200`, per outage (in microseconds, like every
    /// [`Latency`]).
    pub time_back: Option<Latency>,
    /// From the restart to the last subscriber back.
    pub all_back_seconds: Option<f64>,
    /// The most failed attempts one subscriber made in one outage.
    pub most_failed_attempts_in_one_outage: u32,
    /// Attempts answered `503` (a limit such as the accept rate; the subscriber waited its
    /// `Retry-After`).
    pub refused_503: u64,
    /// Attempts that found nothing listening.
    pub refused_connect: u64,
    /// Attempts that failed otherwise (another status, a reset).
    pub other_failures: u64,
    /// Messages acknowledged.
    pub published: u64,
    /// Messages never acknowledged after every try.
    pub publish_failures: u64,
    /// Tries beyond the first (refused or unanswered while the target restarted).
    pub publish_retries: u64,
    /// From the restart until the last message was acknowledged.
    pub publish_seconds_after_restart: f64,
    /// Deliveries a lossless hub makes.
    pub expected_deliveries: u64,
    /// First deliveries.
    pub deliveries: u64,
    /// Expected deliveries that never arrived.
    pub lost: u64,
    /// Deliveries of a message the subscriber already had.
    pub duplicated: u64,
    /// Messages that arrived after a later one of the same publisher.
    pub reordered: u64,
    /// The highest CPU use of the target over a sample period, in percent of one core.
    pub target_peak_cpu_percent: Option<f64>,
    /// The highest resident memory of the target's processes.
    pub target_peak_rss_bytes: Option<u64>,
    /// The target's figures over the run.
    pub samples: Vec<TargetSample>,
    /// The first error a subscriber or publisher met, if any.
    pub first_error: Option<String>,
}

impl StormReport {
    /// Every subscriber back, nothing lost, repeated or reordered, every message acknowledged.
    pub fn is_clean(&self) -> bool {
        self.not_back == 0
            && self.lost == 0
            && self.duplicated == 0
            && self.reordered == 0
            && self.publish_failures == 0
    }

    /// The JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the report: {e}\"}}"))
    }

    /// The human-readable table.
    pub fn table(&self) -> String {
        let ms = |l: &Option<Latency>| {
            l.map_or_else(
                || "-".to_owned(),
                |l| {
                    let ms = |us: u32| f64::from(us) / 1000.0;
                    format!(
                        "p50 {:.0} / p90 {:.0} / p99 {:.0} / max {:.0} ms",
                        ms(l.p50_us),
                        ms(l.p90_us),
                        ms(l.p99_us),
                        ms(l.max_us)
                    )
                },
            )
        };
        let rows: Vec<(&str, String)> = vec![
            (
                "load",
                format!(
                    "{} SSE subscribers, {} topics, {} msg/s of {} B, {} publishers",
                    self.subscribers, self.topics, self.rate_per_second, self.payload_size, self.publishers
                ),
            ),
            ("connected in", format!("{:.1} s", self.connect_seconds)),
            ("restart command", format!("{:.1} s: {}", self.restart_command_seconds, self.restart_command)),
            ("outages / not back", format!("{} / {}", self.outages, self.not_back)),
            ("subscribers never cut", self.subscribers_without_outage.to_string()),
            ("time back per outage", ms(&self.time_back)),
            ("all back after restart", self.all_back_seconds.map_or_else(|| "-".to_owned(), |s| format!("{s:.1} s"))),
            (
                "failed attempts",
                format!(
                    "{} refused (nothing listening), {} 503, {} other; at most {} in one outage",
                    self.refused_connect,
                    self.refused_503,
                    self.other_failures,
                    self.most_failed_attempts_in_one_outage
                ),
            ),
            (
                "published",
                format!(
                    "{} acknowledged, {} failed, {} retries, last one {:.1} s after the restart",
                    self.published, self.publish_failures, self.publish_retries, self.publish_seconds_after_restart
                ),
            ),
            (
                "deliveries",
                format!(
                    "{} of {}: {} lost, {} duplicated, {} reordered",
                    self.deliveries, self.expected_deliveries, self.lost, self.duplicated, self.reordered
                ),
            ),
            (
                "target peak",
                format!(
                    "{} CPU, {} resident",
                    self.target_peak_cpu_percent.map_or_else(|| "-".to_owned(), |c| format!("{c:.0}%")),
                    self.target_peak_rss_bytes
                        .map_or_else(|| "-".to_owned(), |b| format!("{:.1} MiB", b as f64 / 1048576.0))
                ),
            ),
        ];
        let mut out = String::new();
        for (name, value) in rows {
            let _ = writeln!(out, "{name:<24} {value}");
        }
        if let Some(error) = &self.first_error {
            let _ = writeln!(out, "{:<24} {error}", "first error");
        }
        out
    }
}
