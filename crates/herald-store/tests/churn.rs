//! Memory that must stay bounded while retention keeps trimming the store and subscribers keep
//! coming and going: fjall's memtables (which grew with every write until a 64 MiB limit per
//! keyspace, over an hour at 50 events/s) and the hub's registry.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::{Cursor, Event, Hub, HubConfig, Matcher, ReadAccess, Retention, Store, Update};
use herald_store::DiskStore;

/// Events written in each test: over 10 MB of memtable entries (their pages and the pages'
/// deletion markers) if nothing were flushed.
const EVENTS: u64 = 40_000;
/// What the memtables may hold once flushes caught up: the budgets (6.5 MiB) and some slack.
const SETTLED: u64 = 8 << 20;
/// What they may hold at any moment, sealed memtables waiting for their flush included.
const PEAK: u64 = 16 << 20;

const RETENTION: Retention = Retention { max_events: Some(1_000), max_age: None, max_bytes: None };

/// An event like a publish of 110 bytes with a generated id.
fn event(seq: u64) -> Arc<Event> {
    let update = Update { topics: vec!["t".into()], data: format!("{seq:0>110}"), ..Default::default() };
    let id = format!("urn:uuid:00000000-0000-7000-8000-{seq:012}");
    Arc::new(Event::new(seq, Arc::from(id), 0, update).unwrap())
}

/// Appends `EVENTS` events in batches of 40 under `RETENTION`; returns the most the memtables
/// held after any batch.
fn append_many(store: &DiskStore) -> u64 {
    let mut peak = 0;
    for first in (1..=EVENTS).step_by(40) {
        let batch: Vec<_> = (first..first + 40).map(event).collect();
        store.append(&batch, &RETENTION, 0).unwrap();
        peak = peak.max(store.memtable_bytes());
    }
    peak
}

/// Waits (10 s at most) for the flushes under way; returns what the memtables hold then.
fn settled_memtables(store: &DiskStore) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.memtable_bytes() > SETTLED && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    store.memtable_bytes()
}

fn assert_bounded(store: &DiskStore, peak: u64) {
    let settled = settled_memtables(store);
    assert!(peak <= PEAK, "the memtables reached {peak} bytes (at most {PEAK})");
    assert!(settled <= SETTLED, "the memtables hold {settled} bytes once flushed (at most {SETTLED})");
    assert_eq!(store.len(), 1_000);
    let oldest = store.read_after(0, 1).unwrap();
    assert_eq!(oldest[0].seq, EVENTS - 999, "retention kept the newest events");
}

#[test]
fn memtables_stay_bounded_while_retention_trims() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let peak = append_many(&store);
    assert_bounded(&store, peak);
    drop(store);
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!((store.len(), store.next_seq()), (1_000, EVENTS + 1), "everything is still there after reopening");
}

#[test]
fn a_store_created_with_fjalls_default_limit_is_flushed_at_the_budget_too() {
    let dir = tempfile::tempdir().unwrap();
    {
        // fjall keeps the options a keyspace was created with; these get its 64 MiB default.
        let db = fjall::Database::builder(dir.path()).open().unwrap();
        for name in ["pages", "meta"] {
            db.keyspace(name, fjall::KeyspaceCreateOptions::default).unwrap();
        }
    }
    let store = DiskStore::open(dir.path()).unwrap();
    let peak = append_many(&store);
    assert_bounded(&store, peak);
}

/// Subscribers in rounds, each connecting (live, from a cursor still in memory, or from one
/// only the store has), taking three events and leaving, while 32 publishers publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churning_subscribers_leave_no_registration_and_the_store_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DiskStore::open(dir.path()).unwrap());
    let config = HubConfig { cache_size: 200, retention: RETENTION, ..HubConfig::default() };
    let hub = Hub::with_store(config, store.clone()).unwrap();
    let topics = || vec![Matcher::exact("t").unwrap()];
    let rounds = 40;
    let per_round = EVENTS / rounds;
    let mut ids: Vec<String> = Vec::new();
    let mut peak = 0;
    for round in 0..rounds {
        let mut subscribers = Vec::new();
        for i in 0..50 {
            let from = match (i % 3, ids.len()) {
                (_, 0) | (0, _) => None,
                (1, n) => Some(Cursor::After(ids[n - 1].clone())),
                (_, n) => Some(Cursor::After(ids[n.saturating_sub(900)].clone())),
            };
            let mut subscription = hub.subscribe(topics(), ReadAccess::public_only(), from).await.unwrap();
            subscribers.push(tokio::spawn(async move {
                for _ in 0..3 {
                    tokio::time::timeout(Duration::from_secs(20), subscription.recv()).await.unwrap().unwrap();
                }
            }));
        }
        let publishers: Vec<_> = (0..32)
            .map(|p| {
                let hub = hub.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for n in (p..per_round).step_by(32) {
                        let data = format!("{round} {n:0>100}");
                        let update = Update { topics: vec!["t".into()], data, ..Default::default() };
                        ids.push(hub.publish(update).await.unwrap().id.to_string());
                    }
                    ids
                })
            })
            .collect();
        for publisher in publishers {
            ids.extend(publisher.await.unwrap());
        }
        for subscriber in subscribers {
            subscriber.await.unwrap();
        }
        assert_eq!(hub.stats().subscribers, 0, "round {round}: every subscriber left the registry");
        peak = peak.max(store.memtable_bytes());
    }
    assert_eq!(hub.stats().published, EVENTS);
    let settled = tokio::task::spawn_blocking({
        let store = store.clone();
        move || settled_memtables(&store)
    })
    .await
    .unwrap();
    assert!(peak <= PEAK, "the memtables reached {peak} bytes (at most {PEAK})");
    assert!(settled <= SETTLED, "the memtables hold {settled} bytes once flushed (at most {SETTLED})");
}
