//! Latency histograms with fixed buckets, for `/metrics`.
//!
//! The hot paths (every publish, every batch written to a subscriber) record into a static array
//! of atomic counters: no allocation, no lock, no registry lookup, and memory that stays the same
//! however long nobody scrapes. The Prometheus exporter's own histograms keep every sample until
//! a scrape or an upkeep pass drains them, which a hub that is never scraped would pay for in
//! memory. A scrape renders these in the Prometheus text format, after the exporter's output.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use herald_core::Event;

/// Upper bounds of the buckets, in microseconds: 100 µs to 10 s, about three per decade.
pub(crate) const BOUNDS_MICROS: [u64; 15] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];

/// A histogram of durations.
pub(crate) struct Histogram {
    name: &'static str,
    help: &'static str,
    /// Observations at or under each bound (not cumulative; the last one is `+Inf`).
    buckets: [AtomicU64; BOUNDS_MICROS.len() + 1],
    sum_micros: AtomicU64,
}

/// From a publisher's admission (its request head read and its token checked) to the event held
/// by the hub (durable, with the disk store), just before the answer is sent.
pub(crate) static PUBLISH_ACK: Histogram = Histogram::new(
    "herald_publish_ack_seconds",
    "Time from a publish's admission to the event being held by the hub (durably with the disk store), just before the publisher is answered",
);

/// From the hub accepting an event to a subscriber's connection taking it to write, for events
/// delivered live (not replays), once per batch (its newest event).
pub(crate) static PUBLISH_TO_WRITE: Histogram = Histogram::new(
    "herald_publish_to_write_seconds",
    "Time from the hub accepting an event to a subscriber's connection writing it (live deliveries, the newest event of each batch written)",
);

/// Records a batch a subscriber's connection took live (not from a replay) to write: the
/// publish-to-write delay of its newest event.
pub(crate) fn written_live(batch: &[Arc<Event>]) {
    if let Some(newest) = batch.last() {
        PUBLISH_TO_WRITE.observe(newest.created.elapsed());
    }
}

impl Histogram {
    const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            buckets: [const { AtomicU64::new(0) }; BOUNDS_MICROS.len() + 1],
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub(crate) fn observe(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The observations in each bucket so far (not cumulative; the last one is over every bound).
    pub(crate) fn counts(&self) -> [u64; BOUNDS_MICROS.len() + 1] {
        std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed))
    }

    /// Appends the histogram in the Prometheus text format.
    pub(crate) fn render(&self, out: &mut String) {
        let _ = writeln!(out, "# HELP {} {}", self.name, self.help);
        let _ = writeln!(out, "# TYPE {} histogram", self.name);
        let mut cumulative = 0u64;
        for (bound, count) in BOUNDS_MICROS.iter().zip(&self.buckets) {
            cumulative = cumulative.saturating_add(count.load(Ordering::Relaxed));
            let _ = writeln!(out, "{}_bucket{{le=\"{}\"}} {cumulative}", self.name, *bound as f64 / 1e6);
        }
        cumulative = cumulative.saturating_add(self.buckets[BOUNDS_MICROS.len()].load(Ordering::Relaxed));
        let _ = writeln!(out, "{}_bucket{{le=\"+Inf\"}} {cumulative}", self.name);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{}_sum {sum}", self.name);
        let _ = writeln!(out, "{}_count {cumulative}", self.name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_their_bucket_and_render_cumulatively() {
        let histogram = Histogram::new("test_seconds", "A test histogram");
        histogram.observe(Duration::from_micros(50));
        histogram.observe(Duration::from_micros(100));
        histogram.observe(Duration::from_millis(3));
        histogram.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram.render(&mut out);
        assert!(out.contains("# TYPE test_seconds histogram\n"));
        assert!(out.contains("test_seconds_bucket{le=\"0.0001\"} 2\n"), "{out}");
        assert!(out.contains("test_seconds_bucket{le=\"0.0025\"} 2\n"), "{out}");
        assert!(out.contains("test_seconds_bucket{le=\"0.005\"} 3\n"), "{out}");
        assert!(out.contains("test_seconds_bucket{le=\"10\"} 3\n"), "{out}");
        assert!(out.contains("test_seconds_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("test_seconds_count 4\n"), "{out}");
        assert!(out.contains("test_seconds_sum 60.00315\n"), "{out}");
    }
}
