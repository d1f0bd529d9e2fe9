//! Starting the real `herald` binary for end-to-end tests, and talking to it over HTTP.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use herald_testkit::HubClient;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

/// A running hub on a free loopback port; killed when dropped.
pub(crate) struct TestHub {
    child: Child,
    /// A client of the hub (its URLs, publishing, event sources); the hub derefs to it.
    pub hub_client: HubClient,
    /// The line the hub printed when it started listening (its addresses).
    pub banner: String,
    /// The hub's data directory, when the hub owns a temporary one.
    _data: Option<tempfile::TempDir>,
}

impl TestHub {
    /// The hub's `/metrics`, as text.
    pub(crate) async fn metrics(&self) -> String {
        let url = self.base.join("/metrics").expect("the metrics path joins");
        self.client.get(url).send().await.expect("GET /metrics").text().await.expect("the metrics text")
    }

    /// Starts `herald serve` with the demo clock off, plus `args`.
    pub(crate) async fn start(args: &[&str]) -> Self {
        Self::start_with(&["--no-demo-clock"], args).await
    }

    /// Starts `herald serve` with exactly `base_args` and `args`, on a fresh data directory.
    pub(crate) async fn start_with(base_args: &[&str], args: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("a temporary directory");
        let mut hub = Self::start_in(data.path(), &[base_args, args].concat()).await;
        hub._data = Some(data);
        hub
    }

    /// Starts `herald serve --no-demo-clock` with `args` on the data directory `dir`.
    pub(crate) async fn start_in(dir: &std::path::Path, args: &[&str]) -> Self {
        Self::try_start_in(dir, args).await.unwrap_or_else(|stderr| panic!("herald did not start: {stderr}"))
    }

    /// Like [`TestHub::start_in`], but returns what the hub printed when it exits instead.
    pub(crate) async fn try_start_in(dir: &std::path::Path, args: &[&str]) -> Result<Self, String> {
        // The demo publishers would add their events to every history the tests look at: off,
        // unless the test sets a demo flag (`--demo-poker-pace`) or turns them off itself.
        let demo_off = args.iter().any(|a| *a == "--no-demo" || *a == "--no-demo-clock" || *a == "--demo-poker-pace");
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(if demo_off { None } else { Some("--no-demo") })
            .args(args)
            .env("HERALD_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the herald binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("herald prints its address within 30s")
            .expect("stdout is readable");
        let Some(line) = first else {
            let mut text = String::new();
            let _ = tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await;
            return Err(text);
        };
        // Pass the hub's logs through, so a failing test shows them.
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                eprintln!("[herald] {line}");
            }
        });
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") || w.starts_with("https://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"));
        // Keep draining stdout so the hub never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let hub_client = HubClient::new(Url::parse(url).expect("printed URL parses"));
        Ok(Self { child, hub_client, banner: line.clone(), _data: None })
    }

    /// The hub's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().expect("the hub is running")
    }

    /// Kills the hub with SIGKILL (no chance to flush anything) and waits for it to exit.
    pub(crate) async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Waiting with a limit, shared with the other suite; each test file uses what it needs.
#[allow(unused_imports)]
pub(crate) use herald_testkit::{take, within};

impl std::ops::Deref for TestHub {
    type Target = HubClient;

    fn deref(&self) -> &HubClient {
        &self.hub_client
    }
}

impl std::ops::DerefMut for TestHub {
    fn deref_mut(&mut self) -> &mut HubClient {
        &mut self.hub_client
    }
}
