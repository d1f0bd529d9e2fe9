//! Watching a topic that someone else publishes on (a demo, an application): many SSE
//! spectators, checked against each other and against the hub's history.
//!
//! The load generator does not publish, so it cannot know the messages in advance. Instead a
//! reference spectator connects first and keeps every event id; the others keep a hash of each
//! id. Once all are connected the measured window opens; when it closes, the reference stops
//! first and, a second later, the others. Every spectator must have received a contiguous run
//! of the reference's events, each once and in order, from before the window opened to the
//! reference's last event; and the reference's own sequence must be exactly what the hub
//! replays after its first event. So an event missed, repeated or reordered by any spectator,
//! or by all of them alike, is found.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Semaphore};

use crate::config::BenchConfig;
use crate::http1::read_head;
use crate::procstat;
use crate::target::Endpoints;

/// Longest wait for every spectator to be ready.
const CONNECT_DEADLINE: Duration = Duration::from_secs(180);
/// How long the others keep receiving after the reference stopped.
const TAIL: Duration = Duration::from_secs(1);
/// Longest wait for the replay that checks the reference.
const REPLAY_DEADLINE: Duration = Duration::from_secs(30);

/// What to watch, and for how long.
#[derive(Debug, Clone)]
pub struct Watch {
    /// The topic (subscribed with `match=`).
    pub topic: String,
    /// How long the measured window lasts.
    pub duration: Duration,
}

/// What a watch run found.
#[derive(Debug, Clone, Default)]
pub struct WatchReport {
    /// Spectators asked for.
    pub spectators: usize,
    /// Spectators whose stream opened.
    pub connected: usize,
    /// How long connecting them took.
    pub connect_seconds: f64,
    /// Events the reference received in the window.
    pub events: usize,
    /// Events received by all spectators in the window.
    pub deliveries: u64,
    /// How long the window lasted.
    pub window_seconds: f64,
    /// Spectators whose events were not a contiguous, in-order, once-each run of the
    /// reference's up to its end (a loss, a duplicate, a reordering, or a connection lost).
    pub broken: usize,
    /// Whether the reference's events are exactly the hub's replay after its first one.
    pub reference_matches_history: bool,
    /// The target's CPU time over the window, when its process ids were given.
    pub target_cpu_seconds: Option<f64>,
}

impl WatchReport {
    /// True when nothing was lost, repeated or reordered, and every spectator connected.
    pub fn is_clean(&self) -> bool {
        self.broken == 0 && self.connected == self.spectators && self.reference_matches_history
    }

    /// The report as a small table.
    pub fn table(&self) -> String {
        let per_s = self.deliveries as f64 / self.window_seconds.max(1e-9);
        let cpu = self.target_cpu_seconds.map_or_else(
            || "–".to_owned(),
            |s| format!("{s:.2} s ({:.2} µs per delivery)", s * 1e6 / (self.deliveries.max(1) as f64)),
        );
        format!(
            "spectators              {} of {} connected in {:.1} s\n\
             events in the window    {} in {:.1} s\n\
             deliveries              {} ({per_s:.0}/s)\n\
             broken spectators       {}\n\
             reference = history     {}\n\
             target CPU              {cpu}\n",
            self.connected,
            self.spectators,
            self.connect_seconds,
            self.events,
            self.window_seconds,
            self.deliveries,
            self.broken,
            self.reference_matches_history,
        )
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "spectators": self.spectators,
            "connected": self.connected,
            "connect_seconds": self.connect_seconds,
            "events": self.events,
            "deliveries": self.deliveries,
            "window_seconds": self.window_seconds,
            "deliveries_per_second": self.deliveries as f64 / self.window_seconds.max(1e-9),
            "broken": self.broken,
            "reference_matches_history": self.reference_matches_history,
            "target_cpu_seconds": self.target_cpu_seconds,
            "cpu_per_delivery_us": self.target_cpu_seconds.map(|s| s * 1e6 / self.deliveries.max(1) as f64),
        })
        .to_string()
    }
}

struct Shared {
    endpoints: Endpoints,
    config: BenchConfig,
    topic: String,
    connecting: Semaphore,
    ready: AtomicUsize,
    failed: AtomicUsize,
    /// Set while the window is open: deliveries are counted.
    window: AtomicBool,
    delivered: AtomicU64,
    /// Events the reference had received when the window opened.
    reference_before_window: AtomicUsize,
}

/// What one spectator received.
#[derive(Default)]
struct Seen {
    hashes: Vec<u64>,
    /// The ids themselves (the reference only).
    ids: Vec<String>,
    connected: bool,
    error: Option<String>,
}

/// Runs a watch: see the module's documentation.
pub async fn watch(config: &BenchConfig) -> Result<WatchReport, String> {
    let Some(watch) = config.watch.clone() else {
        return Err("no topic to watch".into());
    };
    if config.subscribers == 0 {
        return Err("a watch needs at least one spectator (--subscribers)".into());
    }
    crate::net::raise_open_file_limit();
    let shared = Arc::new(Shared {
        endpoints: Endpoints::new(config)?,
        config: config.clone(),
        topic: watch.topic.clone(),
        connecting: Semaphore::new(config.connect_concurrency.max(1)),
        ready: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        window: AtomicBool::new(false),
        delivered: AtomicU64::new(0),
        reference_before_window: AtomicUsize::new(0),
    });
    let connecting = Instant::now();
    let reference_received = Arc::new(AtomicUsize::new(0));
    let (stop_reference, stopped) = oneshot::channel();
    let reference = tokio::spawn(spectate(shared.clone(), 0, stopped, Some(reference_received.clone())));
    wait_until(|| shared.ready.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) >= 1).await;
    let (stops, others): (Vec<_>, Vec<_>) = (1..config.subscribers)
        .map(|i| {
            let (stop, stopped) = oneshot::channel();
            (stop, tokio::spawn(spectate(shared.clone(), i, stopped, None)))
        })
        .unzip();
    let deadline = Instant::now() + CONNECT_DEADLINE;
    wait_until(|| {
        Instant::now() >= deadline
            || shared.ready.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed) >= config.subscribers
    })
    .await;
    let connect_seconds = connecting.elapsed().as_secs_f64();
    let connected = shared.ready.load(Ordering::Relaxed);
    tracing::info!("{connected} of {} spectators ready in {connect_seconds:.1} s", config.subscribers);
    tokio::time::sleep(config.settle).await;

    // The window.
    let cpu_before = cpu(&config.pids);
    shared.reference_before_window.store(reference_received.load(Ordering::Relaxed), Ordering::Relaxed);
    shared.window.store(true, Ordering::Relaxed);
    let window = Instant::now();
    tokio::time::sleep(watch.duration).await;
    let window_seconds = window.elapsed().as_secs_f64();
    let cpu_after = cpu(&config.pids);
    let _ = stop_reference.send(());
    let reference = reference.await.map_err(|e| format!("the reference spectator failed: {e}"))?;
    shared.window.store(false, Ordering::Relaxed);
    tokio::time::sleep(TAIL).await;
    for stop in stops {
        let _ = stop.send(());
    }
    let mut seen = Vec::with_capacity(others.len());
    for other in others {
        seen.push(other.await.map_err(|e| format!("a spectator failed: {e}"))?);
    }

    let before = shared.reference_before_window.load(Ordering::Relaxed);
    let position: HashMap<u64, usize> = reference.hashes.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let broken = usize::from(reference.error.is_some())
        + seen.iter().filter(|s| !s.connected || !follows(&s.hashes, &reference.hashes, &position, before)).count();
    for (i, s) in seen.iter().enumerate().filter(|(_, s)| s.error.is_some()).take(3) {
        tracing::warn!("spectator {}: {}", i + 1, s.error.as_deref().unwrap_or_default());
    }
    let reference_matches_history = replay_matches(&shared, &reference.ids).await;
    Ok(WatchReport {
        spectators: config.subscribers,
        connected,
        connect_seconds,
        events: reference.hashes.len().saturating_sub(before),
        deliveries: shared.delivered.load(Ordering::Relaxed),
        window_seconds,
        broken,
        reference_matches_history,
        target_cpu_seconds: match (cpu_before, cpu_after) {
            (Some(b), Some(a)) => Some(a.saturating_sub(b).as_secs_f64()),
            _ => None,
        },
    })
}

/// Whether `seen` is a contiguous run of `reference` that starts at or before `before` (the
/// window's first event) and reaches the reference's end.
fn follows(seen: &[u64], reference: &[u64], position: &HashMap<u64, usize>, before: usize) -> bool {
    if reference.len() <= before {
        // Nothing happened in the window: anything contiguous will do.
        return seen.is_empty() || position.get(&seen[0]).is_some_and(|&p| reference[p..].starts_with(seen));
    }
    let Some(&start) = seen.first().and_then(|first| position.get(first)) else {
        return false;
    };
    let expected = &reference[start..];
    start <= before && seen.len() >= expected.len() && seen[..expected.len()] == *expected
}

/// Whether the hub's replay after the reference's first event gives the rest of its events.
async fn replay_matches(shared: &Shared, ids: &[String]) -> bool {
    let Some((first, rest)) = ids.split_first() else {
        return true;
    };
    let replay = tokio::time::timeout(REPLAY_DEADLINE, async {
        let mut stream = crate::net::connect_from(shared.config.source_addrs[0], shared.config.base_addr()?)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        let request = shared.endpoints.sse_request_after(&shared.topic, Some(first));
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("send: {e}"))?;
        let mut buf = Vec::new();
        let head = read_head(&mut stream, &mut buf).await.map_err(|e| format!("head: {e}"))?;
        if head.status != 200 {
            return Err(format!("status {}", head.status));
        }
        let mut body = head.body;
        let mut parser = herald_sse::Parser::new();
        let mut got: Vec<String> = Vec::new();
        loop {
            body.feed(&buf, &mut |piece| got.extend(parser.feed(piece).into_iter().map(|e| e.last_event_id)))
                .map_err(|e| format!("body: {e}"))?;
            if got.len() >= rest.len() {
                return Ok(got);
            }
            buf.clear();
            if stream.read_buf(&mut buf).await.map_err(|e| format!("read: {e}"))? == 0 {
                return Ok(got);
            }
        }
    })
    .await;
    match replay {
        Ok(Ok(got)) if got.len() >= rest.len() && got[..rest.len()] == *rest => true,
        Ok(Ok(got)) => {
            let differs = got.iter().zip(rest).position(|(a, b)| a != b);
            tracing::warn!(
                "the replay differs from the reference: {} of {} events, first difference at {differs:?}",
                got.len(),
                rest.len()
            );
            false
        }
        Ok(Err(e)) => {
            tracing::warn!("the replay failed: {e}");
            false
        }
        Err(_) => {
            tracing::warn!("the replay did not finish within {REPLAY_DEADLINE:?}");
            false
        }
    }
}

/// One spectator: an SSE subscription kept until `stop`; the reference (`count` given) keeps
/// the ids themselves and counts what it received.
async fn spectate(
    shared: Arc<Shared>,
    index: usize,
    mut stop: oneshot::Receiver<()>,
    count: Option<Arc<AtomicUsize>>,
) -> Seen {
    let mut seen = Seen::default();
    let permit = shared.connecting.acquire().await.ok();
    let result = async {
        let source = shared.config.source_addrs[index % shared.config.source_addrs.len()];
        let mut stream = crate::net::connect_from(source, shared.config.base_addr()?)
            .await
            .map_err(|e| format!("connect from {source}: {e}"))?;
        let request = shared.endpoints.sse_request(&shared.topic);
        stream.write_all(request.as_bytes()).await.map_err(|e| format!("send request: {e}"))?;
        let mut buf = Vec::with_capacity(8192);
        let head = read_head(&mut stream, &mut buf).await.map_err(|e| format!("response head: {e}"))?;
        if head.status != 200 {
            return Err(format!("status {}", head.status));
        }
        seen.connected = true;
        shared.ready.fetch_add(1, Ordering::Relaxed);
        drop(permit);
        let mut body = head.body;
        let mut parser = herald_sse::Parser::new();
        loop {
            let mut fresh = 0;
            let finished = body
                .feed(&buf, &mut |piece| {
                    for event in parser.feed(piece) {
                        fresh += 1;
                        seen.hashes.push(fnv1a(event.last_event_id.as_bytes()));
                        if count.is_some() {
                            seen.ids.push(event.last_event_id);
                        }
                    }
                })
                .map_err(|e| format!("response body: {e}"))?;
            if let Some(count) = &count {
                count.store(seen.hashes.len(), Ordering::Relaxed);
            }
            if fresh > 0 && shared.window.load(Ordering::Relaxed) {
                shared.delivered.fetch_add(fresh, Ordering::Relaxed);
            }
            if finished {
                return Err("the stream ended".to_owned());
            }
            buf.clear();
            tokio::select! {
                biased;
                read = stream.read_buf(&mut buf) => match read {
                    Ok(0) => return Err("closed by the target".to_owned()),
                    Ok(_) => {}
                    Err(e) => return Err(format!("read: {e}")),
                },
                _ = &mut stop => return Ok(()),
            }
        }
    }
    .await;
    if let Err(e) = result {
        if !seen.connected {
            shared.failed.fetch_add(1, Ordering::Relaxed);
        }
        seen.error = Some(e);
    }
    seen
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| (hash ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

fn cpu(pids: &[u32]) -> Option<Duration> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|pid| procstat::cpu_time(*pid).ok()).sum()
}

async fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn positions(reference: &[u64]) -> HashMap<u64, usize> {
        reference.iter().enumerate().map(|(i, h)| (*h, i)).collect()
    }

    #[test]
    fn a_spectator_must_hold_a_contiguous_run_to_the_reference_s_end() {
        let reference = [1, 2, 3, 4, 5, 6];
        let p = positions(&reference);
        // The window opened after the reference's second event.
        assert!(follows(&[2, 3, 4, 5, 6], &reference, &p, 2));
        assert!(follows(&[3, 4, 5, 6, 7], &reference, &p, 2), "events after the reference's end are fine");
        assert!(!follows(&[4, 5, 6], &reference, &p, 2), "joined after the window opened");
        assert!(!follows(&[2, 3, 5, 6], &reference, &p, 2), "a loss");
        assert!(!follows(&[2, 3, 3, 4, 5, 6], &reference, &p, 2), "a duplicate");
        assert!(!follows(&[2, 4, 3, 5, 6], &reference, &p, 2), "a reordering");
        assert!(!follows(&[2, 3, 4], &reference, &p, 2), "stopped early");
        assert!(!follows(&[], &reference, &p, 2), "nothing at all");
        assert!(!follows(&[9, 2, 3], &reference, &p, 2), "an event the reference never had");
    }

    #[test]
    fn ids_hash_apart() {
        assert_ne!(fnv1a(b"urn:uuid:1"), fnv1a(b"urn:uuid:2"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
