//! End to end: history on disk survives `kill -9` and restarts, retention holds, and unusable
//! data directories stop the hub with a message naming the problem.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{take, TestHub};
use herald_client::{EventSource, Publication};

/// A small deterministic generator, seeded from the clock and printed, so a failure replays.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_event_survives_kill_9_once_and_in_order() {
    const ROUNDS: usize = 5;
    const PUBLISHERS: usize = 8;
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // (publisher, counter) of every event that got a 200, in acknowledgment order.
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();

    for round in 0..ROUNDS {
        let hub = TestHub::start_in(dir.path(), &["--history-size", "1000000"]).await;
        let mut publishers = Vec::new();
        for p in 0..PUBLISHERS {
            let (client, url, acked) = (hub.client.clone(), hub.hub_url(), acked.clone());
            publishers.push(tokio::spawn(async move {
                for n in 0.. {
                    let data = format!("r{round}-p{p}-{n:06}");
                    let update =
                        Publication { topics: vec!["durable".into()], data: data.clone(), ..Default::default() };
                    match herald_client::publish(&client, &url, &update).await {
                        Ok(id) => acked.lock().unwrap().push((id, data)),
                        Err(_) => break, // the hub was killed
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
        hub.kill().await;
        for publisher in publishers {
            publisher.await.unwrap();
        }
    }

    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 100, "only {} events were acknowledged", acked.len());
    let hub = TestHub::start_in(dir.path(), &["--history-size", "1000000"]).await;
    let mut source = hub.event_source(&["durable"]).last_event_id("earliest");
    let acked_ids: HashSet<&str> = acked.iter().map(|(id, _)| id.as_str()).collect();
    // Read until every acknowledged event has been seen (unacknowledged ones may be there too).
    let mut seen = HashSet::new();
    let mut replayed = Vec::new();
    while !acked_ids.iter().all(|id| seen.contains(*id)) {
        let event = common::within(source.next()).await.unwrap();
        assert!(seen.insert(event.id.clone()), "event {} replayed twice", event.id);
        replayed.push(event.data);
    }
    // Each publisher's events come back in the order it published them.
    for p in 0..PUBLISHERS {
        let mine: Vec<_> = replayed.iter().filter(|d| d.contains(&format!("-p{p}-"))).collect();
        let mut sorted = mine.clone();
        sorted.sort();
        assert_eq!(mine, sorted, "publisher {p}'s events out of order");
    }
    // And the rounds follow one another.
    let rounds: Vec<usize> = replayed.iter().map(|d| d[1..d.find('-').unwrap()].parse().unwrap()).collect();
    assert!(rounds.windows(2).all(|w| w[0] <= w[1]), "rounds out of order");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_retried_through_kill_9_with_a_dedup_window_are_delivered_exactly_once() {
    const ROUNDS: usize = 4;
    const PUBLISHERS: usize = 4;
    let args = ["--dedup-window", "10m", "--history-size", "1000000"];
    let seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64;
    println!("seed {seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    // Each publisher's next event, kept across rounds: one that got no answer is retried first.
    let next: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![0; PUBLISHERS]));
    let mut retried = 0;
    for _ in 0..ROUNDS {
        let hub = TestHub::start_in(dir.path(), &args).await;
        let mut publishers = Vec::new();
        for p in 0..PUBLISHERS {
            let (client, url, next) = (hub.client.clone(), hub.hub_url(), next.clone());
            publishers.push(tokio::spawn(async move {
                loop {
                    let n = next.lock().unwrap()[p];
                    let id = format!("p{p}-{n:06}");
                    let update = Publication {
                        topics: vec!["once".into()],
                        data: id.clone(),
                        id: Some(id.clone()),
                        ..Default::default()
                    };
                    match herald_client::publish(&client, &url, &update).await {
                        Ok(answered) => {
                            assert_eq!(answered, id);
                            next.lock().unwrap()[p] = n + 1;
                        }
                        // Killed: this one is retried in the next round, whether or not it was stored.
                        Err(_) => return 1,
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(100 + rng.below(400))).await;
        hub.kill().await;
        for publisher in publishers {
            retried += publisher.await.unwrap();
        }
    }
    // A last round that only retries, so every publisher's last event is acknowledged.
    let hub = TestHub::start_in(dir.path(), &args).await;
    let expected: Vec<u64> = next.lock().unwrap().clone();
    for (p, &n) in expected.iter().enumerate() {
        let id = format!("p{p}-{n:06}");
        let update = Publication { topics: vec!["once".into()], data: id.clone(), id: Some(id), ..Default::default() };
        hub.publish_update(&update).await;
    }
    assert!(retried >= ROUNDS, "every round cut publishers off");
    // All of history, by polling until it is exhausted.
    let mut history = Vec::new();
    let mut cursor = "earliest".to_owned();
    loop {
        let url = hub.subscribe_url(&[("match", "once"), ("transport", "poll"), ("last_event_id", &cursor)]);
        let body: serde_json::Value = hub.client.get(url).send().await.unwrap().json().await.unwrap();
        let events = body["events"].as_array().unwrap().clone();
        if events.is_empty() {
            break;
        }
        history.extend(events.iter().map(|e| e["id"].as_str().unwrap().to_owned()));
        cursor = body["last_event_id"].as_str().unwrap().to_owned();
    }
    for (p, &last) in expected.iter().enumerate() {
        let mine: Vec<&String> = history.iter().filter(|id| id.starts_with(&format!("p{p}-"))).collect();
        let wanted: Vec<String> = (0..=last).map(|n| format!("p{p}-{n:06}")).collect();
        assert_eq!(mine, wanted.iter().collect::<Vec<_>>(), "publisher {p}: each event once, in order");
    }
}

#[tokio::test]
async fn a_last_event_id_from_before_a_restart_resumes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start_in(dir.path(), &[]).await;
    let mut before = Vec::new();
    for i in 0..5 {
        before.push(hub.publish("t", &format!("before {i}")).await);
    }
    hub.kill().await;

    let hub = TestHub::start_in(dir.path(), &[]).await;
    for i in 0..3 {
        hub.publish("t", &format!("after {i}")).await;
    }
    let mut source = hub.event_source(&["t"]).last_event_id(before[2].clone());
    let got: Vec<_> = take(&mut source, 5).await.into_iter().map(|e| e.data).collect();
    assert_eq!(got, ["before 3", "before 4", "after 0", "after 1", "after 2"]);
    assert_eq!(source.resumed_from(), Some(before[2].as_str()));
}

#[tokio::test]
async fn retention_bounds_history_and_replay_past_it_says_earliest() {
    let dir = tempfile::tempdir().unwrap();
    let hub = TestHub::start_in(dir.path(), &["--history-size", "5", "--cache-size", "2"]).await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(hub.publish("t", &i.to_string()).await);
    }
    let mut old = hub.event_source(&["t"]).last_event_id(ids[0].clone());
    let got: Vec<_> = take(&mut old, 5).await.into_iter().map(|e| e.data).collect();
    assert_eq!(got, ["7", "8", "9", "10", "11"]);
    assert_eq!(old.resumed_from(), Some("earliest"));
    // Still within history (on disk, beyond the 2 cached events): resumes exactly.
    let mut recent = hub.event_source(&["t"]).last_event_id(ids[8].clone());
    let got: Vec<_> = take(&mut recent, 3).await.into_iter().map(|e| e.data).collect();
    assert_eq!(got, ["9", "10", "11"]);
    assert_eq!(recent.resumed_from(), Some(ids[8].as_str()));
    hub.kill().await;

    // The bound holds on disk too, across a restart.
    let hub = TestHub::start_in(dir.path(), &["--history-size", "5"]).await;
    let mut all = EventSource::new(hub.subscribe_url(&[("match", "t")])).last_event_id("earliest");
    let first = take(&mut all, 1).await;
    assert!(first[0].data.parse::<u32>().unwrap() >= 7, "history kept {} beyond the limit", first[0].data);
}

#[tokio::test]
async fn unusable_data_directories_stop_the_hub_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let _running = TestHub::start_in(dir.path(), &[]).await;
    let locked = TestHub::try_start_in(dir.path(), &[]).await.err().expect("a second hub on the same directory fails");
    assert!(locked.contains("in use by another Herald process"), "{locked}");

    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let bad_path = TestHub::try_start_in(&file, &[]).await.err().expect("a file as data directory fails");
    assert!(bad_path.contains("a-file"), "{bad_path}");

    let damaged = tempfile::tempdir().unwrap();
    {
        let hub = TestHub::start_in(damaged.path(), &[]).await;
        hub.publish("t", "x").await;
        hub.kill().await;
    }
    for entry in files_under(damaged.path()) {
        std::fs::write(entry, b"\x00not a store\xff").unwrap();
    }
    let corrupt = TestHub::try_start_in(damaged.path(), &[]).await.err().expect("a damaged store fails");
    assert!(corrupt.contains("cannot be read") && corrupt.contains("deletes nothing"), "{corrupt}");
}

/// Every file below `dir`.
fn files_under(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect()
}
