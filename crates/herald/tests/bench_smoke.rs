//! The load generator against the built binary: small runs over SSE, WebSocket and long-polling
//! must see every message exactly once and in order. No timing is asserted.

mod common;

use std::time::Duration;

use common::TestHub;
use herald_bench::{BenchConfig, Report, Target, Transport};

async fn burst(hub: &TestHub, transport: Transport) -> Report {
    let mut config = BenchConfig::new(Target::Herald, transport, hub.base.as_str());
    config.subscribers = 100;
    config.topics = 3;
    config.messages = 60;
    config.publishers = 3;
    config.settle = Duration::from_millis(100);
    config.drain_timeout = Duration::from_secs(10);
    let report = herald_bench::run(&config).await.expect("the run completes");
    eprintln!("{}", report.table());
    report
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
