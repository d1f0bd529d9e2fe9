//! Thread priority for the threads a publisher waits on: the store's writer here, and the
//! publishing connections' runtime in the server.
//!
//! Under a burst, the fan-out keeps every core busy writing to thousands of subscribers, and a
//! publish is answered only once the writer thread and then the publisher's connection thread
//! each got a turn on a core. Run at the process's priority, such a turn can come a few
//! milliseconds late, every time. A lower nice value for these few threads (`--publish-nice`,
//! −10 by default) lets the scheduler give them their turn first; they use little CPU, so the
//! fan-out loses nothing measurable. Raising a priority needs `CAP_SYS_NICE` or a nice limit
//! that allows it (`RLIMIT_NICE`; systemd's `LimitNICE=`): without either, the threads keep
//! the process's priority and the hub says so once, when the first of them starts.

use std::sync::atomic::{AtomicBool, Ordering};

/// The nice value the threads that answer publishes run at unless configured otherwise.
pub const DEFAULT_PUBLISH_NICE: i32 = -10;

/// Gives the calling thread nice value `nice` (−20, most favoured, to 19), unless it has it
/// already. When that is refused, says so once per process (at `info`: the hub works as
/// before, only its acknowledgements under load are slower) and leaves the priority as it is.
pub fn set_publish_thread_nice(nice: i32) {
    static REFUSAL_REPORTED: AtomicBool = AtomicBool::new(false);
    if let Err(e) = set_current_thread_nice(nice) {
        if !REFUSAL_REPORTED.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "the threads that answer publishes keep the process's priority: nice {nice} was refused ({e}); \
                 allow it with CAP_SYS_NICE or a nice limit (systemd: LimitNICE={nice}), or set --publish-nice 0"
            );
        }
    }
}

/// Sets the calling thread's nice value (Linux: each thread has its own).
#[cfg(target_os = "linux")]
pub fn set_current_thread_nice(nice: i32) -> std::io::Result<()> {
    if current_thread_nice()? == nice {
        return Ok(());
    }
    rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice)?;
    Ok(())
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
fn current_thread_nice() -> std::io::Result<i32> {
    Ok(rustix::process::getpriority_process(Some(rustix::thread::gettid()))?)
}

/// Sets the calling thread's nice value: not available on this system.
#[cfg(not(target_os = "linux"))]
pub fn set_current_thread_nice(_nice: i32) -> std::io::Result<()> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "per-thread priorities are Linux-only"))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn a_thread_lowered_has_its_own_nice_value_and_the_others_keep_theirs() {
        let before = current_thread_nice().unwrap();
        // Lowering a priority is always allowed, so this runs anywhere.
        let lowered = (before + 3).min(19);
        let inside = std::thread::spawn(move || {
            set_publish_thread_nice(lowered);
            current_thread_nice().unwrap()
        })
        .join()
        .unwrap();
        assert_eq!(inside, lowered);
        assert_eq!(current_thread_nice().unwrap(), before);
    }

    #[test]
    fn a_refused_priority_leaves_the_thread_as_it_was() {
        std::thread::spawn(|| {
            let before = current_thread_nice().unwrap();
            let raised = set_current_thread_nice(-20);
            set_publish_thread_nice(-20);
            let after = current_thread_nice().unwrap();
            // Where raising is allowed (root), it took effect; elsewhere nothing changed.
            match raised {
                Ok(()) => assert_eq!(after, -20),
                Err(_) => assert_eq!(after, before),
            }
        })
        .join()
        .unwrap();
    }
}
