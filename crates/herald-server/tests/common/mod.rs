//! An in-process hub for the integration tests: the real router and listener on a free loopback
//! port, served in the test's own runtime, with the same helpers as the binary's end-to-end
//! harness (`crates/herald/tests/common`), so a test reads the same against either.
//!
//! Metrics are process-wide (one Prometheus recorder), and tests in one file run in parallel in
//! one process: tests that read `/metrics` counters stay in the binary's suite.
#![allow(dead_code)]

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, FromArgMatches};
use futures_util::{SinkExt, StreamExt};
use herald_core::{Event, Retention, Store, StoreError};
use herald_server::{AppState, Listener, ServerConfig};
use herald_store::DiskStore;
use herald_testkit::HubClient;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use url::Url;

/// A WebSocket client connection to the hub.
pub(crate) type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Reads `herald serve`'s flags into a configuration, as the binary does but with the
/// environment ignored: `--addr 127.0.0.1:0 --data-dir <dir>`, then `args`.
pub(crate) fn config(dir: &Path, args: &[&str]) -> ServerConfig {
    let command = ServerConfig::augment_args(clap::Command::new("serve").no_binary_name(true))
        .mut_args(|arg| arg.env(None::<&str>));
    let mut argv: Vec<OsString> = vec!["--addr".into(), "127.0.0.1:0".into(), "--data-dir".into(), dir.into()];
    argv.extend(args.iter().map(OsString::from));
    let matches = command.try_get_matches_from(argv).unwrap_or_else(|e| panic!("bad hub arguments {args:?}: {e}"));
    ServerConfig::from_arg_matches(&matches).expect("the arguments fill every setting")
}

/// A hub served in this process on a free loopback port; shut down when dropped.
pub(crate) struct TestHub {
    /// A client of the hub (its URLs, publishing, event sources); the hub derefs to it.
    pub hub_client: HubClient,
    /// The state the hub serves (its `hub` is the one every transport uses).
    pub state: AppState,
    shutdown: Option<oneshot::Sender<()>>,
    served: Option<JoinHandle<std::io::Result<()>>>,
    /// The hub's data directory, when the hub owns a temporary one.
    _data: Option<tempfile::TempDir>,
}

impl TestHub {
    /// Starts a hub with the demo publishers off, plus `args` (the flags of `herald serve`).
    pub(crate) async fn start(args: &[&str]) -> Self {
        Self::start_with(&["--no-demo"], args).await
    }

    /// Starts a hub with exactly `base_args` and `args`, on a fresh data directory.
    pub(crate) async fn start_with(base_args: &[&str], args: &[&str]) -> Self {
        let data = tempfile::tempdir().expect("a temporary directory");
        let config = config(data.path(), &[base_args, args].concat());
        let mut hub = Self::serve(AppState::new(config).expect("the hub starts")).await;
        hub._data = Some(data);
        hub
    }

    /// Starts a hub with the demo publishers off and `args`, on the data directory `dir`.
    pub(crate) async fn start_in(dir: &Path, args: &[&str]) -> Self {
        let config = config(dir, &[&["--no-demo"], args].concat());
        Self::serve(AppState::new(config).expect("the hub starts")).await
    }

    /// Starts a hub with the demo publishers off and `args`, keeping its history in `store`.
    pub(crate) async fn start_with_store(args: &[&str], store: Arc<dyn Store>) -> Self {
        let data = tempfile::tempdir().expect("a temporary directory");
        let config = config(data.path(), &[&["--no-demo"], args].concat());
        let mut hub = Self::serve(AppState::with_store(config, store).expect("the hub starts")).await;
        hub._data = Some(data);
        hub
    }

    /// Serves `state` on a free loopback port until the hub is shut down or dropped.
    pub(crate) async fn serve(state: AppState) -> Self {
        let tls = state.config.tls.as_ref().map(herald_server::tls::load).transpose().expect("the TLS files load");
        let tcp = TcpListener::bind("127.0.0.1:0").await.expect("a free loopback port");
        let listener = Listener::new(tcp, tls);
        let local = listener.local_addr().expect("a bound address");
        let base = Url::parse(&format!("{}://{local}/", listener.scheme())).expect("the address is a URL");
        let (shutdown, signal) = oneshot::channel::<()>();
        let served = tokio::spawn(herald_server::serve(listener, state.clone(), async move {
            let _ = signal.await;
        }));
        Self { hub_client: HubClient::new(base), state, shutdown: Some(shutdown), served: Some(served), _data: None }
    }

    /// Starts the hub's shutdown, as Ctrl-C does for the binary: it stops accepting and ends
    /// every event stream.
    pub(crate) fn shut_down(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }

    /// Waits (at most 10 s) until the server has finished after [`TestHub::shut_down`]: every
    /// connection closed.
    pub(crate) async fn stopped(&mut self) {
        let served = self.served.take().expect("the hub is served");
        within(served).await.expect("the server task ends normally").expect("the server stops cleanly");
    }

    /// Opens a WebSocket on the hub, with `token` as a bearer token; panics if the upgrade is
    /// refused.
    pub(crate) async fn ws_connect(&self, token: Option<&str>) -> Ws {
        let mut request = self.ws_url().into_client_request().expect("a WebSocket request");
        if let Some(token) = token {
            let value = format!("Bearer {token}").parse().expect("a header value");
            request.headers_mut().insert("authorization", value);
        }
        let (ws, response) = within(tokio_tungstenite::connect_async(request)).await.expect("the upgrade is accepted");
        assert_eq!(response.status(), 101);
        ws
    }

    /// Waits (polling, at most 10 s) until the hub has exactly `n` subscribers registered.
    pub(crate) async fn wait_for_subscribers(&self, n: u64) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let now = self.state.hub.stats().subscribers;
            if now == n {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "waited 10s for {n} subscribers; the hub has {now}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl std::ops::Deref for TestHub {
    type Target = HubClient;

    fn deref(&self) -> &HubClient {
        &self.hub_client
    }
}

impl Drop for TestHub {
    fn drop(&mut self) {
        self.shut_down();
    }
}

/// Waiting with a limit, shared with the other suite; each test file uses what it needs.
#[allow(unused_imports)]
pub(crate) use herald_testkit::{take, within};

/// A real disk store in a temporary directory whose operations can be made to fail, one switch
/// each: while a switch is on, that operation returns a [`StoreError::Io`] and does nothing.
#[derive(Debug)]
pub(crate) struct FaultyStore {
    inner: DiskStore,
    /// Makes [`Store::append`] fail.
    pub fail_append: AtomicBool,
    /// Makes [`Store::read_after`] fail.
    pub fail_read_after: AtomicBool,
    /// Makes [`Store::position_of`] fail.
    pub fail_position_of: AtomicBool,
    _dir: tempfile::TempDir,
}

impl FaultyStore {
    /// A working store on a fresh directory.
    pub(crate) fn new() -> Arc<Self> {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let inner = DiskStore::open(dir.path()).expect("the disk store opens");
        Arc::new(Self {
            inner,
            fail_append: AtomicBool::new(false),
            fail_read_after: AtomicBool::new(false),
            fail_position_of: AtomicBool::new(false),
            _dir: dir,
        })
    }

    fn check(switch: &AtomicBool, operation: &'static str) -> Result<(), StoreError> {
        if switch.load(Ordering::SeqCst) {
            return Err(StoreError::Io { operation, source: "injected fault".into() });
        }
        Ok(())
    }
}

impl Store for FaultyStore {
    fn next_seq(&self) -> u64 {
        self.inner.next_seq()
    }

    fn append(&self, events: &[Arc<Event>], retention: &Retention, now_ms: u64) -> Result<(), StoreError> {
        Self::check(&self.fail_append, "appending events")?;
        self.inner.append(events, retention, now_ms)
    }

    fn read_after(&self, after: u64, limit: usize) -> Result<Vec<Arc<Event>>, StoreError> {
        Self::check(&self.fail_read_after, "reading events")?;
        self.inner.read_after(after, limit)
    }

    fn position_of(&self, id: &str) -> Result<Option<u64>, StoreError> {
        Self::check(&self.fail_position_of, "looking up an event id")?;
        self.inner.position_of(id)
    }
}

/// Sends `message` as a JSON text message.
pub(crate) async fn ws_send(ws: &mut Ws, message: serde_json::Value) {
    within(ws.send(Message::text(message.to_string()))).await.expect("the message is sent");
}

/// The next text message, as JSON (pings and pongs are skipped); panics when the socket closes.
pub(crate) async fn ws_next(ws: &mut Ws) -> serde_json::Value {
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) => return serde_json::from_str(&text).expect("messages are JSON"),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Reads until the hub's close frame; returns its code and the text messages received before it.
pub(crate) async fn ws_closed(ws: &mut Ws) -> (u16, Vec<serde_json::Value>) {
    let mut before = Vec::new();
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) => before.push(serde_json::from_str(&text).expect("messages are JSON")),
            Some(Ok(Message::Close(frame))) => {
                let frame = frame.expect("the close frame has a code");
                return (u16::from(frame.code), before);
            }
            Some(Ok(_)) => {}
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}
