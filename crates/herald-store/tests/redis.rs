//! The shared log on a real Redis server, started by each test on a free loopback port:
//! positions, atomic batches, the id index, retention, entries that are not Herald's, blocking
//! reads, a server that dies and comes back, clear refusals, and two hubs sharing one stream.

#![cfg(feature = "redis")]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::retention::now_ms;
use herald_core::{
    Cursor, Event, Footprint, Hub, HubConfig, Matcher, ReadAccess, Retention, SharedLog, StoreError, Subscription,
    Update,
};
use herald_store::{codec, RedisLog};

/// How long a test waits for a condition (a server to start, a read to block) before failing.
const PATIENCE: Duration = Duration::from_secs(10);

const UNLIMITED: Retention = Retention { max_events: None, max_age: None, max_bytes: None };

/// A `redis-server` of the test's own, in a temporary directory, killed on drop.
struct Server {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    /// Starts a server with the append-only file synced at every write.
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Self { child: None, port: 0, dir };
        // Another test may take the free port before the server binds it: then try another.
        for _ in 0..5 {
            server.port = free_port();
            server.spawn();
            if server.wait_ready() {
                return server;
            }
            server.kill();
        }
        panic!("redis-server did not start; its output: {}", server.output());
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let spawned = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn();
        match spawned {
            Ok(child) => self.child = Some(child),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                panic!(
                    "redis-server is not installed: install the `redis-server` package (apt-get install redis-server)"
                )
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        }
    }

    fn log_path(&self) -> std::path::PathBuf {
        self.dir.path().join("server.log")
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Waits until the server answers PING; false when it exited first.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if child.try_wait().unwrap().is_some() {
                    return false;
                }
            }
            let answered = self.try_connection().and_then(|mut con| redis::cmd("PING").query::<String>(&mut con).ok());
            if answered.as_deref() == Some("PONG") {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    fn try_connection(&self) -> Option<redis::Connection> {
        let client = redis::Client::open(self.url().as_str()).ok()?;
        client.get_connection_with_timeout(Duration::from_millis(500)).ok()
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// A connection of the test's own, to look at or tamper with the keys.
    fn raw(&self) -> redis::Connection {
        self.try_connection().expect("the server is up")
    }

    fn log(&self) -> RedisLog {
        RedisLog::connect(&self.url()).unwrap()
    }

    /// Kills the server at once, as a crash would.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends the server `signal` (`STOP` to freeze it, `CONT` to let it go on).
    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    /// Starts the server again, on the same port and directory.
    fn restart(&mut self) {
        self.spawn();
        assert!(self.wait_ready(), "redis-server did not start again; its output: {}", self.output());
    }

    /// Waits until some client is blocked in a read.
    fn wait_for_blocked_client(&self) {
        let mut con = self.raw();
        let deadline = Instant::now() + PATIENCE;
        loop {
            let info: String = redis::cmd("INFO").arg("clients").query(&mut con).unwrap();
            let blocked = info
                .lines()
                .find_map(|line| line.strip_prefix("blocked_clients:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
                .unwrap_or(0);
            if blocked > 0 {
                return;
            }
            assert!(Instant::now() < deadline, "no client blocked in a read within {PATIENCE:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn event(id: &str, data: &str) -> Event {
    let update = Update { topics: vec!["t".into()], data: data.into(), ..Default::default() };
    Event::new(0, Arc::from(id), now_ms(), update).unwrap()
}

fn events(ids: &[&str]) -> Vec<Event> {
    ids.iter().map(|id| event(id, &format!("data of {id}"))).collect()
}

fn ids(events: &[Arc<Event>]) -> Vec<String> {
    events.iter().map(|e| e.id.to_string()).collect()
}

fn seqs(events: &[Arc<Event>]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

fn all(log: &RedisLog) -> Vec<Arc<Event>> {
    log.read_after(0, 10_000, Duration::ZERO).unwrap()
}

fn index_len(con: &mut redis::Connection, stream: &str) -> u64 {
    redis::cmd("ZCARD").arg(format!("{stream}:ids")).query(con).unwrap()
}

fn stream_len(con: &mut redis::Connection, stream: &str) -> u64 {
    redis::cmd("XLEN").arg(stream).query(con).unwrap()
}

fn size(id: &str) -> u64 {
    codec::encode(&event(id, &format!("data of {id}"))).len() as u64
}

#[test]
fn positions_increase_and_the_reads_agree() {
    let server = Server::start();
    let log = server.log();
    assert!(log.describe().contains(&server.url()) && log.describe().contains("herald"), "{}", log.describe());
    assert_eq!(log.last_position().unwrap(), 0, "no stream yet");
    assert!(all(&log).is_empty());
    assert!(log.read_last(10).unwrap().is_empty());
    assert_eq!(log.footprint(), Some(Footprint { events: 0, bytes: 0 }));

    let first = log.append(&events(&["a"]), &UNLIMITED, now_ms()).unwrap();
    let rest = log.append(&events(&["b", "c", "d"]), &UNLIMITED, now_ms()).unwrap();
    let positions: Vec<u64> = first.iter().chain(&rest).copied().collect();
    assert_eq!(positions.len(), 4);
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");

    let read = all(&log);
    assert_eq!(seqs(&read), positions);
    assert_eq!(ids(&read), ["a", "b", "c", "d"]);
    assert_eq!(read[1].data, "data of b");
    assert_eq!(read[1].topics, ["t"]);
    assert_eq!(seqs(&log.read_after(positions[1], 1, Duration::ZERO).unwrap()), [positions[2]]);
    assert!(log.read_after(positions[3], 10, Duration::ZERO).unwrap().is_empty());
    assert_eq!(seqs(&log.read_last(2).unwrap()), positions[2..]);
    assert_eq!(seqs(&log.read_last(10).unwrap()), positions);
    assert_eq!(log.last_position().unwrap(), positions[3]);
    assert_eq!(log.position_of("b").unwrap(), Some(positions[1]));
    assert_eq!(log.position_of("zzz").unwrap(), None);
    let bytes = ["a", "b", "c", "d"].map(size).iter().sum();
    assert_eq!(log.footprint(), Some(Footprint { events: 4, bytes }));

    // Another node finds the same log, and its footprint, when it connects.
    let other = server.log();
    assert_eq!(other.footprint(), Some(Footprint { events: 4, bytes }));
    assert_eq!(seqs(&all(&other)), positions);
    // Another stream on the same server is another log.
    let elsewhere = RedisLog::connect(&format!("{}/0?stream=elsewhere", server.url())).unwrap();
    assert!(all(&elsewhere).is_empty());
    assert_eq!(elsewhere.last_position().unwrap(), 0);
    elsewhere.append(&events(&["x"]), &UNLIMITED, now_ms()).unwrap();
    assert_eq!(stream_len(&mut server.raw(), "elsewhere"), 1);
    assert_eq!(index_len(&mut server.raw(), "elsewhere"), 1);
    assert_eq!(all(&log).len(), 4);
}

#[test]
fn a_batch_is_one_atomic_write_its_positions_in_order() {
    let server = Server::start();
    // Two nodes append batches at once: each batch lands whole, its events side by side.
    let writers: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|node| {
            let log = server.log();
            std::thread::spawn(move || {
                for batch in 0..20 {
                    let ids: Vec<String> = (0..10).map(|i| format!("{node}-{batch}-{i}")).collect();
                    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                    let positions = log.append(&events(&refs), &UNLIMITED, now_ms()).unwrap();
                    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let log = server.log();
    let read = ids(&all(&log));
    assert_eq!(read.len(), 400);
    for chunk in read.chunks(10) {
        let batch = chunk[0].rsplit_once('-').unwrap().0;
        let expected: Vec<String> = (0..10).map(|i| format!("{batch}-{i}")).collect();
        assert_eq!(chunk, expected, "a batch was interleaved with another");
    }

    // A batch that cannot be written completely writes nothing.
    let mut raw = server.raw();
    let () = redis::cmd("SET").arg("herald:ids").arg("not an index").query(&mut raw).unwrap();
    match log.append(&events(&["x", "y"]), &UNLIMITED, now_ms()) {
        Err(StoreError::Io { source, .. }) => assert!(source.to_string().contains("herald:ids"), "{source}"),
        other => panic!("expected an error naming the key, got {other:?}"),
    }
    assert_eq!(stream_len(&mut raw, "herald"), 400, "nothing of the failed batch was added");
    let () = redis::cmd("DEL").arg("herald:ids").query(&mut raw).unwrap();
    let positions = log.append(&events(&["x", "y"]), &UNLIMITED, now_ms()).unwrap();
    assert_eq!(seqs(&log.read_last(2).unwrap()), positions);
}

#[test]
fn a_reused_id_resolves_to_its_earliest_retained_event() {
    let server = Server::start();
    let log = server.log();
    let p = log.append(&events(&["a", "b", "a", "a"]), &UNLIMITED, now_ms()).unwrap();
    assert_eq!(log.position_of("a").unwrap(), Some(p[0]));
    assert_eq!(log.position_of("b").unwrap(), Some(p[1]));

    // Retention removes the first `a` and `b`: the next `a` is the earliest.
    let three = Retention { max_events: Some(3), ..UNLIMITED };
    let c = log.append(&events(&["c"]), &three, now_ms()).unwrap();
    assert_eq!(ids(&all(&log)), ["a", "a", "c"]);
    assert_eq!(log.position_of("a").unwrap(), Some(p[2]));
    assert_eq!(log.position_of("b").unwrap(), None);
    assert_eq!(log.position_of("c").unwrap(), Some(c[0]));
    assert_eq!(index_len(&mut server.raw(), "herald"), 3);

    let one = Retention { max_events: Some(1), ..UNLIMITED };
    log.append(&events(&["d"]), &one, now_ms()).unwrap();
    assert_eq!(log.position_of("a").unwrap(), None);
    assert_eq!(log.position_of("a\0").unwrap(), None, "an id that cannot be an event's");
    assert_eq!(index_len(&mut server.raw(), "herald"), 1);

    // An index entry whose event was removed behind the log's back resolves to nothing.
    let gone = log.append(&events(&["e"]), &UNLIMITED, now_ms()).unwrap();
    let entry = format!("{}-{}", gone[0] >> 22, gone[0] & ((1 << 22) - 1));
    let removed: u64 = redis::cmd("XDEL").arg("herald").arg(&entry).query(&mut server.raw()).unwrap();
    assert_eq!(removed, 1);
    assert_eq!(log.position_of("e").unwrap(), None);
}

#[test]
fn retention_by_count_bytes_and_age_removes_events_and_their_index_entries() {
    let server = Server::start();
    let log = server.log();
    let mut raw = server.raw();
    let names: Vec<String> = (0..10).map(|i| format!("id{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    log.append(&events(&refs), &UNLIMITED, now_ms()).unwrap();
    let each = size("id0");

    // By count, in the same write as the append.
    let six = Retention { max_events: Some(6), ..UNLIMITED };
    let last = log.append(&events(&["id10"]), &six, now_ms()).unwrap()[0];
    assert_eq!(ids(&all(&log)), ["id5", "id6", "id7", "id8", "id9", "id10"]);
    assert_eq!(log.footprint(), Some(Footprint { events: 6, bytes: 5 * each + size("id10") }));
    assert_eq!(log.position_of("id4").unwrap(), None, "trimmed ids leave the index");
    assert!(log.position_of("id5").unwrap().is_some());
    assert_eq!(index_len(&mut raw, "herald"), 6);
    assert_eq!(log.last_position().unwrap(), last);

    // By bytes.
    let bytes = log.footprint().unwrap().bytes;
    // With one more event, two must go to be back under the limit.
    let limit = bytes + size("id11") - 2 * each;
    let under = Retention { max_bytes: Some(limit), ..UNLIMITED };
    log.append(&events(&["id11"]), &under, now_ms()).unwrap();
    assert_eq!(ids(&all(&log)), ["id7", "id8", "id9", "id10", "id11"]);
    let kept = 3 * each + size("id10") + size("id11");
    assert_eq!(kept, limit, "removed no more than needed");
    assert_eq!(log.footprint(), Some(Footprint { events: 5, bytes: kept }));
    let stored: u64 = redis::cmd("HGET").arg("herald:meta").arg("bytes").query(&mut raw).unwrap();
    assert_eq!(stored, kept);
    assert_eq!(index_len(&mut raw, "herald"), 5);

    // A batch larger than the limit keeps its newest events, and still gets every position.
    let two = Retention { max_events: Some(2), ..UNLIMITED };
    let batch = log.append(&events(&["b0", "b1", "b2", "b3", "b4"]), &two, now_ms()).unwrap();
    assert_eq!(batch.len(), 5);
    assert_eq!(seqs(&all(&log)), batch[3..]);
    assert_eq!(index_len(&mut raw, "herald"), 2);

    // By age: the entries up to `newest` are more than the limit old at `now`, the next one not.
    let newest = log.last_position().unwrap() >> 22;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (seconds, micros): (u64, u64) = redis::cmd("TIME").query(&mut raw).unwrap();
        if seconds * 1000 + micros / 1000 > newest + 5 {
            break;
        }
        assert!(Instant::now() < deadline, "the server's clock does not advance");
        std::thread::sleep(Duration::from_millis(2));
    }
    let minute = Retention { max_age: Some(Duration::from_secs(60)), ..UNLIMITED };
    let fresh = log.append(&events(&["fresh"]), &minute, newest + 60_001).unwrap()[0];
    assert_eq!(seqs(&all(&log)), [fresh]);
    assert_eq!(log.position_of("b4").unwrap(), None);
    assert_eq!(index_len(&mut raw, "herald"), 1);
    assert_eq!(log.footprint(), Some(Footprint { events: 1, bytes: size("fresh") }));

    // Everything removed: the last position stays, also for a node connecting afterwards.
    let none = Retention { max_events: Some(0), ..UNLIMITED };
    let gone = log.append(&events(&["gone"]), &none, now_ms()).unwrap()[0];
    assert!(all(&log).is_empty());
    assert!(log.read_last(5).unwrap().is_empty());
    assert_eq!(log.footprint(), Some(Footprint { events: 0, bytes: 0 }));
    assert_eq!(log.last_position().unwrap(), gone);
    assert_eq!(stream_len(&mut raw, "herald"), 0);
    assert_eq!(index_len(&mut raw, "herald"), 0);
    let later = server.log();
    assert_eq!(later.last_position().unwrap(), gone);
    assert_eq!(later.footprint(), Some(Footprint { events: 0, bytes: 0 }));
    let next = later.append(&events(&["next"]), &UNLIMITED, now_ms()).unwrap()[0];
    assert!(next > gone);
}

#[test]
fn entries_that_are_not_herald_events_are_skipped() {
    let server = Server::start();
    let log = server.log();
    let mut raw = server.raw();
    let xadd = |con: &mut redis::Connection, fields: &[(&str, &[u8])]| {
        let mut cmd = redis::cmd("XADD");
        cmd.arg("herald").arg("*");
        for (name, value) in fields {
            cmd.arg(*name).arg(*value);
        }
        let _: String = cmd.query(con).unwrap();
    };
    let a = log.append(&events(&["a"]), &UNLIMITED, now_ms()).unwrap()[0];
    xadd(&mut raw, &[("other", b"field")]);
    xadd(&mut raw, &[("e", b"\x01garbage"), ("i", b"fake")]);
    let b = log.append(&events(&["b"]), &UNLIMITED, now_ms()).unwrap()[0];
    xadd(&mut raw, &[("e", b"")]);

    assert_eq!(seqs(&all(&log)), [a, b]);
    assert_eq!(seqs(&log.read_after(a, 10, Duration::ZERO).unwrap()), [b]);
    assert_eq!(seqs(&log.read_after(a, 1, Duration::ZERO).unwrap()), [b], "a page of foreign entries is passed");
    assert!(log.read_after(b, 10, Duration::ZERO).unwrap().is_empty());
    assert_eq!(seqs(&log.read_last(10).unwrap()), [a, b]);
    assert_eq!(seqs(&log.read_last(1).unwrap()), [b], "the newest events, past a foreign one");
    assert_eq!(log.position_of("fake").unwrap(), None);

    // Waiting after the last event, with only a foreign entry past it: nothing, then the next.
    let started = Instant::now();
    assert!(log.read_after(b, 10, Duration::from_millis(300)).unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(250), "it waited for a new entry");
    let c = log.append(&events(&["c"]), &UNLIMITED, now_ms()).unwrap()[0];
    assert_eq!(seqs(&log.read_after(b, 10, Duration::from_secs(5)).unwrap()), [c]);
    assert_eq!(seqs(&server.log().read_after(b, 10, Duration::from_secs(5)).unwrap()), [c]);

    // Retention counts and removes them like any entry.
    let two = Retention { max_events: Some(2), ..UNLIMITED };
    log.append(&events(&["d"]), &two, now_ms()).unwrap();
    assert_eq!(ids(&all(&log)), ["c", "d"]);
    assert_eq!(log.footprint(), Some(Footprint { events: 2, bytes: size("c") + size("d") }));
}

#[test]
fn a_waiting_read_returns_as_soon_as_another_node_appends() {
    let server = Server::start();
    let (reader, writer) = (server.log(), server.log());
    let after = writer.append(&events(&["before"]), &UNLIMITED, now_ms()).unwrap()[0];
    let wait = Duration::from_secs(10);
    let reading = std::thread::spawn(move || {
        let started = Instant::now();
        let read = reader.read_after(after, 10, wait);
        (read, started.elapsed())
    });
    server.wait_for_blocked_client();
    let appended = writer.append(&events(&["x", "y"]), &UNLIMITED, now_ms()).unwrap();
    let (read, elapsed) = reading.join().unwrap();
    assert_eq!(seqs(&read.unwrap()), appended);
    assert!(elapsed < Duration::from_secs(3), "returned after {elapsed:?} of a {wait:?} wait");
}

fn assert_unreachable<T: std::fmt::Debug>(result: Result<T, StoreError>, server: &Server) {
    match result {
        Err(StoreError::Unreachable { engine, .. }) => assert_eq!(engine, server.url()),
        other => panic!("expected the server to be unreachable, got {other:?}"),
    }
}

#[test]
fn a_dead_server_is_unreachable_and_once_restarted_serves_everything_again() {
    let mut server = Server::start();
    let log = Arc::new(server.log());
    let before = log.append(&events(&["a", "b", "c"]), &UNLIMITED, now_ms()).unwrap();
    let footprint = log.footprint();

    // A read waiting for new entries when the server dies fails at once.
    let reading = {
        let log = log.clone();
        let after = before[2];
        std::thread::spawn(move || {
            let started = Instant::now();
            (log.read_after(after, 10, Duration::from_secs(8)), started.elapsed())
        })
    };
    server.wait_for_blocked_client();
    server.kill();
    let (read, elapsed) = reading.join().unwrap();
    assert_unreachable(read, &server);
    assert!(elapsed < Duration::from_secs(4), "the waiting read took {elapsed:?}");

    let started = Instant::now();
    assert_unreachable(log.append(&events(&["lost"]), &UNLIMITED, now_ms()), &server);
    assert_unreachable(log.read_after(0, 10, Duration::ZERO), &server);
    assert_unreachable(log.read_after(before[2], 10, Duration::from_secs(1)), &server);
    assert_unreachable(log.read_last(10), &server);
    assert_unreachable(log.last_position(), &server);
    assert_unreachable(log.position_of("a"), &server);
    assert!(started.elapsed() < Duration::from_secs(10), "the calls took {:?}", started.elapsed());
    assert_eq!(log.footprint(), footprint, "the footprint is what the last append left");
    let message = log.append(&events(&["lost"]), &UNLIMITED, now_ms()).unwrap_err().to_string();
    assert!(message.contains(&server.url()), "{message}");

    server.restart();
    let after = log.append(&events(&["d"]), &UNLIMITED, now_ms()).unwrap();
    assert!(after[0] > before[2]);
    let read = all(&log);
    assert_eq!(ids(&read), ["a", "b", "c", "d"], "nothing acknowledged was lost");
    assert_eq!(seqs(&read)[..3], before);
    assert_eq!(log.last_position().unwrap(), after[0]);
    assert_eq!(log.position_of("a").unwrap(), Some(before[0]));
}

#[test]
fn a_server_that_stops_answering_fails_calls_within_the_timeouts() {
    let server = Server::start();
    let log = server.log();
    log.append(&events(&["a"]), &UNLIMITED, now_ms()).unwrap();
    server.signal("STOP");
    let started = Instant::now();
    assert_unreachable(log.append(&events(&["maybe"]), &UNLIMITED, now_ms()), &server);
    let append = started.elapsed();
    let started = Instant::now();
    assert_unreachable(log.read_after(0, 10, Duration::from_secs(1)), &server);
    let read = started.elapsed();
    server.signal("CONT");
    assert!(append < Duration::from_secs(8), "the append gave up after {append:?}");
    assert!(read < Duration::from_secs(10), "the waiting read gave up after {read:?}");
    // The server may still run the append it had received: that publisher was told it failed.
    let ids = ids(&all(&log));
    assert!(ids == ["a"] || ids == ["a", "maybe"], "{ids:?}");
}

#[test]
fn connecting_where_no_server_listens_fails_naming_the_url_without_its_password() {
    let port = free_port();
    let started = Instant::now();
    let error = RedisLog::connect(&format!("redis://:hunter2@127.0.0.1:{port}/?stream=s")).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    match &error {
        StoreError::Unreachable { engine, .. } => {
            assert!(engine.contains(&format!("127.0.0.1:{port}")), "{engine}")
        }
        other => panic!("expected the server to be unreachable, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains(&format!("127.0.0.1:{port}")) && !message.contains("hunter2"), "{message}");
}

#[test]
fn malformed_urls_and_unknown_parameters_are_refused_clearly() {
    let form = "redis://[:PASSWORD@]HOST:PORT[/DB][?stream=NAME]";
    for (url, says) in [
        ("127.0.0.1:6379", "is not a URL"),
        ("not a url", "is not a URL"),
        ("http://127.0.0.1:6379", "scheme is `http`"),
        ("rediss://127.0.0.1:6379", "TLS"),
        ("redis://127.0.0.1:6379/first", "not a database number"),
        ("redis://127.0.0.1:6379?stream=a&batch=9", "unknown parameter `batch`"),
        ("redis://127.0.0.1:6379?stream=", "stream name"),
    ] {
        let message = RedisLog::connect(url).unwrap_err().to_string();
        assert!(message.contains(says) && message.contains(form), "{url}: {message}");
    }
}

#[test]
fn a_stream_key_holding_something_else_is_refused_at_connect() {
    let server = Server::start();
    let () = redis::cmd("SET").arg("herald").arg("a string").query(&mut server.raw()).unwrap();
    let message = RedisLog::connect(&server.url()).unwrap_err().to_string();
    assert!(message.contains("herald") && message.contains("string"), "{message}");
}

fn t() -> Vec<Matcher> {
    vec![Matcher::exact("t").unwrap()]
}

async fn recv(sub: &mut Subscription) -> String {
    tokio::time::timeout(PATIENCE, sub.recv()).await.expect("no event came").unwrap().data.clone()
}

async fn drain(sub: &mut Subscription) -> Vec<String> {
    let mut out = Vec::new();
    sub.drain(usize::MAX, &mut out).await.unwrap();
    out.iter().map(|e| e.data.clone()).collect()
}

fn update(data: &str) -> Update {
    Update { topics: vec!["t".into()], data: data.into(), ..Default::default() }
}

#[tokio::test]
async fn two_hubs_on_one_stream_deliver_every_event_once_in_order() {
    let server = Server::start();
    let node = || Hub::with_shared_log(HubConfig::default(), Arc::new(server.log())).unwrap();
    let (a, b) = (node(), node());
    let mut on_a = a.subscribe(t(), ReadAccess::public_only(), None).await.unwrap();
    let mut on_b = b.subscribe(t(), ReadAccess::public_only(), None).await.unwrap();
    let mut published = Vec::new();
    for i in 0..10 {
        published.push(a.publish(update(&i.to_string())).await.unwrap());
    }
    assert!(published.windows(2).all(|w| w[0].seq < w[1].seq));
    // Then one from B: what comes after the ten on either node is that one, so none came twice.
    let last = b.publish(update("from b")).await.unwrap();
    let expected: Vec<String> = (0..10).map(|i| i.to_string()).chain(["from b".to_owned()]).collect();
    for sub in [&mut on_a, &mut on_b] {
        let mut got = Vec::new();
        for _ in 0..expected.len() {
            got.push(recv(sub).await);
        }
        assert_eq!(got, expected);
    }

    // Resuming on B with an id that A gave: exactly what came after it.
    let from_a = published[4].id.to_string();
    let mut resumed = b.subscribe(t(), ReadAccess::public_only(), Some(Cursor::After(from_a.clone()))).await.unwrap();
    assert_eq!(drain(&mut resumed).await, expected[5..]);
    // And on a node started afterwards, from the log.
    let c = node();
    let mut late = c.subscribe(t(), ReadAccess::public_only(), Some(Cursor::After(from_a))).await.unwrap();
    assert_eq!(drain(&mut late).await, expected[5..]);
    let next = c.publish(update("from c")).await.unwrap();
    assert!(next.seq > last.seq);
    assert_eq!(recv(&mut on_b).await, "from c");
    assert_eq!(recv(&mut late).await, "from c");
}
