//! The JetStream engine against a real `nats-server -js`, started by each test on a free
//! loopback port with its own store directory: positions and reads, the id index, retention,
//! foreign messages, waiting reads, a lost and restarted server, configuration errors, the
//! payload limit, and two hubs sharing one stream.
#![cfg(feature = "nats")]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::{Cursor, Event, Hub, HubConfig, Matcher, ReadAccess, Retention, SharedLog, StoreError, Update};
use herald_store::NatsLog;

const UNLIMITED: Retention = Retention { max_events: None, max_age: None, max_bytes: None };
const NOW: Duration = Duration::ZERO;

/// A `nats-server -js` of this test: killed when dropped.
struct Server {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
    config: Option<PathBuf>,
    jetstream: bool,
}

fn nats_server() -> PathBuf {
    let in_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).map(|dir| dir.join("nats-server")).collect::<Vec<_>>())
        .unwrap_or_default();
    in_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin/nats-server"), PathBuf::from("/usr/bin/nats-server")])
        .find(|candidate| candidate.is_file())
        .expect("nats-server is not installed: install the nats-server package (apt-get install nats-server)")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    fn start() -> Self {
        Self::start_with("")
    }

    /// A server with `extra` as its configuration file's content (empty: none).
    fn start_with(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = (!extra.is_empty()).then(|| {
            let path = dir.path().join("nats.conf");
            std::fs::write(&path, extra).unwrap();
            path
        });
        let mut server = Self { child: None, port: free_port(), dir, config, jetstream: true };
        server.run();
        server
    }

    /// A server with JetStream off.
    fn start_without_jetstream() -> Self {
        let mut server =
            Self { child: None, port: free_port(), dir: tempfile::tempdir().unwrap(), config: None, jetstream: false };
        server.run();
        server
    }

    fn run(&mut self) {
        let store = self.dir.path().join("js");
        let mut command = Command::new(nats_server());
        command.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.jetstream {
            command.args(["-js", "-sd"]).arg(&store);
        }
        if let Some(config) = &self.config {
            command.arg("-c").arg(config);
        }
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        self.child = Some(child);
        wait_ready(self.port, self.jetstream);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.kill();
        self.run();
    }

    fn url(&self, stream: &str) -> String {
        format!("nats://127.0.0.1:{}?stream={stream}", self.port)
    }

    /// Publishes `payload` on `subject` as a plain NATS client would (no Herald framing).
    fn publish_raw(&self, subject: &str, payload: &[u8]) {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert!(line.starts_with("INFO"), "{line}");
        let mut writer = stream;
        writer.write_all(b"CONNECT {\"verbose\":false}\r\n").unwrap();
        writer.write_all(format!("PUB {subject} {}\r\n", payload.len()).as_bytes()).unwrap();
        writer.write_all(payload).unwrap();
        writer.write_all(b"\r\nPING\r\n").unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            assert!(!line.starts_with("-ERR"), "{line}");
            if line.starts_with("PONG") {
                break;
            }
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the server on `port` greets, with JetStream on if `jetstream` (polling, up to a
/// deadline).
fn wait_ready(port: u16, jetstream: bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) {
            stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut line = String::new();
            if BufReader::new(stream).read_line(&mut line).is_ok()
                && line.starts_with("INFO")
                && (!jetstream || line.contains("\"jetstream\":true"))
            {
                return;
            }
        }
        assert!(Instant::now() < deadline, "nats-server did not start on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn event(id: &str, data: &str) -> Event {
    event_at(id, data, herald_core::retention::now_ms())
}

fn event_at(id: &str, data: &str, published_ms: u64) -> Event {
    let update = Update { topics: vec!["t".into()], data: data.into(), ..Default::default() };
    Event::new(0, Arc::from(id), published_ms, update).unwrap()
}

fn append(log: &NatsLog, events: &[Event], retention: &Retention) -> Vec<u64> {
    log.append(events, retention, herald_core::retention::now_ms()).unwrap()
}

fn datas(events: &[Arc<Event>]) -> Vec<&str> {
    events.iter().map(|e| e.data.as_str()).collect()
}

fn seqs(events: &[Arc<Event>]) -> Vec<u64> {
    events.iter().map(|e| e.seq).collect()
}

/// Polls `check` until it holds or the deadline passes.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn positions_increase_and_reads_agree() {
    let server = Server::start();
    let log = NatsLog::connect_with(&server.url("agree"), &UNLIMITED).unwrap();
    assert!(log.describe().contains("agree") && log.describe().contains(&server.port.to_string()));
    assert_eq!(log.last_position().unwrap(), 0);
    assert!(log.read_last(10).unwrap().is_empty());
    assert!(log.read_after(0, 10, NOW).unwrap().is_empty());
    let mut positions = Vec::new();
    for i in 0..4 {
        positions.extend(append(&log, &[event(&format!("id{i}"), &i.to_string())], &UNLIMITED));
    }
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{positions:?}");
    let all = log.read_after(0, 100, NOW).unwrap();
    assert_eq!(datas(&all), ["0", "1", "2", "3"]);
    assert_eq!(seqs(&all), positions);
    assert_eq!(datas(&log.read_after(positions[1], 100, NOW).unwrap()), ["2", "3"]);
    assert_eq!(datas(&log.read_after(positions[1], 1, NOW).unwrap()), ["2"]);
    assert!(log.read_after(positions[3], 100, NOW).unwrap().is_empty());
    let last = log.read_last(2).unwrap();
    assert_eq!(datas(&last), ["2", "3"]);
    assert_eq!(seqs(&last), positions[2..]);
    assert_eq!(datas(&log.read_last(100).unwrap()), ["0", "1", "2", "3"]);
    assert_eq!(log.last_position().unwrap(), positions[3]);
    assert_eq!(log.position_of("id2").unwrap(), Some(positions[2]));
    assert_eq!(log.position_of("nope").unwrap(), None);
    let footprint = log.footprint().expect("a new stream's footprint is known");
    assert_eq!(footprint.events, 4);
    assert!(footprint.bytes > 0);
    // A waiting read from the start answers at once with what is stored.
    let waited = log.read_after(0, 100, Duration::from_secs(5)).unwrap();
    assert_eq!(seqs(&waited), positions);

    // Another node sees the same positions.
    let other = NatsLog::connect(&server.url("agree")).unwrap();
    assert_eq!(seqs(&other.read_after(0, 100, NOW).unwrap()), positions);
    assert_eq!(other.last_position().unwrap(), positions[3]);
}

#[test]
fn a_multi_event_append_is_one_message_in_order() {
    let server = Server::start();
    let log = NatsLog::connect_with(&server.url("multi"), &UNLIMITED).unwrap();
    let first = append(&log, &[event("solo", "solo")], &UNLIMITED);
    let batch: Vec<Event> = (0..5).map(|i| event(&format!("b{i}"), &format!("b{i}"))).collect();
    let positions = append(&log, &batch, &UNLIMITED);
    let next = append(&log, &[event("after", "after")], &UNLIMITED);
    let seq = positions[0] >> 20;
    assert_eq!(seq, (first[0] >> 20) + 1, "the batch is the message after the first");
    assert_eq!(positions, (0..5).map(|i| (seq << 20) | i).collect::<Vec<_>>(), "one message, indices in order");
    assert_eq!(next[0] >> 20, seq + 1, "the next append is the next message");
    let all = log.read_after(first[0], 100, NOW).unwrap();
    assert_eq!(datas(&all), ["b0", "b1", "b2", "b3", "b4", "after"]);
    // Resuming inside the message gives the rest of it.
    assert_eq!(datas(&log.read_after(positions[2], 100, NOW).unwrap()), ["b3", "b4", "after"]);
    assert_eq!(datas(&log.read_last(3).unwrap()), ["b3", "b4", "after"]);
    assert_eq!(log.footprint().map(|f| f.events), Some(7));
}

#[test]
fn reused_ids_resolve_to_the_earliest() {
    let server = Server::start();
    let log = NatsLog::connect_with(&server.url("ids"), &UNLIMITED).unwrap();
    let a = append(&log, &[event("a", "1"), event("b", "2"), event("a", "3")], &UNLIMITED);
    let again = append(&log, &[event("a", "4")], &UNLIMITED);
    assert_eq!(log.position_of("a").unwrap(), Some(a[0]));
    assert_eq!(log.position_of("b").unwrap(), Some(a[1]));
    assert!(again[0] > a[2]);
    // Ids of any characters.
    let odd = "urn:uuid:ä/b?c=d e.f*>";
    let p = append(&log, &[event(odd, "odd")], &UNLIMITED);
    assert_eq!(log.position_of(odd).unwrap(), Some(p[0]));
}

#[test]
fn retention_by_message_count_trims_and_forgets_ids() {
    let server = Server::start();
    let two = Retention { max_events: Some(2), ..UNLIMITED };
    let log = NatsLog::connect_with(&server.url("count"), &two).unwrap();
    let mut positions = Vec::new();
    for i in 0..4 {
        positions.extend(append(&log, &[event(&format!("c{i}"), &i.to_string())], &two));
    }
    assert_eq!(datas(&log.read_after(0, 100, NOW).unwrap()), ["2", "3"]);
    assert_eq!(log.position_of("c0").unwrap(), None, "a trimmed event's id resolves to nothing");
    assert_eq!(log.position_of("c3").unwrap(), Some(positions[3]));
    // The limit counts messages: a message of three events is kept whole.
    append(&log, &[event("m0", "m0"), event("m1", "m1"), event("m2", "m2")], &two);
    assert_eq!(datas(&log.read_after(0, 100, NOW).unwrap()), ["3", "m0", "m1", "m2"]);
    assert_eq!(log.footprint().map(|f| f.events), Some(4));
    // A reused id whose earlier event was trimmed resolves to the retained one.
    let reused = append(&log, &[event("c0", "c0 again")], &two);
    assert_eq!(log.position_of("c0").unwrap(), Some(reused[0]));
    // Loosening the limit is applied to the stream.
    append(&log, &[event("x", "x")], &UNLIMITED);
    append(&log, &[event("y", "y")], &UNLIMITED);
    assert_eq!(datas(&log.read_after(0, 100, NOW).unwrap()), ["m0", "m1", "m2", "c0 again", "x", "y"]);
}

#[test]
fn retention_by_bytes_keeps_the_stream_under_its_limit() {
    let server = Server::start();
    let limit = 4_000;
    let small = Retention { max_bytes: Some(limit), ..UNLIMITED };
    let log = NatsLog::connect_with(&server.url("bytes"), &small).unwrap();
    let payload = "x".repeat(500);
    for i in 0..20 {
        append(&log, &[event(&format!("k{i}"), &payload)], &small);
    }
    let kept = log.read_after(0, 100, NOW).unwrap();
    assert!(!kept.is_empty() && kept.len() < 10, "{} kept", kept.len());
    assert_eq!(kept.last().unwrap().id.as_ref(), "k19");
    let footprint = log.footprint().unwrap();
    assert!(footprint.bytes <= limit, "{footprint:?}");
    assert_eq!(footprint.events, kept.len() as u64);
    assert_eq!(log.position_of("k0").unwrap(), None);
    assert!(log.position_of("k19").unwrap().is_some());
}

#[test]
fn retention_by_age_and_a_node_starting_after_everything_expired_misses_nothing() {
    let server = Server::start();
    let young = Retention { max_age: Some(Duration::from_secs(1)), ..UNLIMITED };
    let url = server.url("age");
    let log = NatsLog::connect_with(&url, &young).unwrap();
    // An event already older than the limit is stored (in a fresh message) but never read.
    let old = herald_core::retention::now_ms() - 10_000;
    let positions = append(&log, &[event_at("old", "old", old), event("new", "new")], &young);
    assert_eq!(datas(&log.read_after(0, 10, NOW).unwrap()), ["new"]);
    assert_eq!(datas(&log.read_last(10).unwrap()), ["new"]);
    eventually("the stream drops the message once it is a second old", || {
        log.read_after(0, 10, NOW).unwrap().is_empty()
    });
    assert_eq!(log.position_of("new").unwrap(), None);
    let last = log.last_position().unwrap();
    assert_eq!(last, ((positions[0] >> 20) << 20) | 0xFFFFF, "past every event of the removed message");
    assert!(last > positions[1]);

    // A node starting now follows from there on and gets the next append.
    let starting = NatsLog::connect(&url).unwrap();
    assert_eq!(starting.last_position().unwrap(), last);
    assert!(starting.read_last(10).unwrap().is_empty());
    let next = append(&log, &[event("next", "next")], &young);
    assert!(next[0] > last);
    let read = starting.read_after(last, 10, Duration::from_secs(5)).unwrap();
    assert_eq!(datas(&read), ["next"]);
}

#[test]
fn a_foreign_message_on_the_subject_is_skipped() {
    let server = Server::start();
    let log = NatsLog::connect_with(&server.url("foreign"), &UNLIMITED).unwrap();
    let before = append(&log, &[event("a", "a")], &UNLIMITED);
    server.publish_raw("herald.foreign", b"\x01\xff\xff\xff\xffgarbage");
    assert_eq!(log.last_position().unwrap(), (((before[0] >> 20) + 1) << 20) | 0xFFFFF, "a foreign last message");
    server.publish_raw("herald.foreign", b"not herald at all");
    let after = append(&log, &[event("b", "b")], &UNLIMITED);
    assert_eq!(after[0] >> 20, (before[0] >> 20) + 3, "the foreign messages took two sequences");
    assert_eq!(datas(&log.read_after(0, 10, NOW).unwrap()), ["a", "b"]);
    assert_eq!(datas(&log.read_after(0, 10, Duration::from_secs(2)).unwrap()), ["a", "b"]);
    assert_eq!(datas(&log.read_last(10).unwrap()), ["a", "b"]);
    assert_eq!(log.last_position().unwrap(), after[0]);
}

#[test]
fn a_waiting_read_returns_as_soon_as_another_node_appends() {
    let server = Server::start();
    let url = server.url("wait");
    let follower = Arc::new(NatsLog::connect_with(&url, &UNLIMITED).unwrap());
    let writer = NatsLog::connect_with(&url, &UNLIMITED).unwrap();
    let first = append(&writer, &[event("first", "first")], &UNLIMITED);
    let mut after = first[0];
    // Nothing new: the read waits its whole time and answers nothing.
    let started = Instant::now();
    assert!(follower.read_after(after, 10, Duration::from_millis(300)).unwrap().is_empty());
    assert!(started.elapsed() >= Duration::from_millis(250));
    for round in 0..3 {
        let reading = {
            let follower = follower.clone();
            std::thread::spawn(move || {
                let started = Instant::now();
                let events = follower.read_after(after, 10, Duration::from_secs(10));
                (events, started.elapsed())
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let appended = append(&writer, &[event(&format!("r{round}"), &format!("r{round}"))], &UNLIMITED);
        let (events, took) = reading.join().unwrap();
        let events = events.unwrap();
        assert_eq!(datas(&events), [format!("r{round}")]);
        assert_eq!(seqs(&events), appended);
        assert!(took < Duration::from_secs(3), "returned after {took:?}, long before the 10 s wait");
        after = appended[0];
    }
    // A batch larger than the limit comes in pages, continuing where each ended.
    let batch: Vec<Event> = (0..5).map(|i| event(&format!("p{i}"), &format!("p{i}"))).collect();
    let positions = append(&writer, &batch, &UNLIMITED);
    let page = follower.read_after(after, 3, Duration::from_secs(5)).unwrap();
    assert_eq!(seqs(&page), positions[..3]);
    let page = follower.read_after(positions[2], 3, Duration::from_secs(5)).unwrap();
    assert_eq!(seqs(&page), positions[3..]);
    // A jump back starts over from there.
    let again = follower.read_after(first[0], 100, Duration::from_secs(5)).unwrap();
    assert_eq!(again.len(), 8);
}

#[test]
fn a_lost_server_fails_calls_quickly_and_the_log_works_again_after_it_restarts() {
    let mut server = Server::start();
    let log = NatsLog::connect_with(&server.url("lost"), &UNLIMITED).unwrap();
    let before = append(&log, &[event("a", "before")], &UNLIMITED);
    assert_eq!(datas(&log.read_after(0, 10, Duration::from_secs(1)).unwrap()), ["before"]);
    server.kill();

    let started = Instant::now();
    let failed = log.append(&[event("b", "lost")], &UNLIMITED, 0);
    assert!(matches!(failed, Err(StoreError::Unreachable { .. })), "{failed:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "append failed after {:?}", started.elapsed());
    let started = Instant::now();
    let failed = log.read_after(before[0], 10, Duration::from_secs(1));
    assert!(matches!(failed, Err(StoreError::Unreachable { .. })), "{failed:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "read failed after {:?}", started.elapsed());
    let failed = log.read_after(0, 10, NOW);
    assert!(matches!(failed, Err(StoreError::Unreachable { .. })), "{failed:?}");
    let message = failed.unwrap_err().to_string();
    assert!(message.contains(&format!("127.0.0.1:{}", server.port)), "{message}");

    server.restart();
    let mut after = Vec::new();
    eventually("appending works again once the server is back", || {
        match log.append(&[event("c", "after")], &UNLIMITED, 0) {
            Ok(positions) => {
                after = positions;
                true
            }
            Err(StoreError::Unreachable { .. }) => false,
            Err(e) => panic!("{e}"),
        }
    });
    assert!(after[0] > before[0]);
    // The append that failed may still have landed (the client resends what it had buffered
    // once it reconnects, like any write whose acknowledgement was lost); nothing else changed.
    let all = log.read_after(0, 10, NOW).unwrap();
    let all: Vec<&str> = datas(&all).into_iter().filter(|data| *data != "lost").collect();
    assert_eq!(all, ["before", "after"]);
    let mut followed = Vec::new();
    eventually("the follower reads again", || match log.read_after(before[0], 10, Duration::from_secs(1)) {
        Ok(events) => {
            followed = events;
            !followed.is_empty()
        }
        Err(_) => false,
    });
    assert_eq!(datas(&followed).last(), Some(&"after"));
    assert_eq!(log.position_of("a").unwrap(), Some(before[0]));
}

#[test]
fn connecting_to_a_port_without_a_server_fails_naming_the_url() {
    let port = free_port();
    let url = format!("nats://127.0.0.1:{port}?stream=none");
    let started = Instant::now();
    let error = NatsLog::connect(&url).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(
        matches!(&error, StoreError::Unreachable { engine, .. } if engine.contains(&format!("127.0.0.1:{port}"))),
        "{error:?}"
    );
    assert!(error.to_string().contains(&format!("nats://127.0.0.1:{port}")), "{error}");
    // A password never shows.
    let error = NatsLog::connect(&format!("nats://me:hunter2@127.0.0.1:{port}")).unwrap_err();
    assert!(!error.to_string().contains("hunter2") && !format!("{error:?}").contains("hunter2"), "{error:?}");
}

#[test]
fn a_server_without_jetstream_is_refused_saying_to_start_it_with_js() {
    let server = Server::start_without_jetstream();
    let error = NatsLog::connect(&server.url("nojs")).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    assert!(message.contains("JetStream is not enabled") && message.contains("-js"), "{message}");
}

#[test]
fn malformed_urls_and_unknown_parameters_are_refused_with_the_form() {
    for (url, says) in [
        ("127.0.0.1:4222", "nats://"),
        ("nats://", "no host"),
        ("redis://127.0.0.1:6379", "scheme"),
        ("nats://127.0.0.1:4222?stream=bad.name", "not valid"),
        ("nats://127.0.0.1:4222?streams=x", "unknown parameter \"streams\""),
        ("nats://127.0.0.1:99999", "malformed"),
    ] {
        let error = NatsLog::connect(url).unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, StoreError::Io { .. }), "{url}: {error:?}");
        assert!(message.contains(says), "{url}: {message}");
        assert!(message.contains("nats://HOST:PORT[?stream=NAME]"), "{url}: {message}");
    }
}

#[test]
fn an_append_over_max_payload_fails_saying_what_to_raise() {
    let server = Server::start_with("max_payload: 8192\n");
    let log = NatsLog::connect_with(&server.url("payload"), &UNLIMITED).unwrap();
    let budget = log.max_append_bytes().unwrap();
    assert!(budget < 8192 && budget > 1000, "{budget}");
    // What the hub would commit at most fits.
    let fits: Vec<Event> = (0..10).map(|i| event(&format!("f{i}"), &"x".repeat(budget / 20 - 20))).collect();
    assert!(fits.iter().map(Event::size).sum::<usize>() <= budget);
    append(&log, &fits, &UNLIMITED);
    let big = [event("big", &"x".repeat(10_000))];
    let error = log.append(&big, &UNLIMITED, 0).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, StoreError::Io { .. }), "{error:?}");
    assert!(message.contains("max_payload is 8192") && message.contains("raise max_payload"), "{message}");
    assert!(message.contains("the batch is 10"), "{message}");
    assert_eq!(log.read_after(0, 100, NOW).unwrap().len(), 10, "nothing of the refused batch was stored");
}

fn t() -> Vec<Matcher> {
    vec![Matcher::exact("t").unwrap()]
}

#[test]
fn two_hubs_on_one_stream_deliver_every_event_once_in_order_and_resume_across_nodes() {
    let server = Server::start();
    let url = server.url("cluster");
    let config = HubConfig { cache_size: 2, ..HubConfig::default() };
    let hub_a = Hub::with_shared_log(config.clone(), Arc::new(NatsLog::connect(&url).unwrap())).unwrap();
    let hub_b = Hub::with_shared_log(config, Arc::new(NatsLog::connect(&url).unwrap())).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let mut live = hub_b.subscribe(t(), ReadAccess::public_only(), None).await.unwrap();
        let mut ids = Vec::new();
        for i in 0..6 {
            let published = hub_a.publish(Update::new("t", i.to_string())).await.unwrap();
            ids.push(published.id.to_string());
        }
        let mut received = Vec::new();
        while received.len() < 6 {
            let event = tokio::time::timeout(Duration::from_secs(10), live.recv()).await.unwrap().unwrap();
            received.push((event.id.to_string(), event.data.clone()));
        }
        let expected: Vec<(String, String)> = ids.iter().cloned().zip((0..6).map(|i| i.to_string())).collect();
        assert_eq!(received, expected, "every event once, in order, with A's ids");
        let mut more = Vec::new();
        tokio::time::sleep(Duration::from_millis(300)).await;
        live.try_recv_many(&mut more, 100).unwrap();
        assert!(more.is_empty(), "nothing twice: {more:?}");

        // Resuming on B from an id A gave: exactly what came after (beyond B's 2 cached).
        let mut resumed =
            hub_b.subscribe(t(), ReadAccess::public_only(), Some(Cursor::After(ids[1].clone()))).await.unwrap();
        assert_eq!(resumed.resumed_from(), Some(ids[1].as_str()));
        let mut got = Vec::new();
        while got.len() < 4 {
            let event = tokio::time::timeout(Duration::from_secs(10), resumed.recv()).await.unwrap().unwrap();
            got.push(event.data.clone());
        }
        assert_eq!(got, ["2", "3", "4", "5"]);
        // And B's own publish reaches A's side too.
        let mut on_a = hub_a.subscribe(t(), ReadAccess::public_only(), None).await.unwrap();
        hub_b.publish(Update::new("t", "from b")).await.unwrap();
        let event = tokio::time::timeout(Duration::from_secs(10), on_a.recv()).await.unwrap().unwrap();
        assert_eq!(event.data, "from b");
    });
    drop(hub_a);
    drop(hub_b);
}

#[test]
fn the_log_works_and_fails_cleanly_when_called_from_inside_an_async_task() {
    let server = Server::start();
    let url = server.url("inside");
    let nowhere = format!("nats://127.0.0.1:{}", free_port());
    let current = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let multi = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    for (name, runtime) in [("current-thread", &current), ("multi-thread", &multi)] {
        runtime.block_on(async {
            // Opening (a server starting the hub does it in an async task) and failing to open.
            let log = NatsLog::connect_with(&url, &UNLIMITED).unwrap();
            let positions = append(&log, &[event(name, name)], &UNLIMITED);
            assert_eq!(log.position_of(name).unwrap(), Some(positions[0]));
            assert_eq!(log.last_position().unwrap(), positions[0]);
            let error = NatsLog::connect(&nowhere).unwrap_err();
            assert!(matches!(error, StoreError::Unreachable { .. }), "{name}: {error:?}");
            drop(log);
        });
    }
}
