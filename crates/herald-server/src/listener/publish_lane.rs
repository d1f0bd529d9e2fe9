//! A runtime of its own for the connections that publish.
//!
//! Under a burst, every event wakes the tasks of thousands of subscribers on the main runtime. A
//! publisher's connection task woken among them (to read its next request, or to send its
//! answer) waits in the same run queues for all of them to write first: a publisher that waits
//! for each answer, as a backend with one worker does, then gets a few publishes per second.
//! Connections whose first request is a publish (a `POST` on the hub over cleartext HTTP/1.1,
//! whose head the listener reads itself, `sniff.rs`) are therefore served on this small runtime,
//! which runs nothing else, so a publish is never queued behind the fan-out. The fan-out itself
//! happens on the hub's fan-out thread and the subscribers' tasks.
//!
//! Its thread runs at `--publish-nice` (see `herald_core::priority`), so that it also gets its
//! turn on a core ahead of the subscribers' writes. The runtime is started on first use and
//! lives as long as the process. If it cannot be started, publishing connections stay on the
//! main runtime.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

/// Threads of the publishing runtime: publishing connections mostly wait for the store's writer,
/// so one is enough, and it stays off the cores the fan-out needs.
const THREADS: usize = 1;

/// The publishing runtime, started on first use with its threads at nice value `nice`; `None` if
/// it could not be started.
pub(super) fn runtime(nice: i32) -> Option<&'static Runtime> {
    static LANE: OnceLock<Option<Runtime>> = OnceLock::new();
    LANE.get_or_init(|| {
        let built = Builder::new_multi_thread()
            .worker_threads(THREADS)
            .thread_name("herald-publish")
            .on_thread_start(move || herald_core::priority::set_publish_thread_nice(nice))
            .enable_all()
            .build();
        match built {
            Ok(runtime) => Some(runtime),
            Err(e) => {
                tracing::warn!("publishing shares the main runtime: cannot start its own ({e})");
                None
            }
        }
    })
    .as_ref()
}
