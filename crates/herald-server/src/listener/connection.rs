//! One connection's task: the TLS handshake when TLS is on, then hyper serving HTTP/1.1 or
//! HTTP/2 on it, watched by a timer in the same task that closes the connection when it is idle.
//!
//! The watchdog wakes every quarter of `--idle-timeout`. A connection with a request in progress
//! (an event stream, a long poll) is never idle. Otherwise, once four wake-ups in a row saw no
//! byte move, the connection has been idle for at least the timeout and is closed. A connection
//! that has not started a single request within `--header-read-timeout` of being accepted (or of
//! its TLS handshake) is closed too: hyper's own HTTP/1 header timeout only starts once it knows
//! the protocol, and HTTP/2 has none.

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::service::Service as _;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::Watcher;
use hyper_util::service::TowerToHyperService;

use super::ClientAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

use super::activity::{Activity, InFlight, Tracked, TrackedBody};
use super::admission::Permit;
use super::closing::ClosingTcp;
use super::prefixed::Prefixed;
use super::publish_lane;
use super::sniff::{self, Sniffed};
use super::stream_writer;
use super::ConnectionLimits;
use crate::metrics::limit_rejected;
use crate::tls::TlsAcceptor;

/// Idle wake-ups in a row that close a connection.
const QUIET_TICKS: u32 = 4;

/// What every connection task shares.
#[derive(Clone)]
pub(crate) struct Shared {
    pub(crate) builder: Arc<Builder<TokioExecutor>>,
    pub(crate) service: TowerToHyperService<Router>,
    pub(crate) limits: ConnectionLimits,
    /// Nice value of the publishing runtime's threads (`--publish-nice`).
    pub(crate) publish_nice: i32,
}

/// Completes the TLS handshake within `--header-read-timeout`, then serves the connection.
pub(crate) async fn serve_tls(stream: TcpStream, permit: Permit, tls: TlsAcceptor, shared: Shared, watcher: Watcher) {
    let peer = stream.peer_addr().ok();
    match tokio::time::timeout(shared.limits.header_read_timeout, tls.accept(ClosingTcp::new(stream))).await {
        Ok(Ok(stream)) => serve(stream, permit, shared, watcher).await,
        Ok(Err(e)) => tracing::debug!(?peer, "TLS handshake failed: {e}"),
        Err(_) => {
            limit_rejected("header_timeout");
            tracing::debug!(?peer, "TLS handshake not done within the header read timeout; closing");
        }
    }
}

/// Serves a cleartext connection: its first request head decides whether it is a lean event
/// stream or a connection for hyper.
pub(crate) async fn serve_plain(mut stream: TcpStream, permit: Permit, shared: Shared, watcher: Watcher) {
    match sniff::first_request(&mut stream, shared.limits.header_read_timeout, shared.limits.max_header_bytes).await {
        Sniffed::Stream(request) => {
            // Held so that a graceful shutdown waits for the stream's end, as for hyper's.
            let _watcher = watcher;
            stream_writer::serve(stream, request, permit, shared).await;
        }
        Sniffed::Publish(head) => match publish_lane::runtime(shared.publish_nice) {
            // Moved to the publishing runtime: the socket leaves this runtime's I/O driver and
            // joins that one's.
            Some(lane) => match stream.into_std() {
                Ok(stream) => {
                    lane.spawn(async move {
                        match TcpStream::from_std(stream) {
                            Ok(stream) => {
                                serve(Prefixed::new(head, ClosingTcp::new(stream)), permit, shared, watcher).await
                            }
                            Err(e) => tracing::debug!("cannot serve a publishing connection: {e}"),
                        }
                    });
                }
                Err(e) => tracing::debug!("cannot move a publishing connection: {e}"),
            },
            None => Box::pin(serve(Prefixed::new(head, ClosingTcp::new(stream)), permit, shared, watcher)).await,
        },
        // Boxed: the task's own allocation then stays the size a lean stream needs.
        Sniffed::Other(head) => {
            Box::pin(serve(Prefixed::new(head, ClosingTcp::new(stream)), permit, shared, watcher)).await
        }
        Sniffed::TimedOut => {
            limit_rejected("header_timeout");
            tracing::debug!("no complete request head within the header read timeout; closing the connection");
        }
        Sniffed::Gone => {}
    }
}

/// Serves one connection (plain TCP, or TLS after the handshake) until it ends or idles out.
pub(crate) async fn serve<I>(io: I, permit: Permit, shared: Shared, watcher: Watcher)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let accepted = Instant::now();
    let client = ClientAddr(permit.ip());
    let activity = Activity::new(permit);
    let service = {
        let activity = activity.clone();
        let inner = shared.service;
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            // Handlers that limit per client (the publish rate) read the address from here.
            request.extensions_mut().insert(client);
            let in_flight = InFlight::start(&activity);
            let response = inner.call(request);
            async move { Ok::<_, std::convert::Infallible>(response.await?.map(|b| TrackedBody::new(b, in_flight))) }
        })
    };
    let io = TokioIo::new(Tracked::new(io, activity.clone()));
    let mut connection = pin!(watcher.watch(shared.builder.serve_connection_with_upgrades(io, service)));
    let tick = (shared.limits.idle_timeout / QUIET_TICKS).max(Duration::from_millis(10));
    let first_request_by = crate::timing::add(accepted, shared.limits.header_read_timeout);
    let mut next_tick = crate::timing::add(accepted, tick);
    let mut timer = pin!(tokio::time::sleep_until(next_tick.min(first_request_by)));
    let mut quiet_ticks = 0;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    ended_with_error(&*e, &activity);
                }
                return;
            }
            () = timer.as_mut() => {
                let now = Instant::now();
                if !activity.served_any() && now >= first_request_by {
                    limit_rejected("header_timeout");
                    tracing::debug!("no request within the header read timeout; closing the connection");
                    return;
                }
                if now >= next_tick {
                    if activity.take_recent() || activity.in_progress() {
                        quiet_ticks = 0;
                    } else {
                        quiet_ticks += 1;
                        if quiet_ticks >= QUIET_TICKS {
                            limit_rejected("idle_timeout");
                            tracing::debug!("connection idle for the idle timeout; closing it");
                            return;
                        }
                    }
                    next_tick = crate::timing::add(now, tick);
                }
                let next = if activity.served_any() { next_tick } else { next_tick.min(first_request_by) };
                timer.as_mut().reset(next);
            }
        }
    }
}

/// Logs why a connection failed, and counts hyper's HTTP/1 header timeout: as `idle_timeout` when
/// the client was only keeping the connection open after a request, else as `header_timeout`.
fn ended_with_error(error: &(dyn std::error::Error + 'static), activity: &Activity) {
    let timed_out = error.downcast_ref::<hyper::Error>().is_some_and(hyper::Error::is_timeout);
    if timed_out {
        if activity.served_any() && !activity.in_progress() && !activity.mid_head() {
            limit_rejected("idle_timeout");
            tracing::debug!("kept-alive connection sent no new request within the header read timeout; closed");
        } else {
            limit_rejected("header_timeout");
            tracing::debug!("request head not received within the header read timeout; connection closed");
        }
    } else {
        tracing::debug!("connection ended: {error}");
    }
}
