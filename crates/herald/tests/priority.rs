//! End to end: the threads a publisher waits on (the store's writer, the publishing
//! connections' runtime) run at `--publish-nice`, and the others at the process's priority.
#![cfg(target_os = "linux")]

mod common;

use common::TestHub;

/// Each thread of process `pid`: its name and nice value, from `/proc`.
fn threads(pid: u32) -> Vec<(String, i32)> {
    let mut found = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("the hub's threads are listed") {
        let path = task.expect("a thread's entry").path();
        let (Ok(name), Ok(stat)) =
            (std::fs::read_to_string(path.join("comm")), std::fs::read_to_string(path.join("stat")))
        else {
            continue; // the thread ended meanwhile
        };
        // The fields after the parenthesized name: state is the first, nice the 17th.
        let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let nice = after_name.split_whitespace().nth(16).and_then(|n| n.parse().ok()).expect("a nice field");
        found.push((name.trim().to_owned(), nice));
    }
    found
}

#[tokio::test]
async fn the_writer_and_the_publishing_runtime_run_at_the_publish_nice_value_and_nothing_else_does() {
    // Lowering a priority is allowed to anyone, so the test runs anywhere; raising is the
    // default's (−10), which needs a privilege.
    let hub = TestHub::start(&["--store", "disk", "--publish-nice", "7"]).await;
    // A publish starts the publishing runtime and gives the writer its work.
    hub.publish("/priority", "hello").await;
    let threads = threads(hub.pid());
    for name in ["herald-writer", "herald-publish"] {
        let nice: Vec<i32> = threads.iter().filter(|(n, _)| n == name).map(|(_, nice)| *nice).collect();
        assert!(!nice.is_empty(), "no {name} thread among {threads:?}");
        assert!(nice.iter().all(|n| *n == 7), "{name} runs at {nice:?}, not 7");
    }
    // The process's own priority, as its main thread has it.
    let process = threads.iter().find(|(n, _)| n == "herald").map(|(_, nice)| *nice).expect("the main thread");
    let workers: Vec<&(String, i32)> = threads.iter().filter(|(n, _)| n.starts_with("tokio-rt")).collect();
    assert!(!workers.is_empty(), "no runtime worker among {threads:?}");
    assert!(workers.iter().all(|(_, nice)| *nice == process), "the fan-out's workers changed priority: {workers:?}");
}

#[tokio::test]
async fn an_out_of_range_publish_nice_value_is_refused_at_start_with_its_range() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let stderr =
        TestHub::try_start_in(dir.path(), &["--publish-nice", "25"]).await.err().expect("the hub refuses to start");
    assert!(stderr.contains("--publish-nice") && stderr.contains("-20..=19"), "{stderr}");
}
