//! One benchmark run, phase by phase: connect the subscribers, read the target's memory,
//! publish, wait for the deliveries, then tally.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{BenchConfig, Pace};
use crate::payload::Clock;
use crate::procstat;
use crate::report::{Latency, Report};
use crate::target::Endpoints;
use crate::tracker::Tracker;
use crate::{publisher, subscriber};

/// Longest wait for every subscriber to be ready.
const CONNECT_DEADLINE: Duration = Duration::from_secs(180);
/// How often the live totals are read.
const TICK: Duration = Duration::from_millis(50);

/// Runs the benchmark `config` describes and returns its figures.
pub async fn run(config: &BenchConfig) -> Result<Report, String> {
    config.validate()?;
    let limit = crate::net::raise_open_file_limit();
    let needed = (config.subscribers + config.publishers + 64) as u64;
    if needed > limit {
        tracing::warn!("{needed} file descriptors may be needed, the limit is {limit}");
    }
    let endpoints = Endpoints::new(config)?;
    let clock = Clock::start();
    let shared = Arc::new(subscriber::Shared::new(config, endpoints.clone(), clock)?);
    let pids = &config.pids;
    let rss_before = read_pids(pids, procstat::rss_bytes);

    // Connect.
    let connecting = Instant::now();
    let bar = progress(config, config.subscribers as u64, "connecting");
    let (stops, subscribers): (Vec<oneshot::Sender<()>>, Vec<JoinHandle<subscriber::Outcome>>) = (0..config
        .subscribers)
        .map(|i| {
            let (stop, stopped) = oneshot::channel();
            (stop, tokio::spawn(subscriber::run(shared.clone(), i, stopped)))
        })
        .unzip();
    while connecting.elapsed() < CONNECT_DEADLINE {
        let done = shared.ready.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed);
        bar.set_position(done as u64);
        if done >= config.subscribers {
            break;
        }
        tokio::time::sleep(TICK).await;
    }
    let connect_seconds = connecting.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let connected = shared.ready.load(Ordering::Relaxed);
    tracing::info!("{connected} of {} subscribers ready in {connect_seconds:.1} s", config.subscribers);
    tokio::time::sleep(config.settle).await;
    let rss_connected = read_pids(pids, procstat::rss_bytes);

    // Publish, and wait for the deliveries.
    let expected: u64 =
        (0..config.subscribers).map(|i| Tracker::expected_for(i % config.topics, config.topics, shared.messages)).sum();
    let cpu_before = read_pids(pids, procstat::cpu_time);
    let bench_cpu_before = procstat::cpu_time(std::process::id()).unwrap_or_default();
    let start_us = clock.now_us();
    let mut publish = PublishTally::default();
    if config.pace != Pace::Idle {
        publish = publish_and_drain(config, &endpoints, &shared, start_us, expected).await?;
    }
    let cpu_after = read_pids(pids, procstat::cpu_time);
    let bench_cpu = procstat::cpu_time(std::process::id()).unwrap_or_default().saturating_sub(bench_cpu_before);

    // Tally.
    for stop in stops {
        let _ = stop.send(());
    }
    let mut tally = SubscriberTally::default();
    for handle in subscribers {
        match handle.await {
            Ok(outcome) => tally.add(outcome),
            Err(e) => {
                tally.failed += 1;
                tally.first_error.get_or_insert_with(|| format!("a subscriber task failed: {e}"));
            }
        }
    }
    let deliveries = tally.received;
    let last_us = shared.last_delivery_us.load(Ordering::Relaxed);
    let delivery_seconds = last_us.saturating_sub(start_us) as f64 / 1e6;
    let per_delivery = |seconds: f64| (deliveries > 0).then(|| seconds * 1e6 / deliveries as f64);
    let target_cpu = match (cpu_before, cpu_after) {
        (Some(before), Some(after)) if config.pace != Pace::Idle => Some(after.saturating_sub(before).as_secs_f64()),
        _ => None,
    };
    let rss_per_connection = match (rss_before, rss_connected) {
        (Some(before), Some(after)) if connected > 0 => Some((after as f64 - before as f64) / connected as f64),
        _ => None,
    };
    Ok(Report {
        target: config.target,
        transport: config.transport,
        pace: config.pace,
        subscribers: config.subscribers,
        topics: config.topics,
        messages: shared.messages,
        payload_size: config.payload_size,
        publishers: config.publishers,
        connected,
        failed_connections: tally.failed,
        connect_retries: shared.retries.load(Ordering::Relaxed),
        dropped_connections: tally.dropped,
        connect_seconds,
        published: publish.sent,
        publish_failures: publish.failed,
        publish_seconds: publish.seconds,
        publishes_per_second: if publish.seconds > 0.0 { publish.sent as f64 / publish.seconds } else { 0.0 },
        expected_deliveries: expected,
        deliveries,
        lost: tally.lost,
        cut_short: publish.cut_short,
        duplicated: tally.duplicated,
        reordered: tally.reordered,
        foreign: tally.foreign,
        delivery_seconds,
        deliveries_per_second: if delivery_seconds > 0.0 { deliveries as f64 / delivery_seconds } else { 0.0 },
        latency: Latency::of(&mut tally.latencies_us),
        publish_ack: Latency::of(&mut publish.ack_us),
        target_rss_before_bytes: rss_before,
        target_rss_connected_bytes: rss_connected,
        target_rss_per_connection_bytes: rss_per_connection,
        target_cpu_seconds: target_cpu,
        target_cpu_us_per_delivery: target_cpu.and_then(per_delivery),
        target_cpu_us_per_publish: target_cpu
            .and_then(|seconds| (publish.sent > 0).then(|| seconds * 1e6 / publish.sent as f64)),
        bench_cpu_seconds: bench_cpu.as_secs_f64(),
        bench_cpu_us_per_delivery: per_delivery(bench_cpu.as_secs_f64()),
        ws_bytes_received: shared.bytes_received.load(Ordering::Relaxed),
        ws_bytes_per_delivery: per_delivery(shared.bytes_received.load(Ordering::Relaxed) as f64 / 1e6),
        ws_deflate: config.ws_deflate,
        first_error: publish.first_error.or(tally.first_error),
    })
}

#[derive(Debug, Default)]
struct PublishTally {
    /// The drain deadline passed while deliveries were still arriving.
    cut_short: bool,
    sent: u64,
    failed: u64,
    seconds: f64,
    first_error: Option<String>,
    /// Each acknowledged publish's round trip, in microseconds.
    ack_us: Vec<u32>,
}

/// Runs the publishers, then waits until every expected delivery arrived or none arrived for
/// the drain timeout.
async fn publish_and_drain(
    config: &BenchConfig,
    endpoints: &Endpoints,
    subscribers: &subscriber::Shared,
    start_us: u64,
    expected: u64,
) -> Result<PublishTally, String> {
    let shared =
        Arc::new(publisher::Shared::new(config, endpoints, config.messages, subscribers.clock, start_us, None));
    // Without subscribers the figure is the publishing rate, so the publishers connect before the
    // clock starts: many connecting at once overflow a small listen backlog (128 is common), and
    // the connections the kernel dropped are only retried a second later.
    let mut connections: Vec<Option<publisher::Connection>> = Vec::new();
    if config.publish_only {
        let connecting: Vec<_> =
            (0..config.publishers).map(|_| publisher::spawn(publisher::connect(shared.addr))).collect();
        for handle in connecting {
            connections.push(handle.await.ok().and_then(Result::ok));
        }
    }
    connections.resize_with(config.publishers, || None);
    let started = Instant::now();
    let mut publishers: Vec<JoinHandle<publisher::Outcome>> = connections
        .into_iter()
        .enumerate()
        .map(|(i, connection)| publisher::spawn(publisher::run_on(shared.clone(), i, connection)))
        .collect();
    let bar = progress(config, expected, "deliveries");
    let mut tally = PublishTally::default();
    let mut publishing_ended: Option<Instant> = None;
    let mut last_count = 0;
    let mut last_progress = Instant::now();
    loop {
        tokio::time::sleep(TICK).await;
        let delivered = subscribers.delivered.load(Ordering::Relaxed);
        bar.set_position(delivered);
        bar.set_message(format!("published {}", shared.sent.load(Ordering::Relaxed)));
        if delivered != last_count {
            last_count = delivered;
            last_progress = Instant::now();
        }
        if publishing_ended.is_none() && publishers.iter().all(JoinHandle::is_finished) {
            publishing_ended = Some(Instant::now());
            tally.seconds = started.elapsed().as_secs_f64();
            for handle in publishers.drain(..) {
                let outcome = handle.await.map_err(|e| format!("a publisher task failed: {e}"))?;
                tally.sent += outcome.sent;
                tally.failed += outcome.failed;
                tally.first_error = tally.first_error.or(outcome.first_error);
                tally.ack_us.extend(outcome.ack_us);
            }
        }
        if let Some(ended) = publishing_ended {
            let quiet = last_progress.max(ended).elapsed();
            if delivered >= expected || quiet >= config.drain_timeout {
                break;
            }
            if ended.elapsed() >= config.drain_deadline {
                tracing::warn!("deliveries still arriving {:?} after the last publish: stopped", config.drain_deadline);
                tally.cut_short = true;
                break;
            }
        }
    }
    bar.finish_and_clear();
    Ok(tally)
}

/// Totals over every subscriber's outcome.
#[derive(Debug, Default)]
struct SubscriberTally {
    failed: usize,
    dropped: usize,
    received: u64,
    lost: u64,
    duplicated: u64,
    reordered: u64,
    foreign: u64,
    latencies_us: Vec<u32>,
    first_error: Option<String>,
}

impl SubscriberTally {
    fn add(&mut self, outcome: subscriber::Outcome) {
        let t = outcome.tracker;
        self.failed += usize::from(outcome.failed);
        self.dropped += usize::from(outcome.dropped && !outcome.failed);
        self.received += t.received;
        self.lost += t.lost();
        self.duplicated += t.duplicated;
        self.reordered += t.reordered;
        self.foreign += t.foreign;
        self.latencies_us.extend_from_slice(&t.latencies_us);
        if self.first_error.is_none() {
            self.first_error = outcome.error;
        }
    }
}

/// Sums `read` over `pids`; `None` without pids or when one cannot be read.
fn read_pids<T: std::iter::Sum>(pids: &[u32], read: impl Fn(u32) -> std::io::Result<T>) -> Option<T> {
    if pids.is_empty() {
        return None;
    }
    procstat::total(pids, read).map_err(|e| tracing::warn!("cannot read the target's /proc figures: {e}")).ok()
}

fn progress(config: &BenchConfig, len: u64, what: &'static str) -> ProgressBar {
    if !config.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_prefix(what);
    if let Ok(style) = ProgressStyle::with_template("{prefix:>12} [{bar:40}] {pos}/{len} {per_sec} {msg}") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU64;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;
    use crate::config::{Target, Transport};

    /// The length of the first whole request in `buf` (head and body), if one has arrived.
    fn whole_request(buf: &[u8]) -> Option<usize> {
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut request = httparse::Request::new(&mut headers);
        let httparse::Status::Complete(head) = request.parse(buf).ok()? else { return None };
        let length = request
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
            .unwrap_or(0);
        (buf.len() >= head + length).then_some(head + length)
    }

    /// A stand-in hub: answers every request on `stream` with 200 and counts them.
    async fn acknowledge(mut stream: TcpStream, count: Arc<AtomicU64>) {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            while let Some(length) = whole_request(&buf) {
                buf.drain(..length);
                count.fetch_add(1, Ordering::Relaxed);
                if stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nurn:1").await.is_err() {
                    return;
                }
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    #[tokio::test]
    async fn publish_only_counts_publishes_per_second() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("its address"));
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(acknowledge(stream, counted.clone()));
            }
        });
        let mut config = BenchConfig::new(Target::Herald, Transport::Sse, base);
        config.publish_only = true;
        config.subscribers = 0;
        config.messages = 200;
        config.publishers = 4;
        config.settle = Duration::ZERO;
        // The stand-in hub runs in this process, so its CPU time is this process's.
        config.pids = vec![std::process::id()];
        let report = run(&config).await.expect("the run completes");
        assert_eq!((report.published, report.publish_failures), (200, 0), "{:?}", report.first_error);
        assert_eq!(count.load(Ordering::Relaxed), 200);
        assert_eq!((report.expected_deliveries, report.deliveries, report.connected), (0, 0, 0));
        assert!(report.latency.is_none() && report.publish_ack.is_some());
        assert!(report.publishes_per_second > 0.0);
        assert!(report.target_cpu_us_per_publish.is_some() && report.target_cpu_us_per_delivery.is_none());
        assert!(report.is_clean());
        assert!(report.table().contains("µs per publish") || report.target_cpu_seconds == Some(0.0));
    }
}
