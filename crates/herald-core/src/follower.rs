//! The follower thread: a node sharing its log delivers what the log receives.
//!
//! Every node appends its publishes to the shared log and delivers nothing itself; this thread
//! reads the log from the node's last delivered position, waiting for new entries, and hands
//! each page to the hub, so every node delivers every event (its own included) once, in the
//! log's order. When the log cannot be read, it says so once, retries with a growing pause
//! (subscribers stay connected meanwhile), and goes on from the same position when the log is
//! back: nothing retained is skipped or delivered twice.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::hub::Hub;
use crate::store::SharedLog;

/// Most events read (and delivered under one lock) per step.
const PAGE: usize = 1_024;
/// How long one read waits for new entries: also how soon the thread notices the hub is gone.
const WAIT: Duration = Duration::from_secs(1);
/// The first pause after a failed read; it doubles up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Starts following `log` after position `after` for `hub`.
pub(crate) fn spawn(hub: Weak<Hub>, log: Arc<dyn SharedLog>, after: u64) {
    let spawned =
        std::thread::Builder::new().name("herald-follower".into()).spawn(move || run(&hub, log.as_ref(), after));
    if let Err(e) = spawned {
        tracing::error!("cannot start the thread that follows the shared log: {e}; this node delivers nothing");
    }
}

fn run(hub: &Weak<Hub>, log: &dyn SharedLog, mut after: u64) {
    let mut pause = FIRST_PAUSE;
    let mut failing = false;
    let mut wakers = Vec::new();
    while hub.strong_count() > 0 {
        let events = match log.read_after(after, PAGE, WAIT) {
            Ok(events) => events,
            Err(e) => {
                if !failing {
                    tracing::warn!("reading the shared log failed: {e}; retrying, subscribers stay connected");
                    failing = true;
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(MAX_PAUSE);
                continue;
            }
        };
        if failing {
            tracing::info!(after, "the shared log is readable again; delivering from where this node stopped");
            failing = false;
            pause = FIRST_PAUSE;
        }
        // Only what is past the last delivered position, in order (a log answers in order; this
        // keeps a misbehaving one from delivering twice).
        let fresh: Vec<_> = events
            .into_iter()
            .filter(|event| {
                let new = event.seq > after;
                after = after.max(event.seq);
                new
            })
            .collect();
        if fresh.is_empty() {
            continue;
        }
        let Some(hub) = hub.upgrade() else {
            return;
        };
        // Any node's publisher may retry on this one: every id counts for the dedup window.
        let given = vec![hub.config().dedup_window.is_some(); fresh.len()];
        {
            let mut state = hub.state.lock();
            hub.deliver(&mut state, &fresh, &given, &mut wakers);
        }
        wakers.drain(..).for_each(std::task::Waker::wake);
    }
}
