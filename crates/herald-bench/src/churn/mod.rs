//! A churn run: subscribers connect, receive a few events, disconnect and start over, for a set
//! time, while publishers send at a steady rate; the target's resident memory and open
//! descriptors are read every few seconds, so growth that connections leave behind shows as a
//! slope rather than a single figure.

mod report;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{BenchConfig, Pace};
use crate::payload::Clock;
use crate::subscriber::{self, Cycle};
use crate::target::Endpoints;
use crate::{procstat, publisher};

pub use report::{ChurnReport, Sample};

/// Pause after a failed connection before the subscriber tries again.
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// How long publishers may run past the end before they are stopped.
const PUBLISH_GRACE: Duration = Duration::from_secs(5);

/// Totals the churning subscribers keep.
#[derive(Debug, Default)]
struct Counters {
    cycles: AtomicU64,
    failed: AtomicU64,
    events: AtomicU64,
    first_error: Mutex<Option<String>>,
}

/// Runs the churn `config.churn` describes against the target and returns its figures.
pub async fn churn(config: &BenchConfig) -> Result<ChurnReport, String> {
    config.validate()?;
    let (Some(churn), Pace::Rate { per_second }) = (config.churn, config.pace) else {
        return Err("churn needs its settings and a publishing rate".into());
    };
    crate::net::raise_open_file_limit();
    let endpoints = Endpoints::new(config)?;
    let clock = Clock::start();
    let shared = Arc::new(subscriber::Shared::new(config, endpoints.clone(), clock)?);
    let counters = Arc::new(Counters::default());
    let messages = (per_second * churn.duration.as_secs_f64()).ceil() as usize;
    let publish = Arc::new(publisher::Shared::new(config, &endpoints, messages, clock, clock.now_us(), None));
    let started = Instant::now();
    let mut samples = vec![sample(&config.target_pids(), started, &counters, &publish)];
    if config.progress {
        eprintln!("{}", report::sample_header());
        eprintln!("{}", samples[0].row());
    }

    let publishers: Vec<JoinHandle<publisher::Outcome>> =
        (0..config.publishers).map(|i| publisher::spawn(publisher::run(publish.clone(), i))).collect();
    let (stops, clients): (Vec<oneshot::Sender<()>>, Vec<JoinHandle<()>>) = (0..config.subscribers)
        .map(|i| {
            let (stop, stopped) = oneshot::channel();
            (
                stop,
                tokio::spawn(churn_subscriber(
                    shared.clone(),
                    counters.clone(),
                    i,
                    churn.events_per_connection,
                    stopped,
                )),
            )
        })
        .unzip();

    let mut next = started + churn.sample_every;
    while started.elapsed() < churn.duration {
        tokio::time::sleep_until(next.min(started + churn.duration).into()).await;
        next += churn.sample_every;
        samples.push(sample(&config.target_pids(), started, &counters, &publish));
        if config.progress {
            eprintln!("{}", samples[samples.len() - 1].row());
        }
    }
    let churn_seconds = started.elapsed().as_secs_f64();
    for stop in stops {
        let _ = stop.send(());
    }
    for client in clients {
        let _ = client.await;
    }
    let (mut published, mut publish_failures) = (0, 0);
    for handle in publishers {
        let abort = handle.abort_handle();
        match tokio::time::timeout(PUBLISH_GRACE, handle).await {
            Ok(Ok(outcome)) => {
                published += outcome.sent;
                publish_failures += outcome.failed;
            }
            Ok(Err(e)) => return Err(format!("a publisher task failed: {e}")),
            Err(_) => {
                abort.abort();
                published = publish.sent.load(Ordering::Relaxed);
            }
        }
    }
    // Once every subscriber is gone, the target should be back to its idle descriptors.
    tokio::time::sleep(config.settle).await;
    let after = sample(&config.target_pids(), started, &counters, &publish);
    if config.progress {
        eprintln!("{}  (all disconnected)", after.row());
    }
    samples.push(after);

    let cycles = counters.cycles.load(Ordering::Relaxed);
    let first_error = counters.first_error.lock().map_err(|_| "a subscriber panicked")?.take();
    Ok(ChurnReport {
        target: config.target,
        transport: config.transport,
        subscribers: config.subscribers,
        topics: config.topics,
        rate_per_second: per_second,
        payload_size: config.payload_size,
        duration_seconds: churn_seconds,
        events_per_connection: churn.events_per_connection,
        cycles,
        failed_cycles: counters.failed.load(Ordering::Relaxed),
        cycles_per_second: cycles as f64 / churn_seconds,
        events_received: counters.events.load(Ordering::Relaxed),
        published,
        publish_failures,
        rss_slope_mib_per_minute: report::second_half_slope(&samples, |s| s.rss_bytes),
        samples,
        first_error,
    })
}

/// Subscriber `index`, connecting again and again until told to stop.
async fn churn_subscriber(
    shared: Arc<subscriber::Shared>,
    counters: Arc<Counters>,
    index: usize,
    quota: u64,
    mut stop: oneshot::Receiver<()>,
) {
    loop {
        let (outcome, received) = subscriber::cycle(&shared, index, quota, &mut stop).await;
        counters.events.fetch_add(received, Ordering::Relaxed);
        match outcome {
            Cycle::Done => {
                counters.cycles.fetch_add(1, Ordering::Relaxed);
            }
            Cycle::Stopped => return,
            Cycle::Failed(e) => {
                counters.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = counters.first_error.lock() {
                    first.get_or_insert(e);
                }
                tokio::select! {
                    biased;
                    _ = &mut stop => return,
                    () = tokio::time::sleep(RETRY_PAUSE) => {}
                }
            }
        }
    }
}

/// The target's figures now, with the run's totals so far.
fn sample(pids: &[u32], started: Instant, counters: &Counters, publish: &publisher::Shared) -> Sample {
    let read =
        |what: fn(u32) -> std::io::Result<u64>| (!pids.is_empty()).then(|| procstat::total(pids, what).ok()).flatten();
    Sample {
        elapsed_seconds: started.elapsed().as_secs_f64(),
        rss_bytes: read(procstat::rss_bytes),
        anonymous_bytes: read(procstat::anonymous_bytes),
        open_fds: read(procstat::open_fds),
        cycles: counters.cycles.load(Ordering::Relaxed),
        failed_cycles: counters.failed.load(Ordering::Relaxed),
        published: publish.sent.load(Ordering::Relaxed),
    }
}
