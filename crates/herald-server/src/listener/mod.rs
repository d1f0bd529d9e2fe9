//! Accepting connections: the connection limits, TLS, and the hyper settings every connection is
//! served with.
//!
//! The accept loop only counts and hands off: a connection over `--max-connections` gets `503`,
//! one over `--max-connections-per-ip` gets `429` (both a minimal HTTP/1.1 answer written on the
//! socket, then closed; with TLS on, such a connection is closed at once instead, since answering
//! would first cost a handshake). Everything slow (the TLS handshake, serving) happens in the
//! connection's own task, so one bad client never delays the others. On cleartext connections
//! the task first reads the request head itself (`sniff.rs`): event-stream subscriptions, the
//! bulk of long-lived connections, are served by a lean writer (`stream_writer.rs`) that keeps no
//! HTTP buffers for the stream's life; everything else goes to hyper.
//! Each refusal and timeout is counted in `herald_limit_rejections_total{limit=…}`.

mod activity;
mod admission;
mod closing;
mod connection;
mod prefixed;
mod publish_lane;
pub(crate) mod sniff;
mod stream_writer;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use crate::tls::TlsAcceptor;
use admission::Admission;
use connection::Shared;

/// The smallest read buffer cap hyper accepts, and so the smallest `--max-header-bytes`. Hyper
/// lets the buffer grow to its cap while reading a request head and keeps it for the
/// connection's life, which for long-lived WebSockets is most of their memory.
pub(crate) const MIN_HEADER_BYTES: usize = 8192;

/// The client's address, put in each request's extensions by the listener (for limits per
/// client, such as the publish rate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientAddr(pub(crate) std::net::IpAddr);

/// Limits on connections (as opposed to requests: see [`crate::config::Limits`]).
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct ConnectionLimits {
    /// Most open connections; past it, new ones are answered 503 (with TLS: closed at once).
    #[arg(long, env = "HERALD_MAX_CONNECTIONS", value_name = "N", default_value = "10000")]
    pub max_connections: usize,
    /// Most open connections from one IP address; past it, new ones are answered 429 (with TLS:
    /// closed at once).
    #[arg(long, env = "HERALD_MAX_CONNECTIONS_PER_IP", value_name = "N", default_value = "256")]
    pub max_connections_per_ip: usize,
    /// Time a client has to finish the TLS handshake and send a whole request head (slow-loris
    /// protection); a kept-alive HTTP/1.1 connection must send its next request head within it too.
    #[arg(
        long,
        env = "HERALD_HEADER_READ_TIMEOUT",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "10s"
    )]
    pub header_read_timeout: Duration,
    /// Close a connection that has no request in progress and sent nothing either way for this
    /// long; event streams are never idle.
    #[arg(
        long,
        env = "HERALD_IDLE_TIMEOUT",
        value_name = "DURATION",
        value_parser = herald_core::config::parse_duration,
        default_value = "120s"
    )]
    pub idle_timeout: Duration,
    /// Largest request head (request line and headers, a token in a cookie included), in
    /// bytes; a larger one is answered 431. At least 8192. Idle connections keep no more than
    /// their own head needed.
    #[arg(long, env = "HERALD_MAX_HEADER_BYTES", value_name = "BYTES", default_value = "8192")]
    pub max_header_bytes: usize,
    /// Most new connections accepted per period, e.g. `500/s`; past it, `503` with Retry-After
    /// (with TLS: closed at once), so a reconnect storm is spread out instead of served at once.
    /// Unset: no limit.
    #[arg(long, env = "HERALD_MAX_ACCEPT_RATE", value_name = "N/PERIOD")]
    pub max_accept_rate: Option<crate::rate::Rate>,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        crate::config::defaults()
    }
}

/// The bound socket the hub accepts on, with TLS when configured.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener").field("tcp", &self.tcp).field("tls", &self.tls.is_some()).finish()
    }
}

impl Listener {
    /// `tls` from [`crate::tls::load`], or `None` for cleartext HTTP/1.1 and HTTP/2.
    pub fn new(tcp: TcpListener, tls: Option<TlsAcceptor>) -> Self {
        Self { tcp, tls }
    }

    /// The address it is bound to (with the port chosen when it was 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// `https` with TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Accepts and serves connections until `shutdown` completes (publishing connections on
    /// their own runtime, its threads at nice value `publish_nice`); returns the handle that
    /// waits for the connections still open.
    pub(crate) async fn run(
        self,
        app: Router,
        limits: &ConnectionLimits,
        publish_nice: i32,
        shutdown: impl Future<Output = ()>,
    ) -> GracefulShutdown {
        let shared = Shared {
            builder: Arc::new(builder(limits)),
            service: TowerToHyperService::new(app),
            limits: limits.clone(),
            publish_nice,
        };
        let admission =
            Arc::new(Admission::new(limits.max_connections, limits.max_connections_per_ip, limits.max_accept_rate));
        let graceful = GracefulShutdown::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a moment rather than spin.
                        tracing::warn!("accepting a connection failed: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Events and answers are written whole, so Nagle's algorithm only delays them: with
            // it on, a small event written while the previous one is unacknowledged waits for the
            // peer's (possibly delayed) ACK, up to 40 ms on Linux.
            if let Err(e) = stream.set_nodelay(true) {
                tracing::debug!(%peer, "TCP_NODELAY not set: {e}");
            }
            let permit = match admission.admit(peer.ip()) {
                Ok(permit) => permit,
                Err(refusal) => {
                    crate::metrics::limit_rejected(refusal.limit());
                    tracing::debug!(%peer, "connection refused: {} limit reached", refusal.limit());
                    if self.tls.is_none() {
                        admission.refuse(stream, refusal);
                    }
                    continue;
                }
            };
            let (shared, watcher) = (shared.clone(), graceful.watcher());
            match &self.tls {
                None => tokio::spawn(connection::serve_plain(stream, permit, shared, watcher)),
                Some(tls) => tokio::spawn(connection::serve_tls(stream, permit, tls.clone(), shared, watcher)),
            };
        }
        graceful
    }
}

/// Hyper's settings: HTTP/1.1 with upgrades and HTTP/2 (by ALPN over TLS, by prior knowledge in
/// cleartext), a capped read buffer, and the header read timeout.
fn builder(limits: &ConnectionLimits) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(limits.max_header_bytes.max(MIN_HEADER_BYTES))
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let max_header_list = u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX);
    builder.http2().max_header_list_size(max_header_list);
    builder
}
