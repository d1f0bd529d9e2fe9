//! The writer thread: group commit for durable publishing.
//!
//! Publishers hand their events to one thread. It takes every event waiting (up to
//! [`EVENTS_PER_COMMIT`]), assigns their positions, appends them to the store in one durable
//! write, and only then records them (for the `fanout` thread to deliver) and answers the
//! publishers. Concurrent publishers thus share one sync, and the order on disk is the order
//! subscribers see. The same write removes whatever falls out of retention, so history on disk
//! never grows past its limits. When the previous batch held several publishes, the writer waits (at most [`COMMIT_DELAY`]) until as many are
//! queued again, so that one sync keeps serving all the active publishers.
//!
//! On a node sharing its log with others, the same thread batches the same way, but the log
//! gives the positions and the publishers are answered once it acknowledged the write; the
//! `follower` delivers the events when it reads them back, in the order of the whole cluster.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use crate::event::Event;
use crate::hub::{Hub, PublishError};
use crate::retention::now_ms;
use crate::store::{SharedLog, Store};

/// Publishes waiting for the writer before publishers wait to enqueue.
pub(crate) const QUEUE: usize = 16_384;
/// Most events in one durable write.
pub(crate) const EVENTS_PER_COMMIT: usize = 4_096;
/// Longest wait for the publishers of the previous batch to send again.
const COMMIT_DELAY: std::time::Duration = std::time::Duration::from_micros(300);

/// Where a publisher waits for the outcome: its events, in the order given.
type Reply = oneshot::Sender<Result<Vec<Arc<Event>>, PublishError>>;

/// What one publisher hands the writer: one event, or a batch made durable together (one
/// write, so all of it or none of it), and where to report the outcome.
pub(crate) struct Pending {
    /// Each event, and whether the publisher gave its id (so a retry of it may be a duplicate).
    pub events: Vec<(Event, bool)>,
    pub reply: Reply,
}

/// Starts the writer of a hub with a local `store`, at nice value `nice` (`--publish-nice`).
pub(crate) fn spawn(hub: Weak<Hub>, rx: mpsc::Receiver<Pending>, store: Arc<dyn Store>, nice: i32) {
    start(nice, move || {
        run(hub, rx, None, |hub, batch| commit(hub, store.as_ref(), batch));
    });
}

/// The writer of a node sharing `log`: the same batching, with the log giving the positions.
pub(crate) fn spawn_shared(hub: Weak<Hub>, rx: mpsc::Receiver<Pending>, log: Arc<dyn SharedLog>, nice: i32) {
    let max_bytes = log.max_append_bytes();
    start(nice, move || {
        run(hub, rx, max_bytes, |hub, batch| commit_shared(hub, log.as_ref(), batch));
    });
}

fn start(nice: i32, work: impl FnOnce() + Send + 'static) {
    let spawned = std::thread::Builder::new().name("herald-writer".into()).spawn(move || {
        // Publishers wait on this thread: it goes ahead of the fan-out's (see `priority`).
        crate::priority::set_publish_thread_nice(nice);
        work();
    });
    if let Err(e) = spawned {
        // Without the thread every publish answers "shutting down"; say why once.
        tracing::error!("cannot start the store writer thread: {e}");
    }
}

/// Takes batches off `rx` (at most `max_bytes` of events each, when given) and hands each to
/// `commit`, until the hub is gone.
fn run(
    hub: Weak<Hub>,
    mut rx: mpsc::Receiver<Pending>,
    max_bytes: Option<usize>,
    commit: impl Fn(&Hub, &mut Vec<Pending>),
) {
    let mut batch = Batch { max_bytes: max_bytes.unwrap_or(usize::MAX), ..Batch::default() };
    let mut last_publishers = 0;
    loop {
        // A publish held back from the last commit (it did not fit) opens this one at once.
        match batch.held.take() {
            Some(held) => batch.push(held),
            None => match rx.blocking_recv() {
                Some(first) => batch.push(first),
                None => break,
            },
        }
        batch.drain(&mut rx);
        // Several publishers were active last time: the ones just answered are about to send
        // again. Waiting a moment for them lets one sync cover them all (a commit delay).
        if last_publishers > 1 {
            let deadline = std::time::Instant::now() + COMMIT_DELAY;
            while batch.pending.len() < last_publishers && std::time::Instant::now() < deadline {
                std::thread::sleep(COMMIT_DELAY / 10);
                batch.drain(&mut rx);
            }
        }
        last_publishers = batch.pending.len();
        let Some(hub) = hub.upgrade() else {
            break;
        };
        commit(&hub, &mut batch.pending);
        batch.events = 0;
        batch.bytes = 0;
    }
}

/// The publishes of the next commit, and how many events and bytes they hold.
#[derive(Default)]
struct Batch {
    pending: Vec<Pending>,
    events: usize,
    bytes: usize,
    /// The most bytes of events one commit may hold (a shared log's limit).
    max_bytes: usize,
    /// A publish taken off the queue that would have made the commit too large: the next one's.
    held: Option<Pending>,
}

impl Batch {
    fn push(&mut self, pending: Pending) {
        self.events += pending.events.len();
        self.bytes += pending.events.iter().map(|(event, _)| event.size()).sum::<usize>();
        self.pending.push(pending);
    }

    /// Takes what is queued, up to [`EVENTS_PER_COMMIT`] events and `max_bytes` (a publisher's
    /// batch is never split, so one larger than that is a commit of its own).
    fn drain(&mut self, rx: &mut mpsc::Receiver<Pending>) {
        while self.events < EVENTS_PER_COMMIT && self.held.is_none() {
            match rx.try_recv() {
                Ok(pending) => {
                    let bytes: usize = pending.events.iter().map(|(event, _)| event.size()).sum();
                    if !self.pending.is_empty() && self.bytes.saturating_add(bytes) > self.max_bytes {
                        self.held = Some(pending);
                    } else {
                        self.push(pending);
                    }
                }
                Err(_) => break,
            }
        }
    }
}

/// Where one of a publisher's events ended up.
enum Slot {
    /// Accepted before, within the dedup window: answered again, not stored again.
    Known(Arc<Event>),
    /// The event at this index of the commit.
    At(usize),
}

/// Makes `batch` durable, records it (the fan-out thread delivers it) and answers its
/// publishers: they never wait for the subscribers to be served.
fn commit(hub: &Hub, store: &dyn Store, batch: &mut Vec<Pending>) {
    let now = now_ms();
    // Retries of publishes accepted before a restart are found in the store, read without the
    // lock; the in-memory table covers everything accepted since the start. Keyed by the
    // event's place in the whole commit.
    let mut stored_duplicates = HashMap::new();
    if let Some(window) = hub.config().dedup_window {
        if within_window_of_start(hub, window, now) {
            let entries = batch.iter().flat_map(|p| p.events.iter());
            for (i, (event, given_id)) in entries.enumerate() {
                if let Some(seq) = given_id.then(|| accepted_in_store(store, &event.id, window, now)).flatten() {
                    stored_duplicates.insert(i, seq);
                }
            }
        }
    }
    let mut plan = {
        let mut log = hub.log.lock();
        // Only this thread assigns positions, so reading the next one without holding the lock
        // through the write is safe.
        let next_seq = log.next_seq;
        Plan::new(hub, &mut log, batch, &stored_duplicates, now, Some(next_seq))
    };
    let events: Vec<Arc<Event>> = plan.events.drain(..).map(Arc::new).collect();
    let stored = if events.is_empty() { Ok(()) } else { store.append(&events, &hub.config().retention, now) };
    match stored {
        Ok(()) => {
            if !events.is_empty() {
                hub.record_from_thread(&events, &plan.given);
            }
            plan.answer(&events);
        }
        Err(e) => plan.fail(e),
    }
}

/// Appends `batch` to a shared log and answers its publishers once the log acknowledged it.
/// Delivering is the follower's: it reads the events back from the log with every node's.
fn commit_shared(hub: &Hub, log: &dyn SharedLog, batch: &mut Vec<Pending>) {
    let now = now_ms();
    let mut plan = {
        let mut log = hub.log.lock();
        Plan::new(hub, &mut log, batch, &HashMap::new(), now, None)
    };
    let appended =
        if plan.events.is_empty() { Ok(Vec::new()) } else { log.append(&plan.events, &hub.config().retention, now) };
    match appended {
        Ok(positions) if positions.len() == plan.events.len() => {
            let events: Vec<Arc<Event>> = plan
                .events
                .drain(..)
                .zip(positions)
                .map(|(mut event, seq)| {
                    event.seq = seq;
                    Arc::new(event)
                })
                .collect();
            if let Some(dedup) = hub.log.lock().dedup.as_mut() {
                for (event, _) in events.iter().zip(&plan.given).filter(|(_, given)| **given) {
                    dedup.record(event.id.clone(), event.published_ms, event.seq);
                }
            }
            plan.answer(&events);
        }
        Ok(positions) => {
            let detail = format!("the log answered {} positions for {} events", positions.len(), plan.events.len());
            plan.fail(crate::store::StoreError::Io { operation: "appending events", source: detail.into() });
        }
        Err(e) => plan.fail(e),
    }
}

/// A commit's events, in order, and where each publisher's answer comes from.
struct Plan {
    /// The events to write (positions assigned when the hub gives them).
    events: Vec<Event>,
    /// Whether the publisher gave `events[i]` its id.
    given: Vec<bool>,
    answers: Vec<(Reply, Vec<Slot>)>,
}

impl Plan {
    /// Sorts out `batch`: retries of ids accepted within the dedup window (in `log`'s table,
    /// in `stored_duplicates` by place in the commit, or earlier in this same commit) are
    /// answered with the earlier event; the rest are written, at positions from `next_seq` on
    /// when the hub gives them.
    fn new(
        hub: &Hub,
        log: &mut crate::hub::Log,
        batch: &mut Vec<Pending>,
        stored_duplicates: &HashMap<usize, u64>,
        now: u64,
        mut next_seq: Option<u64>,
    ) -> Self {
        let dedup_window = hub.config().dedup_window;
        let total: usize = batch.iter().map(|p| p.events.len()).sum();
        let mut plan = Self {
            events: Vec::with_capacity(total),
            given: Vec::with_capacity(total),
            answers: Vec::with_capacity(batch.len()),
        };
        let mut in_commit: HashMap<Arc<str>, usize> = HashMap::new();
        let mut flat = 0;
        for Pending { events: entries, reply } in batch.drain(..) {
            let mut slots = Vec::with_capacity(entries.len());
            for (mut event, given_id) in entries {
                let i = flat;
                flat += 1;
                if given_id {
                    let stored = stored_duplicates.get(&i).copied();
                    let accepted = stored.or_else(|| log.dedup.as_mut().and_then(|d| d.accepted(&event.id, now)));
                    if let Some(seq) = accepted {
                        event.seq = seq;
                        slots.push(Slot::Known(Arc::new(event)));
                        continue;
                    }
                    if dedup_window.is_some() {
                        // A retry of an event of this same commit: answered with its outcome.
                        if let Some(&index) = in_commit.get(&event.id) {
                            slots.push(Slot::At(index));
                            continue;
                        }
                        in_commit.insert(event.id.clone(), plan.events.len());
                    }
                }
                if let Some(next) = next_seq.as_mut() {
                    event.seq = *next;
                    *next += 1;
                }
                slots.push(Slot::At(plan.events.len()));
                plan.events.push(event);
                plan.given.push(given_id);
            }
            plan.answers.push((reply, slots));
        }
        plan
    }

    /// Answers every publisher: `events` are the written ones, in the plan's order.
    fn answer(self, events: &[Arc<Event>]) {
        for (reply, slots) in self.answers {
            let outcome = slots
                .into_iter()
                .filter_map(|slot| match slot {
                    Slot::Known(event) => Some(event),
                    Slot::At(index) => events.get(index).cloned(),
                })
                .collect();
            let _ = reply.send(Ok(outcome));
        }
    }

    /// Answers every publisher after the write failed.
    fn fail(self, e: crate::store::StoreError) {
        tracing::error!("storing {} events failed: {e}", self.events.len());
        let e = Arc::new(e);
        for (reply, slots) in self.answers {
            // A publisher whose every event was accepted before lost nothing; any other
            // fails whole, as nothing of its publish was stored.
            if slots.iter().all(|slot| matches!(slot, Slot::Known(_))) {
                let known = slots.into_iter().filter_map(|slot| match slot {
                    Slot::Known(event) => Some(event),
                    Slot::At(_) => None,
                });
                let _ = reply.send(Ok(known.collect()));
            } else {
                let _ = reply.send(Err(PublishError::Storage(e.clone())));
            }
        }
    }
}

/// Whether the hub started less than `window` ago (so the in-memory table may miss ids
/// accepted before the start).
fn within_window_of_start(hub: &Hub, window: std::time::Duration, now: u64) -> bool {
    crate::dedup::within(window, hub.started_ms(), now)
}

/// The position of an event accepted with `id` within `window`, as the store has it.
fn accepted_in_store(store: &dyn Store, id: &str, window: std::time::Duration, now: u64) -> Option<u64> {
    let seq = store.position_of(id).ok()??;
    let event = store.read_after(seq.saturating_sub(1), 1).ok()?.into_iter().next()?;
    (event.seq == seq && crate::dedup::within(window, event.published_ms, now)).then_some(seq)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::task::Poll;

    use super::*;
    use crate::access::ReadAccess;
    use crate::config::HubConfig;
    use crate::event::Update;
    use crate::matcher::Matcher;
    use crate::subscription::Subscription;
    use crate::test_store::{Call, TestStore, PATIENCE};

    type Publishing = Pin<Box<dyn Future<Output = Result<Arc<Event>, PublishError>> + Send>>;

    fn update(data: &str) -> Update {
        Update { topics: vec!["t".into()], data: data.into(), ..Update::default() }
    }

    fn publishing(hub: &Arc<Hub>, data: &str) -> Publishing {
        let (hub, update) = (hub.clone(), update(data));
        Box::pin(async move { hub.publish(update).await })
    }

    /// Starts each publish: it hands its event to the writer, then waits for the answer.
    async fn start(publishes: &mut [Publishing]) {
        std::future::poll_fn(|cx| {
            for publish in publishes.iter_mut() {
                assert!(publish.as_mut().poll(cx).is_pending(), "answered while the writer is busy");
            }
            Poll::Ready(())
        })
        .await;
    }

    async fn answer<T>(publish: impl Future<Output = T>) -> T {
        tokio::time::timeout(PATIENCE, publish).await.expect("the publisher got no answer")
    }

    async fn subscribe(hub: &Arc<Hub>) -> Subscription {
        hub.subscribe(vec![Matcher::exact("t").unwrap()], ReadAccess::public_only(), None).await.unwrap()
    }

    /// The data of the events waiting for `subscription`, once the fan-out offered every
    /// event published so far.
    /// `hub`, once the fan-out offered every event published so far.
    async fn flushed(hub: &Hub) -> &Hub {
        hub.flush().await;
        hub
    }

    async fn received(hub: &Hub, subscription: &mut Subscription) -> Vec<String> {
        hub.flush().await;
        std::iter::from_fn(|| subscription.try_recv()).map(|e| e.data.clone()).collect()
    }

    #[tokio::test]
    async fn publishes_waiting_during_a_write_share_the_next_one_in_order() {
        let (store, mut calls) = TestStore::with_events(5);
        let hub = Hub::with_store(HubConfig::default(), store.clone()).unwrap();
        calls.clear();
        let mut subscription = subscribe(&hub).await;
        store.appends.close();
        let first = tokio::spawn(publishing(&hub, "first"));
        assert_eq!(calls.next().await, Call::Append { len: 1 });
        // While that batch is being written, eight publishers queue up.
        let mut waiting: Vec<Publishing> = (0..8).map(|i| publishing(&hub, &i.to_string())).collect();
        start(&mut waiting).await;
        store.appends.open();

        assert_eq!(answer(first).await.unwrap().unwrap().seq, 6, "positions continue after the store's");
        let mut seqs = Vec::new();
        for publish in waiting {
            seqs.push(answer(publish).await.unwrap().seq);
        }
        assert_eq!(store.batches(), [1, 8], "one write for the eight waiting publishes");
        assert_eq!(seqs, (7..=14).collect::<Vec<_>>(), "consecutive, in the order they were sent");
        assert_eq!(store.seqs(), (1..=14).collect::<Vec<_>>());
        assert_eq!(hub.log.lock().next_seq, 15);
        let expected: Vec<String> = std::iter::once("first".to_owned()).chain((0..8).map(|i| i.to_string())).collect();
        assert_eq!(received(&hub, &mut subscription).await, expected, "delivered in the order on disk");
        assert_eq!(flushed(&hub).await.stats().published, 9);
    }

    #[tokio::test]
    async fn positions_follow_next_seq_across_a_restart() {
        let (store, _calls) = TestStore::with_events(0);
        let hub = Hub::with_store(HubConfig::default(), store.clone()).unwrap();
        for expected in 1..=3 {
            assert_eq!(answer(hub.publish(update("x"))).await.unwrap().seq, expected);
            assert_eq!(hub.log.lock().next_seq, expected + 1);
        }
        drop(hub);
        let hub = Hub::with_store(HubConfig::default(), store.clone()).unwrap();
        assert_eq!(hub.log.lock().next_seq, 4);
        assert_eq!(answer(hub.publish(update("y"))).await.unwrap().seq, 4);
        assert_eq!(store.seqs(), [1, 2, 3, 4]);
        assert_eq!(store.batches(), [1, 1, 1, 1]);
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_publish_of_its_batch_and_delivers_nothing() {
        let (store, mut calls) = TestStore::with_events(0);
        let hub = Hub::with_store(HubConfig::default(), store.clone()).unwrap();
        calls.clear();
        let mut subscription = subscribe(&hub).await;
        store.appends.close();
        let first = tokio::spawn(publishing(&hub, "stored"));
        assert_eq!(calls.next().await, Call::Append { len: 1 });
        store.fail_appends.store(1, std::sync::atomic::Ordering::SeqCst);
        let mut doomed: Vec<Publishing> = (0..3).map(|i| publishing(&hub, &format!("lost {i}"))).collect();
        start(&mut doomed).await;
        store.appends.open();

        assert_eq!(answer(first).await.unwrap().unwrap().seq, 1);
        let mut errors = Vec::new();
        for publish in doomed {
            match answer(publish).await {
                Err(PublishError::Storage(e)) => errors.push(e),
                other => panic!("expected a storage error, got {other:?}"),
            }
        }
        assert_eq!(store.batches(), [1, 3], "the three failed together");
        assert!(errors.iter().all(|e| Arc::ptr_eq(e, &errors[0])), "one error, shared by the batch");
        assert!(errors[0].to_string().contains("injected failure"));
        assert_eq!(received(&hub, &mut subscription).await, ["stored"], "nothing of the failed batch is delivered");
        let stats = flushed(&hub).await.stats();
        assert_eq!((stats.published, stats.history_len, stats.delivered), (1, 1, 1));

        // The next batch is written, at the position the failed one did not take.
        let next = answer(hub.publish(update("after"))).await.unwrap();
        assert_eq!(next.seq, 2);
        assert_eq!(received(&hub, &mut subscription).await, ["after"]);
        assert_eq!(store.seqs(), [1, 2]);
        assert_eq!(store.batches(), [1, 3, 1]);
    }

    fn valid(updates: &[Update]) -> Vec<crate::event::ValidUpdate> {
        let url = HubConfig::default().hub_url;
        updates.iter().map(|u| u.clone().into_valid(&url).unwrap()).collect()
    }

    #[tokio::test]
    async fn a_batch_is_one_write_at_consecutive_positions_whole_even_past_the_commit_size() {
        let (store, mut calls) = TestStore::with_events(0);
        let hub = Hub::with_store(HubConfig::default(), store.clone()).unwrap();
        calls.clear();
        let mut subscription = subscribe(&hub).await;
        let updates: Vec<Update> = (0..5).map(|i| update(&format!("b{i}"))).collect();
        let events = answer(hub.publish_batch_valid(valid(&updates))).await.unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        assert_eq!(store.batches(), [5]);
        assert_eq!(received(&hub, &mut subscription).await, ["b0", "b1", "b2", "b3", "b4"]);

        // Larger than one commit usually takes: still one write, never split.
        let big: Vec<Update> = (0..EVENTS_PER_COMMIT + 10).map(|i| update(&i.to_string())).collect();
        let events = answer(hub.publish_batch_valid(valid(&big))).await.unwrap();
        assert_eq!(events.len(), EVENTS_PER_COMMIT + 10);
        assert_eq!(events.last().unwrap().seq, 5 + (EVENTS_PER_COMMIT + 10) as u64);
        assert_eq!(store.batches(), [5, EVENTS_PER_COMMIT + 10]);
        assert!(answer(hub.publish_batch_valid(Vec::new())).await.unwrap().is_empty());
        assert_eq!(store.batches().len(), 2, "an empty batch writes nothing");
    }

    #[tokio::test]
    async fn a_failed_write_fails_the_whole_batch_and_a_retried_id_is_answered_not_stored_again() {
        let config = HubConfig { dedup_window: Some(std::time::Duration::from_secs(60)), ..HubConfig::default() };
        let (store, _calls) = TestStore::with_events(0);
        let hub = Hub::with_store(config, store.clone()).unwrap();
        let mut subscription = subscribe(&hub).await;
        let with_id = |id: &str| Update { id: Some(id.into()), ..update(id) };
        store.fail_appends.store(1, std::sync::atomic::Ordering::SeqCst);
        let failed = answer(hub.publish_batch_valid(valid(&[with_id("a"), with_id("b")]))).await;
        assert!(matches!(failed, Err(PublishError::Storage(_))), "{failed:?}");
        assert!(received(&hub, &mut subscription).await.is_empty(), "nothing of the failed batch is delivered");

        let first = answer(hub.publish_batch_valid(valid(&[with_id("a"), with_id("b")]))).await.unwrap();
        assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
        // A retry holding an accepted id, a new one, and the new one again.
        let retry = answer(hub.publish_batch_valid(valid(&[with_id("b"), with_id("c"), with_id("c")]))).await.unwrap();
        assert_eq!(retry.iter().map(|e| e.seq).collect::<Vec<_>>(), [2, 3, 3]);
        assert_eq!(store.seqs(), [1, 2, 3]);
        assert_eq!(received(&hub, &mut subscription).await, ["a", "b", "c"]);
    }

    #[tokio::test]
    async fn without_a_store_a_batch_is_delivered_in_order_with_the_same_rules() {
        let config = HubConfig { dedup_window: Some(std::time::Duration::from_secs(60)), ..HubConfig::default() };
        let hub = Hub::new(config);
        let mut subscription = subscribe(&hub).await;
        let with_id = |id: &str| Update { id: Some(id.into()), ..update(id) };
        let events = hub.publish_batch_valid(valid(&[with_id("x"), update("y"), with_id("x")])).await.unwrap();
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 1]);
        assert_eq!(received(&hub, &mut subscription).await, ["x", "y"]);
    }
}
