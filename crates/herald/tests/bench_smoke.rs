//! The load generator against the built binary: small runs over SSE, WebSocket, long-polling and
//! Bayeux (over a WebSocket and long-polling) must see every message exactly once and in order.
//! No timing is asserted.

mod common;

use std::time::Duration;

use common::TestHub;
use herald_bench::{BenchConfig, Report, Target, Transport};

/// A small burst: 100 subscribers on 3 topics, 60 messages from 3 publishers.
fn small(hub: &TestHub, transport: Transport) -> BenchConfig {
    let mut config = BenchConfig::new(Target::Herald, transport, hub.base.as_str());
    config.subscribers = 100;
    config.topics = 3;
    config.messages = 60;
    config.publishers = 3;
    config.settle = Duration::from_millis(100);
    config.drain_timeout = Duration::from_secs(10);
    config
}

async fn run(config: &BenchConfig) -> Report {
    let report = herald_bench::run(config).await.expect("the run completes");
    eprintln!("{}", report.table());
    report
}

async fn burst(hub: &TestHub, transport: Transport) -> Report {
    run(&small(hub, transport)).await
}

fn assert_clean(report: &Report) {
    assert_eq!(report.connected, 100, "{:?}", report.first_error);
    assert_eq!(report.published, 60);
    assert_eq!(report.deliveries, report.expected_deliveries);
    assert_eq!(report.expected_deliveries, 2000); // 100 subscribers × 20 messages per topic
    assert_eq!((report.lost, report.duplicated, report.reordered), (0, 0, 0));
    assert!(report.is_clean(), "{:?}", report.first_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_and_websocket_bursts_arrive_once_and_in_order() {
    let hub = TestHub::start(&["--store", "memory"]).await;
    assert_clean(&burst(&hub, Transport::Sse).await);
    assert_clean(&burst(&hub, Transport::Ws).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polling_burst_arrives_once_and_in_order() {
    let hub = TestHub::start(&["--store", "memory"]).await;
    assert_clean(&burst(&hub, Transport::LongPoll).await);
}

/// A Bayeux burst at `/cometd`: 20 subscribers on `/bench/t0`, 50 messages from one publisher.
async fn bayeux_burst(hub: &TestHub, transport: Transport) {
    let mut config = BenchConfig::new(Target::Herald, transport, hub.base.as_str());
    assert_eq!(config.topic_prefix, "/bench/t", "Bayeux topics are channels");
    config.subscribers = 20;
    config.messages = 50;
    config.publishers = 1;
    config.settle = Duration::from_millis(100);
    config.drain_timeout = Duration::from_secs(10);
    let report = run(&config).await;
    assert_eq!(report.connected, 20, "{:?}", report.first_error);
    assert_eq!((report.published, report.publish_failures), (50, 0), "{:?}", report.first_error);
    assert_eq!((report.deliveries, report.expected_deliveries), (1000, 1000));
    assert_eq!((report.lost, report.duplicated, report.reordered, report.foreign), (0, 0, 0, 0));
    assert!(report.is_clean(), "{:?}", report.first_error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bayeux_bursts_arrive_once_and_in_order() {
    let hub = TestHub::start(&["--store", "memory"]).await;
    bayeux_burst(&hub, Transport::BayeuxWs).await;
    bayeux_burst(&hub, Transport::BayeuxLongPoll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_only_counts_every_durable_publish() {
    let hub = TestHub::start(&["--store", "disk"]).await;
    let mut config = BenchConfig::new(Target::Herald, Transport::Sse, hub.base.as_str());
    config.publish_only = true;
    config.subscribers = 0;
    config.messages = 200;
    config.publishers = 8;
    config.settle = Duration::ZERO;
    let report = run(&config).await;
    assert_eq!((report.published, report.publish_failures), (200, 0), "{:?}", report.first_error);
    assert!(report.publishes_per_second > 0.0 && report.publish_ack.is_some());
    assert_eq!(report.deliveries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_publishes_arrive_once_and_in_order() {
    let hub = TestHub::start(&["--store", "disk"]).await;
    let mut config = small(&hub, Transport::Sse);
    // 20 messages for each of the 3 publishers, in batches of 7: the last of each is shorter.
    config.batch = 7;
    let report = run(&config).await;
    assert_clean(&report);
    assert!(report.publish_ack.is_some(), "each message acknowledged with its batch");
}

/// `bench/storm.sh` end to end, small: SSE subscribers on the disk store through a graceful
/// restart (SIGTERM, drain, exit, start again), each reconnecting with `Last-Event-ID`, one
/// publisher retrying through it with ids (the hub deduplicates): every subscriber is back and
/// every message arrives exactly once, in order.
#[test]
fn a_restart_under_subscribers_loses_and_repeats_nothing() {
    let out = tempfile::tempdir().expect("a temporary directory");
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../bench/storm.sh");
    let status = std::process::Command::new("bash")
        .arg(script)
        .env("HERALD_BIN", env!("CARGO_BIN_EXE_herald"))
        .env("STORM_SUBS", "300")
        .env("STORM_RATE", "20")
        .env("STORM_DRAIN", "1s")
        .env("STORM_BEFORE", "2s")
        .env("STORM_AFTER", "4s")
        .env("STORM_OUT", out.path())
        .status()
        .expect("bash runs the storm script");
    assert!(status.success(), "the storm script failed");
    let text = std::fs::read_to_string(out.path().join("storm.json")).expect("the storm script wrote its report");
    let report: serde_json::Value = serde_json::from_str(&text).expect("the report is JSON");
    let count = |name: &str| report[name].as_u64().unwrap_or_else(|| panic!("{name} in {report}"));
    assert_eq!(count("subscribers_without_outage"), 0, "every stream was ended by the restart");
    assert_eq!(count("not_back"), 0, "every subscriber came back: {report}");
    assert_eq!(count("outages"), 300);
    assert_eq!(count("publish_failures"), 0);
    assert_eq!(count("published"), 120); // 20 per second for 2 + 4 seconds
    assert_eq!(count("deliveries"), 300 * 120);
    assert_eq!((count("lost"), count("duplicated"), count("reordered")), (0, 0, 0), "{report}");
}
