//! The figures of a churn run: the totals, and the target's memory and descriptors over time,
//! printed as a table or one JSON line.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{Target, Transport};

/// The target's figures at one moment of a churn run (all `--pid`s summed; `None` without pids
/// or when `/proc` could not be read).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    /// Since the run started.
    pub elapsed_seconds: f64,
    /// Resident memory (`/proc/PID/statm`).
    pub rss_bytes: Option<u64>,
    /// Anonymous resident memory: the heap, without the mapped binary (`/proc/PID/smaps_rollup`).
    pub anonymous_bytes: Option<u64>,
    /// Open file descriptors (`/proc/PID/fd`).
    pub open_fds: Option<u64>,
    /// Connections completed so far.
    pub cycles: u64,
    /// Connections that failed so far.
    pub failed_cycles: u64,
    /// Messages published so far.
    pub published: u64,
}

impl Sample {
    /// The sample as a line of the table [`sample_header`] heads.
    pub(crate) fn row(&self) -> String {
        let opt = |v: Option<u64>, f: fn(u64) -> String| v.map_or_else(|| "-".to_owned(), f);
        format!(
            "{:>8.0} {:>9} {:>9} {:>6} {:>10} {:>7} {:>9}",
            self.elapsed_seconds,
            opt(self.rss_bytes, mib),
            opt(self.anonymous_bytes, mib),
            opt(self.open_fds, |n| n.to_string()),
            self.cycles,
            self.failed_cycles,
            self.published
        )
    }
}

/// The header of the sample table.
pub(crate) fn sample_header() -> String {
    format!(
        "{:>8} {:>9} {:>9} {:>6} {:>10} {:>7} {:>9}",
        "time s", "RSS MiB", "anon MiB", "fds", "cycles", "failed", "published"
    )
}

/// Everything a churn run measured.
#[derive(Debug, Clone, Serialize)]
pub struct ChurnReport {
    /// The hub that was measured.
    pub target: Target,
    /// How subscribers received events.
    pub transport: Transport,
    /// Subscribers churning at once.
    pub subscribers: usize,
    /// Topics the subscribers and messages were spread over.
    pub topics: usize,
    /// Messages published per second.
    pub rate_per_second: f64,
    /// Bytes asked for in each payload.
    pub payload_size: usize,
    /// How long the subscribers churned.
    pub duration_seconds: f64,
    /// Events each connection received before disconnecting.
    pub events_per_connection: u64,
    /// Connections that received their events and disconnected.
    pub cycles: u64,
    /// Connections that failed or that the target closed first.
    pub failed_cycles: u64,
    /// `cycles` over `duration_seconds`.
    pub cycles_per_second: f64,
    /// Events received over all connections.
    pub events_received: u64,
    /// Messages the target accepted.
    pub published: u64,
    /// Messages that failed on every attempt.
    pub publish_failures: u64,
    /// Least-squares slope of the resident memory over the second half of the run, in MiB per
    /// minute; near zero once the target has reached its working size.
    pub rss_slope_mib_per_minute: Option<f64>,
    /// The target's figures over time: at the start, every sampling interval, and once every
    /// subscriber has disconnected.
    pub samples: Vec<Sample>,
    /// The first error a subscriber met, if any.
    pub first_error: Option<String>,
}

impl ChurnReport {
    /// The JSON line.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the report: {e}\"}}"))
    }

    /// The human-readable summary, then the samples.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "target / transport      {:?} / {:?}", self.target, self.transport);
        let _ = writeln!(
            out,
            "churn                   {} subscribers, {} events per connection, {:.0} s; {} msg/s of {} B on {} topics",
            self.subscribers,
            self.events_per_connection,
            self.duration_seconds,
            self.rate_per_second,
            self.payload_size,
            self.topics
        );
        let _ = writeln!(
            out,
            "connections             {} completed ({:.0}/s), {} failed, {} events received",
            self.cycles, self.cycles_per_second, self.failed_cycles, self.events_received
        );
        let _ = writeln!(out, "published               {}, {} failed", self.published, self.publish_failures);
        if let Some(slope) = self.rss_slope_mib_per_minute {
            let _ = writeln!(out, "RSS slope, second half  {slope:+.2} MiB/min");
        }
        if let Some(e) = &self.first_error {
            let _ = writeln!(out, "first error             {e}");
        }
        let _ = writeln!(out, "{}", sample_header());
        for sample in &self.samples {
            let _ = writeln!(out, "{}", sample.row());
        }
        out
    }
}

/// Least-squares slope, per minute, of `figure` (bytes, shown in MiB) over the samples of the
/// second half of the run (the last sample, taken after everyone disconnected, excluded).
pub(crate) fn second_half_slope(samples: &[Sample], figure: impl Fn(&Sample) -> Option<u64>) -> Option<f64> {
    let during = samples.get(..samples.len().saturating_sub(1))?;
    let end = during.last()?.elapsed_seconds;
    let points: Vec<(f64, f64)> = during
        .iter()
        .filter(|s| s.elapsed_seconds >= end / 2.0)
        .filter_map(|s| Some((s.elapsed_seconds / 60.0, figure(s)? as f64 / (1024.0 * 1024.0))))
        .collect();
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let (mean_x, mean_y) = (points.iter().map(|p| p.0).sum::<f64>() / n, points.iter().map(|p| p.1).sum::<f64>() / n);
    let covariance: f64 = points.iter().map(|(x, y)| (x - mean_x) * (y - mean_y)).sum();
    let variance: f64 = points.iter().map(|(x, _)| (x - mean_x).powi(2)).sum();
    (variance > 0.0).then(|| covariance / variance)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: f64, rss_mib: u64) -> Sample {
        Sample {
            elapsed_seconds: seconds,
            rss_bytes: Some(rss_mib << 20),
            anonymous_bytes: None,
            open_fds: Some(10),
            cycles: 0,
            failed_cycles: 0,
            published: 0,
        }
    }

    #[test]
    fn slope_over_the_second_half() {
        // A jump during warm-up, then 2 MiB a minute; the sample after the run is left out.
        let samples = [at(0.0, 10), at(60.0, 30), at(120.0, 32), at(180.0, 34), at(240.0, 36), at(250.0, 5)];
        let slope = second_half_slope(&samples, |s| s.rss_bytes).expect("enough samples");
        assert!((slope - 2.0).abs() < 1e-9, "{slope}");
        assert_eq!(second_half_slope(&samples[..2], |s| s.rss_bytes), None);
        assert_eq!(second_half_slope(&samples, |s| s.anonymous_bytes), None);
    }

    #[test]
    fn rows_line_up_with_the_header() {
        let row = at(30.0, 20).row();
        assert_eq!(row.len(), sample_header().len());
        assert!(row.contains("20.0"));
    }
}
