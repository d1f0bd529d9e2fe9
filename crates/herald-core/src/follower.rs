//! The follower thread: a node sharing its log delivers what the log receives.
//!
//! Every node appends its publishes to the shared log and delivers nothing itself; this thread
//! reads the log from the node's last delivered position, waiting for new entries, and hands
//! each page to the hub, so every node delivers every event (its own included) once, in the
//! log's order. When the log cannot be read, it says so once, retries with a growing pause
//! (subscribers stay connected meanwhile), and goes on from the same position when the log is
//! back: nothing retained is skipped or delivered twice.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::hub::Hub;
use crate::store::SharedLog;

/// Most events read (and recorded under one lock) per step.
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
    while hub.strong_count() > 0 {
        let read = log.read_after(after, PAGE, WAIT);
        if let Some(hub) = hub.upgrade() {
            hub.log_readable.store(read.is_ok(), Ordering::Relaxed);
        }
        let events = match read {
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
        hub.record_from_thread(&fresh, &given);
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use super::*;
    use crate::access::ReadAccess;
    use crate::config::HubConfig;
    use crate::event::Update;
    use crate::hub::{Cursor, PublishError};
    use crate::matcher::Matcher;
    use crate::subscription::Subscription;
    use crate::test_store::{SharedTestLog, PATIENCE};

    fn node(log: &Arc<SharedTestLog>) -> Arc<Hub> {
        Hub::with_shared_log(HubConfig::default(), log.clone()).unwrap()
    }

    async fn subscribe(hub: &Arc<Hub>, from: Option<Cursor>) -> Subscription {
        hub.subscribe(vec![Matcher::exact("t").unwrap()], ReadAccess::public_only(), from).await.unwrap()
    }

    /// The next `n` events' data, waiting for each (at most [`PATIENCE`]).
    async fn next(subscription: &mut Subscription, n: usize) -> Vec<String> {
        let mut out = Vec::new();
        for _ in 0..n {
            let event = tokio::time::timeout(PATIENCE, subscription.recv()).await.expect("no event came").unwrap();
            out.push(event.data.clone());
        }
        out
    }

    async fn publish(hub: &Hub, data: &str) -> Result<Arc<crate::event::Event>, PublishError> {
        tokio::time::timeout(PATIENCE, hub.publish(Update::new("t", data))).await.expect("no answer")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_node_delivers_what_any_node_appended_once_in_the_log_order() {
        let log = Arc::new(SharedTestLog::default());
        let (a, b) = (node(&log), node(&log));
        let (mut on_a, mut on_b) = (subscribe(&a, None).await, subscribe(&b, None).await);
        let mut ids = Vec::new();
        for i in 0..5 {
            let hub = if i % 2 == 0 { &a } else { &b };
            let event = publish(hub, &i.to_string()).await.unwrap();
            assert_eq!(event.seq, (i + 1) * SharedTestLog::STEP, "the log gives the position");
            ids.push(event.id.clone());
        }
        let all: Vec<String> = (0..5).map(|i| i.to_string()).collect();
        assert_eq!(next(&mut on_a, 5).await, all);
        assert_eq!(next(&mut on_b, 5).await, all);
        assert!(on_a.try_recv().is_none() && on_b.try_recv().is_none(), "each event once");
        assert_eq!(a.head(), b.head());

        // A client resuming on the other node, with an id it got from the first one.
        let mut resumed = subscribe(&b, Some(Cursor::After(ids[1].to_string()))).await;
        assert_eq!(next(&mut resumed, 3).await, ["2", "3", "4"]);
        assert!(resumed.try_recv().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_starting_late_serves_the_history_and_follows_from_its_end() {
        let log = Arc::new(SharedTestLog::default());
        let a = node(&log);
        for i in 0..3 {
            publish(&a, &i.to_string()).await.unwrap();
        }
        let b = node(&log);
        assert_eq!(b.head(), 3 * SharedTestLog::STEP);
        let mut replay = subscribe(&b, Some(Cursor::Earliest)).await;
        assert_eq!(next(&mut replay, 3).await, ["0", "1", "2"]);
        publish(&a, "3").await.unwrap();
        assert_eq!(next(&mut replay, 1).await, ["3"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn while_the_log_is_down_publishes_fail_subscribers_stay_and_nothing_is_lost_or_repeated() {
        let log = Arc::new(SharedTestLog::default());
        let (a, b) = (node(&log), node(&log));
        let mut on_b = subscribe(&b, None).await;
        publish(&a, "before").await.unwrap();
        assert_eq!(next(&mut on_b, 1).await, ["before"]);

        log.down.store(true, Ordering::SeqCst);
        match publish(&a, "refused").await {
            Err(PublishError::Storage(e)) => assert!(e.to_string().contains("cannot be reached"), "{e}"),
            other => panic!("expected a storage error, got {other:?}"),
        }
        assert!(on_b.is_live(), "the subscriber stays connected");
        tokio::time::timeout(PATIENCE, async {
            while b.shared_log_readable() != Some(false) {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the follower never noticed the log was down");

        log.down.store(false, Ordering::SeqCst);
        publish(&a, "after").await.unwrap();
        assert_eq!(next(&mut on_b, 1).await, ["after"], "the follower resumed; the refused publish never existed");
        assert_eq!(b.shared_log_readable(), Some(true));
        assert!(on_b.try_recv().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retry_on_another_node_within_the_dedup_window_is_answered_not_appended_again() {
        let log = Arc::new(SharedTestLog::default());
        let config = HubConfig { dedup_window: Some(Duration::from_secs(60)), ..HubConfig::default() };
        let with_id = |id: &str| Update { id: Some(id.into()), ..Update::new("t", id) };
        let a = Hub::with_shared_log(config.clone(), log.clone()).unwrap();
        let b = Hub::with_shared_log(config.clone(), log.clone()).unwrap();
        let mut on_b = subscribe(&b, None).await;
        let first = a.publish(with_id("x")).await.unwrap();
        assert_eq!(next(&mut on_b, 1).await, ["x"], "b has followed the log past x");
        let retried = b.publish(with_id("x")).await.unwrap();
        assert_eq!(retried.seq, first.seq, "answered with the event a accepted");
        // A node started afterwards knows it too, from the log.
        let c = Hub::with_shared_log(config, log.clone()).unwrap();
        assert_eq!(c.publish(with_id("x")).await.unwrap().seq, first.seq);
        assert_eq!(log.batches(), [1], "stored once");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_stays_within_the_logs_largest_write_and_no_publish_is_split() {
        let one = crate::event::Event::new(0, "x".into(), 0, Update::new("t", "0123456789")).unwrap().size();
        let log = Arc::new(SharedTestLog::limited_to(3 * one));
        let a = node(&log);
        let url = HubConfig::default().hub_url;
        let batch =
            |n: usize| -> Vec<_> { (0..n).map(|_| Update::new("t", "0123456789").into_valid(&url).unwrap()).collect() };
        // While a first write is under way, two publishers' batches queue up that together
        // exceed the limit.
        log.appends.close();
        let busy = tokio::spawn({
            let (a, batch) = (a.clone(), batch(1));
            async move { a.publish_batch_valid(batch).await }
        });
        tokio::time::timeout(PATIENCE, async {
            while log.batches().is_empty() {
                tokio::task::yield_now().await;
            }
        })
        .await
        .expect("the first write never started");
        let mut waiting = [Box::pin(a.publish_batch_valid(batch(2))), Box::pin(a.publish_batch_valid(batch(2)))];
        std::future::poll_fn(|cx| {
            for publish in &mut waiting {
                assert!(publish.as_mut().poll(cx).is_pending(), "answered while the writer is busy");
            }
            std::task::Poll::Ready(())
        })
        .await;
        log.appends.open();
        assert_eq!(busy.await.unwrap().unwrap().len(), 1);
        for publish in waiting {
            assert_eq!(tokio::time::timeout(PATIENCE, publish).await.unwrap().unwrap().len(), 2);
        }
        assert_eq!(log.batches(), [1, 2, 2], "two writes, each publisher's batch whole");
        // One batch larger than the limit alone is still one write, never split.
        assert_eq!(a.publish_batch_valid(batch(5)).await.unwrap().len(), 5);
        assert_eq!(log.batches(), [1, 2, 2, 5]);
    }
}
