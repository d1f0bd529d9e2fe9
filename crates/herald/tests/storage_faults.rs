//! The data directory's disk filling up while the hub runs: publishes are refused with `503`
//! and nothing is half-published; once there is room again, publishing resumes by itself, and a
//! restart after `kill -9` finds every acknowledged event, and none of the refused ones.
//!
//! It mounts a small tmpfs, so it needs root: `cargo test -p herald --test storage_faults --
//! --ignored` (the test suite runs it when it runs as root).

mod common;

use std::path::Path;
use std::process::Command;

use common::{take, TestHub};
use herald_client::EventSource;

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status();
        assert!(status.is_ok_and(|s| s.success()), "mounting a tmpfs needs root");
        Self { dir }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(self.dir.path()).status();
        assert!(status.is_ok_and(|s| s.success()), "remounting the tmpfs");
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Hex of pseudo-random bytes: a payload the store cannot compress away.
fn payload(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len / 2)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{:02x}", x as u8)
        })
        .collect()
}

#[tokio::test]
#[ignore = "mounts a tmpfs: needs root"]
async fn a_full_disk_refuses_publishes_then_resumes_and_loses_nothing() {
    let disk = SmallDisk::mount("4m");
    let data = disk.path().join("data");
    let hub = TestHub::start_in(&data, &[]).await;
    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    let mut i = 0u64;
    let publish = |i: u64| format!("topic=t&id=e{i}&data={}", payload(i, 16 * 1024));
    // Fill the disk: the first refusal is a 503, and so is every publish while it stays full.
    while refused.len() < 3 {
        assert!(i < 5_000, "the disk never filled");
        let (status, body) = hub.post_form(publish(i)).await;
        match status {
            200 => acknowledged.push(format!("e{i}")),
            503 => refused.push(format!("e{i}")),
            other => panic!("unexpected {other}: {body}"),
        }
        assert!(status == 200 || body.contains("retry"), "{body}");
        i += 1;
    }
    assert!(!acknowledged.is_empty());
    // Room again: the next publishes are accepted, without a restart.
    disk.resize("64m");
    for _ in 0..5 {
        let (status, body) = hub.post_form(publish(i)).await;
        assert_eq!(status, 200, "publishing resumes once there is room: {body}");
        acknowledged.push(format!("e{i}"));
        i += 1;
    }
    hub.kill().await;

    let hub = TestHub::start_in(&data, &[]).await;
    let mut all = EventSource::new(hub.subscribe_url(&[("match", "t")])).last_event_id("earliest");
    let replayed: Vec<String> = take(&mut all, acknowledged.len()).await.into_iter().map(|e| e.id).collect();
    assert_eq!(replayed, acknowledged, "every acknowledged event, once, in order, and no refused one");
    for id in &refused {
        assert!(!replayed.contains(id), "{id} was refused but is in history");
    }
}
