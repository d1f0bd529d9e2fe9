//! The writer thread: group commit for durable publishing.
//!
//! Publishers hand their events to one thread. It takes every event waiting (up to
//! [`EVENTS_PER_COMMIT`]), assigns their positions, appends them to the store in one durable write, and
//! only then delivers them and answers the publishers. Concurrent publishers thus share one
//! sync, and the order on disk is the order subscribers see. The same write removes whatever
//! falls out of retention, so history on disk never grows past its limits. When the previous
//! batch held several publishes, the writer waits (at most [`COMMIT_DELAY`]) until as many are
//! queued again, so that one sync keeps serving all the active publishers.

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use crate::event::Event;
use crate::hub::{Hub, PublishError};
use crate::retention::now_ms;
use crate::store::Store;

/// Publishes waiting for the writer before publishers wait to enqueue.
pub(crate) const QUEUE: usize = 16_384;
/// Most events in one durable write.
pub(crate) const EVENTS_PER_COMMIT: usize = 4_096;
/// Longest wait for the publishers of the previous batch to send again.
const COMMIT_DELAY: std::time::Duration = std::time::Duration::from_micros(300);

/// An event waiting to be made durable, and where to report the outcome.
pub(crate) struct Pending {
    pub event: Event,
    pub reply: oneshot::Sender<Result<Arc<Event>, PublishError>>,
}

pub(crate) fn spawn(hub: Weak<Hub>, rx: mpsc::Receiver<Pending>, store: Arc<dyn Store>) {
    let spawned = std::thread::Builder::new().name("herald-writer".into()).spawn(move || run(hub, rx, store));
    if let Err(e) = spawned {
        // Without the thread every publish answers "shutting down"; say why once.
        tracing::error!("cannot start the store writer thread: {e}");
    }
}

fn run(hub: Weak<Hub>, mut rx: mpsc::Receiver<Pending>, store: Arc<dyn Store>) {
    let mut batch = Vec::new();
    let mut last_batch = 0;
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        drain(&mut rx, &mut batch);
        // Several publishers were active last time: the ones just answered are about to send
        // again. Waiting a moment for them lets one sync cover them all (a commit delay).
        if last_batch > 1 {
            let deadline = std::time::Instant::now() + COMMIT_DELAY;
            while batch.len() < last_batch && std::time::Instant::now() < deadline {
                std::thread::sleep(COMMIT_DELAY / 10);
                drain(&mut rx, &mut batch);
            }
        }
        last_batch = batch.len();
        let Some(hub) = hub.upgrade() else {
            break;
        };
        commit(&hub, store.as_ref(), &mut batch);
    }
}

fn drain(rx: &mut mpsc::Receiver<Pending>, batch: &mut Vec<Pending>) {
    while batch.len() < EVENTS_PER_COMMIT {
        match rx.try_recv() {
            Ok(pending) => batch.push(pending),
            Err(_) => break,
        }
    }
}

fn commit(hub: &Hub, store: &dyn Store, batch: &mut Vec<Pending>) {
    // Only this thread assigns positions, so reading the next one without holding the lock
    // through the write is safe.
    let first_seq = hub.state.lock().next_seq;
    let mut replies = Vec::with_capacity(batch.len());
    let mut events = Vec::with_capacity(batch.len());
    for (i, Pending { mut event, reply }) in batch.drain(..).enumerate() {
        event.seq = first_seq + i as u64;
        events.push(Arc::new(event));
        replies.push(reply);
    }
    match store.append(&events, &hub.config().retention, now_ms()) {
        Ok(()) => {
            let mut state = hub.state.lock();
            hub.deliver(&mut state, &events);
            drop(state);
            for (reply, event) in replies.into_iter().zip(events) {
                let _ = reply.send(Ok(event));
            }
        }
        Err(e) => {
            tracing::error!("storing {} events failed: {e}", events.len());
            let e = Arc::new(e);
            for reply in replies {
                let _ = reply.send(Err(PublishError::Storage(e.clone())));
            }
        }
    }
}
