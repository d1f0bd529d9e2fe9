//! The naive hub under `herald bench`, small: every subscriber gets every update once, in order.

use std::time::Duration;

use herald_bench::{BenchConfig, Target, Transport};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_burst_arrives_once_and_in_order() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("its address"));
    tokio::spawn(async move { axum::serve(listener, naive_hub::app(naive_hub::DEFAULT_CAPACITY)).await });

    let mut config = BenchConfig::new(Target::Herald, Transport::Sse, base);
    config.subscribers = 300;
    config.topics = 3;
    config.messages = 90;
    config.publishers = 1;
    config.settle = Duration::from_millis(100);
    config.drain_timeout = Duration::from_secs(10);
    let report = herald_bench::run(&config).await.expect("the run completes");
    eprintln!("{}", report.table());
    assert_eq!(report.connected, 300, "{:?}", report.first_error);
    assert_eq!(report.published, 90);
    assert_eq!(report.expected_deliveries, 300 * 30);
    assert_eq!(report.deliveries, report.expected_deliveries);
    assert!(report.is_clean(), "{:?}", report.first_error);
}
