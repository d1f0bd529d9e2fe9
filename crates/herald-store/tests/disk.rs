//! The embedded store on a real directory: durability across reopen, retention, the hub's
//! catch-up from disk, and clear refusals for unusable directories.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{
    Cursor, Event, Hub, HubConfig, Matcher, ReadAccess, Retention, Store, StoreError, Subscription, Update,
};
use herald_store::DiskStore;

fn event(seq: u64, id: &str, data: &str, published_ms: u64) -> Arc<Event> {
    let update = Update { topics: vec!["t".into()], data: data.into(), ..Default::default() };
    Arc::new(Event::new(seq, Arc::from(id), published_ms, update).unwrap())
}

fn datas(events: &[Arc<Event>]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

const UNLIMITED: Retention = Retention { max_events: None, max_age: None, max_bytes: None };

#[test]
fn events_ids_and_positions_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        assert_eq!(store.next_seq(), 1);
        store.append(&[event(1, "a", "one", 0), event(2, "b", "two", 0)], &UNLIMITED, 0).unwrap();
        store.append(&[event(3, "a", "reused id", 0)], &UNLIMITED, 0).unwrap();
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!(store.next_seq(), 4);
    assert_eq!(store.len(), 3);
    assert_eq!(datas(&store.read_after(0, 10).unwrap()), ["one", "two", "reused id"]);
    assert_eq!(datas(&store.read_after(1, 1).unwrap()), ["two"]);
    assert_eq!(store.position_of("a").unwrap(), Some(1), "a reused id resolves to the earliest");
    assert_eq!(store.position_of("b").unwrap(), Some(2));
    assert_eq!(store.position_of("nope").unwrap(), None);
}

#[test]
fn retention_by_count_bytes_and_age_and_positions_keep_increasing() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let batch: Vec<_> = (1..=10).map(|s| event(s, &format!("id{s}"), "0123456789", s * 1000)).collect();
    store.append(&batch, &UNLIMITED, 0).unwrap();

    let by_count = Retention { max_events: Some(6), ..UNLIMITED };
    assert_eq!(store.trim(&by_count, 0).unwrap(), 4);
    assert_eq!(store.len(), 6);
    assert_eq!(store.read_after(0, 100).unwrap()[0].seq, 5);
    assert_eq!(store.position_of("id4").unwrap(), None, "trimmed ids leave the index");

    let before = store.bytes();
    let by_bytes = Retention { max_bytes: Some(before - 1), ..UNLIMITED };
    assert_eq!(store.trim(&by_bytes, 0).unwrap(), 1);
    assert!(store.bytes() < before);

    let by_age = Retention { max_age: Some(Duration::from_secs(2)), ..UNLIMITED };
    assert_eq!(store.trim(&by_age, 10_000).unwrap(), 2, "the events at 6 s and 7 s are over 2 s old at 10 s");
    let left: Vec<u64> = store.read_after(0, 100).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(left, [8, 9, 10]);

    let nothing = Retention { max_events: Some(0), ..UNLIMITED };
    store.trim(&nothing, 0).unwrap();
    assert!(store.is_empty());
    drop(store);
    let reopened = DiskStore::open(dir.path()).unwrap();
    assert_eq!(reopened.next_seq(), 11, "positions continue after everything was trimmed");
    assert_eq!(reopened.len(), 0);
}

#[test]
fn appending_trims_in_the_same_write() {
    let dir = tempfile::tempdir().unwrap();
    let store = DiskStore::open(dir.path()).unwrap();
    let three = Retention { max_events: Some(3), ..UNLIMITED };
    for s in 1..=5 {
        store.append(&[event(s, &format!("id{s}"), &s.to_string(), 0)], &three, 0).unwrap();
        assert!(store.len() <= 3);
    }
    assert_eq!(datas(&store.read_after(0, 10).unwrap()), ["3", "4", "5"]);
    // A batch larger than the limit keeps only its newest events.
    let batch: Vec<_> = (6..=10).map(|s| event(s, &format!("id{s}"), &s.to_string(), 0)).collect();
    store.append(&batch, &three, 0).unwrap();
    assert_eq!(datas(&store.read_after(0, 10).unwrap()), ["8", "9", "10"]);
    assert_eq!(store.position_of("id7").unwrap(), None);
    assert_eq!(store.position_of("id8").unwrap(), Some(8));
    // Events already too old when appended are not kept.
    let young = Retention { max_age: Some(Duration::from_secs(1)), ..UNLIMITED };
    store.append(&[event(11, "old", "old", 1_000), event(12, "new", "new", 9_500)], &young, 10_000).unwrap();
    assert_eq!(datas(&store.read_after(0, 10).unwrap()), ["new"]);
    drop(store);
    let reopened = DiskStore::open(dir.path()).unwrap();
    assert_eq!((reopened.len(), reopened.next_seq()), (1, 13));
}

#[test]
fn a_directory_in_use_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _first = DiskStore::open(dir.path()).unwrap();
    let second = DiskStore::open(dir.path()).unwrap_err();
    assert!(matches!(&second, StoreError::Locked { path } if path == dir.path()), "{second:?}");
    assert!(second.to_string().contains("in use by another Herald process"), "{second}");
}

#[test]
fn an_unusable_path_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    let error = DiskStore::open(&file.join("data")).unwrap_err();
    assert!(matches!(error, StoreError::Unwritable { .. }), "{error:?}");
    assert!(error.to_string().contains("cannot be created") && error.to_string().contains("plain-file"), "{error}");
}

#[test]
fn damaged_data_is_refused_and_left_in_place() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = DiskStore::open(dir.path()).unwrap();
        store.append(&[event(1, "a", "one", 0)], &UNLIMITED, 0).unwrap();
    }
    // Overwrite every file the store wrote with garbage.
    let mut damaged = Vec::new();
    for entry in files_under(dir.path()) {
        std::fs::write(&entry, b"\x00garbage\xff").unwrap();
        damaged.push(entry);
    }
    assert!(!damaged.is_empty());
    let error = DiskStore::open(dir.path()).unwrap_err();
    assert!(matches!(&error, StoreError::Corrupt { path, .. } if path == dir.path()), "{error:?}");
    assert!(error.to_string().contains("deletes nothing"), "{error}");
    for path in damaged {
        assert_eq!(std::fs::read(&path).unwrap(), b"\x00garbage\xff", "{} was left as it was", path.display());
    }
}

/// Every event the subscription has for now, history read from the store included.
/// What `sub` has been offered so far: everything published before the call.
async fn drain(hub: &Hub, sub: &mut Subscription) -> Vec<String> {
    hub.flush().await;
    let mut out = Vec::new();
    sub.drain(usize::MAX, &mut out).await.unwrap();
    out.iter().map(|e| e.data.clone()).collect()
}

fn t() -> Vec<Matcher> {
    vec![Matcher::exact("t").unwrap()]
}

#[tokio::test]
async fn the_hub_resumes_from_disk_beyond_its_memory_and_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = HubConfig { cache_size: 3, ..Default::default() };
    let mut ids = Vec::new();
    {
        let hub = Hub::with_store(config.clone(), Arc::new(DiskStore::open(dir.path()).unwrap())).unwrap();
        for i in 0..20 {
            let update = Update {
                topics: vec![if i % 5 == 4 { "other" } else { "t" }.into()],
                data: i.to_string(),
                ..Default::default()
            };
            ids.push(hub.publish(update).await.unwrap().id.to_string());
        }
        // Far behind the 3 cached events: caught up from disk, then live, no gap, no repeat.
        let mut sub = hub.subscribe(t(), ReadAccess::public_only(), Some(Cursor::After(ids[1].clone()))).await.unwrap();
        assert_eq!(sub.resumed_from(), Some(ids[1].as_str()));
        let first = sub.recv().await.unwrap();
        assert_eq!(first.data, "2");
        let update = Update { topics: vec!["t".into()], data: "live".into(), ..Default::default() };
        hub.publish(update).await.unwrap();
        let rest = drain(&hub, &mut sub).await;
        assert_eq!(rest, ["3", "5", "6", "7", "8", "10", "11", "12", "13", "15", "16", "17", "18", "live"]);
    }
    // After a restart, an id issued before it resumes exactly, and new positions follow on.
    let hub = Hub::with_store(config, Arc::new(DiskStore::open(dir.path()).unwrap())).unwrap();
    let mut sub = hub.subscribe(t(), ReadAccess::public_only(), Some(Cursor::After(ids[16].clone()))).await.unwrap();
    assert_eq!(drain(&hub, &mut sub).await, ["17", "18", "live"]);
    let next =
        hub.publish(Update { topics: vec!["t".into()], data: "after".into(), ..Default::default() }).await.unwrap();
    assert_eq!(next.seq, 22);
    assert_eq!(drain(&hub, &mut sub).await, ["after"]);
    let mut everything = hub.subscribe(t(), ReadAccess::public_only(), Some(Cursor::Earliest)).await.unwrap();
    assert_eq!(drain(&hub, &mut everything).await.len(), 18);
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

fn given(id: &str, data: &str) -> Update {
    Update { topics: vec!["t".into()], data: data.into(), id: Some(id.into()), ..Default::default() }
}

#[tokio::test]
async fn a_retried_id_inside_the_dedup_window_is_answered_again_not_delivered_again() {
    let dir = tempfile::tempdir().unwrap();
    let config = HubConfig { dedup_window: Some(Duration::from_secs(3600)), ..Default::default() };
    {
        let hub = Hub::with_store(config.clone(), Arc::new(DiskStore::open(dir.path()).unwrap())).unwrap();
        let mut sub = hub.subscribe(t(), ReadAccess::public_only(), None).await.unwrap();
        let first = hub.publish(given("a", "first")).await.unwrap();
        let retry = hub.publish(given("a", "retried")).await.unwrap();
        assert_eq!((&*retry.id, retry.seq), (&*first.id, first.seq), "answered with the accepted event's id");
        // Retries racing each other (often in one batch): one is stored, all get its answer.
        let racing: Vec<_> = (0..8)
            .map(|i| {
                let hub = hub.clone();
                tokio::spawn(
                    async move { hub.publish(given("b", &format!("race {i}"))).await.map_err(|e| e.to_string()) },
                )
            })
            .collect();
        let mut answers = Vec::new();
        for task in racing {
            answers.push(task.await.unwrap());
        }
        assert!(answers.iter().all(|a| a.as_ref().is_ok_and(|e| &*e.id == "b")), "{answers:?}");
        let seqs: std::collections::HashSet<u64> = answers.iter().map(|a| a.as_ref().unwrap().seq).collect();
        assert_eq!(seqs.len(), 1, "one position for all of them");
        // Without an id the hub gives one: never a duplicate.
        hub.publish(Update { topics: vec!["t".into()], data: "no id".into(), ..Default::default() }).await.unwrap();
        hub.publish(Update { topics: vec!["t".into()], data: "no id".into(), ..Default::default() }).await.unwrap();
        assert_eq!(drain(&hub, &mut sub).await.len(), 4, "a, b and the two without an id");
    }
    // After a restart the window still holds: the store says the id was accepted.
    let hub = Hub::with_store(config, Arc::new(DiskStore::open(dir.path()).unwrap())).unwrap();
    let mut sub = hub.subscribe(t(), ReadAccess::public_only(), None).await.unwrap();
    let after = hub.publish(given("a", "retried after the restart")).await.unwrap();
    assert_eq!(&*after.id, "a");
    hub.publish(given("c", "new")).await.unwrap();
    assert_eq!(drain(&hub, &mut sub).await, ["new"], "the retry of a was not delivered again");
    let mut everything = hub.subscribe(t(), ReadAccess::public_only(), Some(Cursor::Earliest)).await.unwrap();
    let all = drain(&hub, &mut everything).await;
    assert_eq!(all.len(), 5, "{all:?}");
    assert_eq!(
        (all[0].as_str(), &all[2..]),
        ("first", &["no id".to_owned(), "no id".to_owned(), "new".to_owned()][..])
    );
    assert!(all[1].starts_with("race "), "one of the racing retries, once: {all:?}");
}

/// Bytes of the tables below `dir` (fjall's journals are preallocated, and bounded by fjall;
/// files may vanish while counted, as compaction runs beside).
fn table_bytes(dir: &std::path::Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file() && entry.path().components().any(|c| c.as_os_str() == "tables"))
        .filter_map(|entry| entry.metadata().ok())
        .map(|metadata| metadata.len())
        .sum()
}

#[test]
fn trimmed_events_leave_the_disk_and_stay_trimmed_after_reopening() {
    const EVENTS: u64 = 60_000;
    const KEPT: u64 = 1_000;
    // 60 MB written through a window of 1 MB: the tables must not keep what retention removed.
    const BOUND: u64 = 24 << 20;
    let dir = tempfile::tempdir().unwrap();
    let data = "x".repeat(1000);
    let retention = Retention { max_events: Some(KEPT), ..UNLIMITED };
    {
        let store = DiskStore::open(dir.path()).unwrap();
        for start in (1..=EVENTS).step_by(500) {
            let batch: Vec<_> = (start..start + 500).map(|s| event(s, &format!("id{s}"), &data, 0)).collect();
            store.append(&batch, &retention, 0).unwrap();
        }
        assert_eq!(store.len(), KEPT);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while table_bytes(dir.path()) > BOUND {
            assert!(
                std::time::Instant::now() < deadline,
                "{} bytes of tables, more than {BOUND}",
                table_bytes(dir.path())
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!((store.len(), store.next_seq()), (KEPT, EVENTS + 1));
    let oldest = store.read_after(0, 1).unwrap();
    assert_eq!(oldest[0].seq, EVENTS - KEPT + 1, "reads start at the first retained position");
    assert_eq!(store.position_of("id5").unwrap(), None, "a trimmed id is not found");
    assert_eq!(store.position_of(&format!("id{}", EVENTS - 5)).unwrap(), Some(EVENTS - 5));
}

/// A store as written before events were kept in pages: one key per event (its big-endian
/// position) in `events`, an id index in `ids`, the next position in `meta`.
fn write_legacy_store(dir: &std::path::Path, events: &[Arc<Event>], next_seq: u64) {
    let db = fjall::Database::builder(dir).open().unwrap();
    let keyspace = |name| db.keyspace(name, fjall::KeyspaceCreateOptions::default).unwrap();
    let (old_events, ids, meta) = (keyspace("events"), keyspace("ids"), keyspace("meta"));
    for event in events {
        old_events.insert(event.seq.to_be_bytes(), herald_store::codec::encode(event)).unwrap();
        let mut id_key = event.id.as_bytes().to_vec();
        id_key.push(0);
        id_key.extend_from_slice(&event.seq.to_be_bytes());
        ids.insert(id_key, b"").unwrap();
    }
    meta.insert("next_seq", next_seq.to_be_bytes()).unwrap();
    db.persist(fjall::PersistMode::SyncAll).unwrap();
}

#[test]
fn a_store_of_the_per_event_layout_is_moved_into_pages_and_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let events: Vec<_> = (5..=9).map(|s| event(s, &format!("id{s}"), &format!("data {s}"), 1_000 + s)).collect();
    write_legacy_store(dir.path(), &events, 12);
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!((store.len(), store.next_seq()), (5, 12));
    let back = store.read_after(0, 10).unwrap();
    assert_eq!(datas(&back), ["data 5", "data 6", "data 7", "data 8", "data 9"]);
    assert_eq!(
        back.iter().map(|e| (e.seq, e.published_ms)).collect::<Vec<_>>(),
        [(5, 1_005), (6, 1_006), (7, 1_007), (8, 1_008), (9, 1_009)]
    );
    assert_eq!(store.position_of("id7").unwrap(), Some(7));
    store.append(&[event(12, "id12", "after the move", 2_000)], &UNLIMITED, 0).unwrap();
    drop(store);
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!(datas(&store.read_after(8, 10).unwrap()), ["data 9", "after the move"]);
    assert_eq!((store.len(), store.next_seq(), store.position_of("id12").unwrap()), (6, 13, Some(12)));
    drop(store);
    let db = fjall::Database::builder(dir.path()).open().unwrap();
    assert!(!db.keyspace_exists("events") && !db.keyspace_exists("ids"), "the old keyspaces are gone");
}

#[test]
fn resuming_reads_from_inside_a_page_and_partly_retired_pages_stay_trimmed_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let retention = Retention { max_events: Some(250), ..UNLIMITED };
    {
        let store = DiskStore::open(dir.path()).unwrap();
        // One batch of 400 events of 1 KB: several pages, the oldest partly retired below.
        let data = "y".repeat(1_000);
        let batch: Vec<_> = (1..=400).map(|s| event(s, &format!("id{s}"), &data, 0)).collect();
        store.append(&batch, &UNLIMITED, 0).unwrap();
        assert_eq!(store.trim(&retention, 0).unwrap(), 150);
        assert_eq!(store.read_after(0, 1).unwrap()[0].seq, 151);
        let inside: Vec<u64> = store.read_after(200, 3).unwrap().iter().map(|e| e.seq).collect();
        assert_eq!(inside, [201, 202, 203]);
    }
    let store = DiskStore::open(dir.path()).unwrap();
    assert_eq!((store.len(), store.next_seq()), (250, 401));
    assert_eq!(store.read_after(0, 1).unwrap()[0].seq, 151);
    assert_eq!(store.position_of("id150").unwrap(), None, "a retired id is not found");
    assert_eq!(store.position_of("id151").unwrap(), Some(151));
    assert_eq!(store.read_after(399, 10).unwrap().len(), 1);
}
