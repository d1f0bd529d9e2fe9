//! Starting the real `herald` binary for end-to-end tests, and talking to it over HTTP.
#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use herald_client::{EventSource, Publication};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use url::Url;

/// A running hub on a free loopback port; killed when dropped.
pub(crate) struct TestHub {
    child: Child,
    pub base: Url,
    pub client: reqwest::Client,
    /// The hub's data directory, when the hub owns a temporary one.
    _data: Option<tempfile::TempDir>,
}

impl TestHub {
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
        let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
            .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
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
        Ok(Self {
            child,
            base: Url::parse(url).expect("printed URL parses"),
            client: reqwest::Client::new(),
            _data: None,
        })
    }

    pub(crate) fn hub_url(&self) -> Url {
        self.base.join("/.well-known/mercure").expect("hub path joins")
    }

    /// The subscription URL for `params` (name, value) pairs.
    pub(crate) fn subscribe_url(&self, params: &[(&str, &str)]) -> Url {
        let mut url = self.hub_url();
        url.query_pairs_mut().extend_pairs(params);
        url
    }

    /// An [`EventSource`] on exact topics.
    pub(crate) fn event_source(&self, topics: &[&str]) -> EventSource {
        let params: Vec<_> = topics.iter().map(|t| ("match", *t)).collect();
        EventSource::new(self.subscribe_url(&params)).reconnect_delay(Duration::from_millis(50))
    }

    /// POSTs a raw form body; returns status and body text.
    pub(crate) async fn post_form(&self, body: impl Into<reqwest::Body>) -> (u16, String) {
        let response = self
            .client
            .post(self.hub_url())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("publish request completes");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body is text"))
    }

    /// Publishes `data` to `topic` and returns the id; panics on refusal.
    pub(crate) async fn publish(&self, topic: &str, data: &str) -> String {
        let update = Publication { topics: vec![topic.into()], data: data.into(), ..Default::default() };
        self.publish_update(&update).await
    }

    pub(crate) async fn publish_update(&self, update: &Publication) -> String {
        herald_client::publish(&self.client, &self.hub_url(), update).await.expect("publish accepted")
    }

    /// Kills the hub with SIGKILL (no chance to flush anything) and waits for it to exit.
    pub(crate) async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Awaits `future` for at most 10 s, so a missing event fails the test instead of hanging it.
pub(crate) async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future).await.expect("timed out after 10s")
}

/// Reads the next `n` events.
pub(crate) async fn take(source: &mut EventSource, n: usize) -> Vec<herald_client::Event> {
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(within(source.next()).await.expect("event source keeps running"));
    }
    events
}
