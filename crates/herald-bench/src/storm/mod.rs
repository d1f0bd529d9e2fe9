//! A reconnect storm: every subscriber connected over SSE, publishing at a steady rate, then the
//! target restarted by the caller's command while publishing goes on. Each subscriber reconnects
//! as a browser's `EventSource` would (see [`client`]); the run measures how long each was
//! without a stream, the attempts that failed, the target's CPU and memory through it (read
//! from a pid file that the restart rewrites), and whether any event was lost or repeated.
//! Publishers retry each message until it is acknowledged, with an id, so a hub with a
//! deduplication window accepts it once however often it was sent.

mod client;
mod report;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Semaphore};
use tokio::task::JoinHandle;

use crate::config::{BenchConfig, Pace, Storm};
use crate::payload::Clock;
use crate::report::Latency;
use crate::target::Endpoints;
use crate::{procstat, publisher};

pub use report::{StormReport, TargetSample};

/// Longest wait for every subscriber to connect at the start.
const CONNECT_DEADLINE: Duration = Duration::from_secs(180);
/// After publishing ends, the longest wait for every subscriber to be back and caught up.
const SETTLE_DEADLINE: Duration = Duration::from_secs(120);
/// How often the run looks at its totals while it waits.
const TICK: Duration = Duration::from_millis(50);
/// Tries per message of a persistent publisher (100 ms apart: a minute).
const PUBLISH_ATTEMPTS: u32 = 600;

/// Runs the storm `config.storm` describes and returns its figures.
pub async fn storm(config: &BenchConfig) -> Result<StormReport, String> {
    config.validate()?;
    let (Some(storm), Pace::Rate { per_second }) = (config.storm.clone(), config.pace) else {
        return Err("a storm needs its settings and a publishing rate".into());
    };
    crate::net::raise_open_file_limit();
    let endpoints = Endpoints::new(config)?;
    let clock = Clock::start();
    let messages = (per_second * (storm.before + storm.after).as_secs_f64()).ceil() as usize;
    let shared = Arc::new(client::Shared {
        endpoints: endpoints.clone(),
        target: config.base_addr()?,
        sources: config.source_addrs.clone(),
        topics: config.topics,
        messages,
        publishers: config.publishers,
        clock,
        connecting: Semaphore::new(config.connect_concurrency.max(1)),
        open: AtomicUsize::new(0),
        ever_ready: AtomicUsize::new(0),
        refused_503: AtomicU64::new(0),
        refused_connect: AtomicU64::new(0),
        other_failures: AtomicU64::new(0),
    });

    // Connect everyone.
    let connecting = Instant::now();
    let (stops, clients): (Vec<oneshot::Sender<()>>, Vec<JoinHandle<client::Outcome>>) = (0..config.subscribers)
        .map(|i| {
            let (stop, stopped) = oneshot::channel();
            let shared = shared.clone();
            (stop, tokio::spawn(async move { client::run(&shared, i, stopped).await }))
        })
        .unzip();
    while shared.ever_ready.load(Ordering::Relaxed) < config.subscribers {
        if connecting.elapsed() > CONNECT_DEADLINE {
            return Err(format!(
                "only {} of {} subscribers connected in {CONNECT_DEADLINE:?}",
                shared.ever_ready.load(Ordering::Relaxed),
                config.subscribers
            ));
        }
        tokio::time::sleep(TICK).await;
    }
    let connect_seconds = connecting.elapsed().as_secs_f64();
    if config.progress {
        eprintln!("{} subscribers connected in {connect_seconds:.1} s", config.subscribers);
    }
    tokio::time::sleep(config.settle).await;

    // Sample the target from now on.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = tokio::spawn(sample_target(config.clone(), storm.sample_every, clock, sampling.clone()));

    // Publish, and restart the target partway.
    let persistent =
        publisher::Persistent { attempts: PUBLISH_ATTEMPTS, id_prefix: format!("urn:herald-bench:{}:", run_nonce()) };
    let publish =
        Arc::new(publisher::Shared::new(config, &endpoints, messages, clock, clock.now_us(), Some(persistent)));
    let publishers: Vec<JoinHandle<publisher::Outcome>> =
        (0..config.publishers).map(|i| publisher::spawn(publisher::run(publish.clone(), i))).collect();
    tokio::time::sleep(storm.before).await;
    let restart_us = clock.now_us();
    if config.progress {
        eprintln!("restarting the target: {}", storm.restart);
    }
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&storm.restart)
        .status()
        .await
        .map_err(|e| format!("cannot run the restart command: {e}"))?;
    let restart_seconds = (clock.now_us() - restart_us) as f64 / 1e6;
    if !status.success() {
        return Err(format!("the restart command failed ({status})"));
    }
    if config.progress {
        eprintln!("restart command done in {restart_seconds:.1} s; publishing goes on");
    }
    let (mut published, mut publish_failures, mut publish_error) = (0, 0, None);
    for handle in publishers {
        let outcome = handle.await.map_err(|e| format!("a publisher task failed: {e}"))?;
        published += outcome.sent;
        publish_failures += outcome.failed;
        publish_error = publish_error.or(outcome.first_error);
    }
    let publish_end_us = clock.now_us();

    // Wait for everyone to be back, then for the deliveries to stop.
    let waiting = Instant::now();
    while shared.open.load(Ordering::Relaxed) < config.subscribers && waiting.elapsed() < SETTLE_DEADLINE {
        tokio::time::sleep(TICK).await;
    }
    tokio::time::sleep(config.drain_timeout).await;
    sampling.store(false, Ordering::Relaxed);
    for stop in stops {
        let _ = stop.send(());
    }
    let mut outcomes = Vec::with_capacity(clients.len());
    for client in clients {
        outcomes.push(client.await.map_err(|e| format!("a subscriber task failed: {e}"))?);
    }
    let samples = sampler.await.map_err(|e| format!("the sampler failed: {e}"))?;

    Ok(tally(Tally {
        config,
        storm: &storm,
        shared: &shared,
        outcomes,
        samples,
        restart_us,
        restart_seconds,
        publish_end_us,
        connect_seconds,
        published,
        publish_failures,
        publish_retries: publish.retried.load(Ordering::Relaxed),
        publish_error,
        per_second,
    }))
}

/// Everything measured, before it is summed up.
struct Tally<'a> {
    config: &'a BenchConfig,
    storm: &'a Storm,
    shared: &'a client::Shared,
    outcomes: Vec<client::Outcome>,
    samples: Vec<TargetSample>,
    restart_us: u64,
    restart_seconds: f64,
    publish_end_us: u64,
    connect_seconds: f64,
    published: u64,
    publish_failures: u64,
    publish_retries: u64,
    publish_error: Option<String>,
    per_second: f64,
}

fn tally(t: Tally<'_>) -> StormReport {
    let mut back_us: Vec<u32> = Vec::new();
    let (mut outages, mut not_back, mut all_back_us, mut lost, mut duplicated, mut reordered) = (0, 0, 0, 0, 0, 0);
    let (mut delivered, mut expected, mut failed_attempts_max) = (0, 0, 0);
    let mut first_error = t.publish_error.clone();
    let mut without_outage = 0;
    for outcome in &t.outcomes {
        let mut had = false;
        for outage in outcome.outages.iter().filter(|o| o.ended_us >= t.restart_us) {
            had = true;
            outages += 1;
            failed_attempts_max = failed_attempts_max.max(outage.failed_attempts);
            match outage.back_us {
                Some(back) => {
                    back_us.push(u32::try_from(back - outage.ended_us).unwrap_or(u32::MAX));
                    all_back_us = all_back_us.max(back);
                }
                None => not_back += 1,
            }
        }
        without_outage += usize::from(!had);
        lost += outcome.tracker.lost();
        duplicated += outcome.tracker.duplicated;
        reordered += outcome.tracker.reordered;
        delivered += outcome.tracker.received;
        expected += outcome.tracker.received + outcome.tracker.lost();
        if first_error.is_none() {
            first_error.clone_from(&outcome.first_error);
        }
    }
    let time_back = Latency::of(&mut back_us);
    let peak_cpu =
        t.samples.iter().filter_map(|s| s.cpu_percent).fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))));
    let peak_rss = t.samples.iter().filter_map(|s| s.peak_rss_bytes.or(s.rss_bytes)).max();
    StormReport {
        subscribers: t.config.subscribers,
        topics: t.config.topics,
        rate_per_second: t.per_second,
        publishers: t.config.publishers,
        payload_size: t.config.payload_size,
        restart_command: t.storm.restart.clone(),
        connect_seconds: t.connect_seconds,
        restart_command_seconds: t.restart_seconds,
        outages,
        subscribers_without_outage: without_outage,
        not_back,
        time_back,
        all_back_seconds: (all_back_us > 0).then(|| (all_back_us - t.restart_us) as f64 / 1e6),
        most_failed_attempts_in_one_outage: failed_attempts_max,
        refused_503: t.shared.refused_503.load(Ordering::Relaxed),
        refused_connect: t.shared.refused_connect.load(Ordering::Relaxed),
        other_failures: t.shared.other_failures.load(Ordering::Relaxed),
        published: t.published,
        publish_failures: t.publish_failures,
        publish_retries: t.publish_retries,
        publish_seconds_after_restart: (t.publish_end_us.saturating_sub(t.restart_us)) as f64 / 1e6,
        expected_deliveries: expected,
        deliveries: delivered,
        lost,
        duplicated,
        reordered,
        target_peak_cpu_percent: peak_cpu,
        target_peak_rss_bytes: peak_rss,
        samples: t.samples,
        first_error,
    }
}

/// Reads the target's CPU time and memory every `sample_every` while `running`.
async fn sample_target(
    config: BenchConfig,
    sample_every: Duration,
    clock: Clock,
    running: Arc<std::sync::atomic::AtomicBool>,
) -> Vec<TargetSample> {
    let mut samples = Vec::new();
    let mut previous: Option<(u32, u64, Duration)> = None;
    let mut every = tokio::time::interval(sample_every);
    while running.load(Ordering::Relaxed) {
        every.tick().await;
        let now = clock.now_us();
        let pid = config.target_pids().first().copied();
        let Some(pid) = pid else {
            samples.push(TargetSample { at_seconds: now as f64 / 1e6, ..TargetSample::default() });
            continue;
        };
        let cpu = procstat::cpu_time(pid).ok();
        let cpu_percent = match (previous, cpu) {
            (Some((was, at, spent)), Some(cpu)) if was == pid && now > at => {
                Some(cpu.saturating_sub(spent).as_secs_f64() * 1e8 / (now - at) as f64)
            }
            _ => None,
        };
        previous = cpu.map(|cpu| (pid, now, cpu));
        samples.push(TargetSample {
            at_seconds: now as f64 / 1e6,
            pid: Some(pid),
            cpu_percent,
            rss_bytes: procstat::rss_bytes(pid).ok(),
            peak_rss_bytes: procstat::peak_rss_bytes(pid).ok(),
            open_fds: procstat::open_fds(pid).ok(),
        });
    }
    samples
}

/// A random number to make this run's event ids its own.
fn run_nonce() -> u64 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    (nanos as u64) ^ u64::from(std::process::id()).rotate_left(32)
}
