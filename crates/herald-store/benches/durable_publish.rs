//! Durable publish throughput: N concurrent publishers on a hub backed by the disk store.
//!
//! Every publish returns only after its event is synced to disk; concurrent publishers share
//! syncs through the hub's group commit, which is what this measures (1, 16 and 64
//! publishers). Run with `cargo bench -p herald-store --bench durable_publish`; the figures
//! are in the README.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_main, Criterion, Throughput};
use herald_core::{Hub, HubConfig, Update};
use herald_store::DiskStore;

fn durable_publish(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(DiskStore::open(dir.path()).unwrap());
    let hub = Hub::with_store(HubConfig::default(), store).unwrap();
    let payload = "x".repeat(100);

    let mut group = c.benchmark_group("durable_publish");
    group.throughput(Throughput::Elements(1)).sample_size(10).measurement_time(Duration::from_secs(5));
    for publishers in [1u64, 16, 64] {
        group.bench_function(format!("{publishers}_publishers"), |b| {
            b.iter_custom(|events| {
                let per_publisher = events.div_ceil(publishers);
                let start = Instant::now();
                runtime.block_on(async {
                    let tasks: Vec<_> = (0..publishers)
                        .map(|_| {
                            let (hub, payload) = (hub.clone(), payload.clone());
                            tokio::spawn(async move {
                                for _ in 0..per_publisher {
                                    let update = Update {
                                        topics: vec!["https://example.com/bench".into()],
                                        data: payload.clone(),
                                        ..Default::default()
                                    };
                                    hub.publish(update).await.expect("durable publish");
                                }
                            })
                        })
                        .collect();
                    for task in tasks {
                        task.await.expect("publisher task");
                    }
                });
                // Time per event, counting the events actually published.
                start.elapsed().mul_f64(events as f64 / (per_publisher * publishers) as f64)
            });
        });
    }
    group.finish();
}

/// The benchmark group, in a module of its own: the macro defines a `pub fn` that cannot carry
/// a doc comment, and the allowance stays confined to it.
mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::durable_publish);
}
criterion_main!(group::benches);
