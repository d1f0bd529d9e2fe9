//! `herald serve`: validate the configuration, open the store, bind, and run until Ctrl-C or
//! SIGTERM.

use herald_core::StoreError;
use herald_server::{AppState, Listener, StartError};
use tokio::net::{TcpListener, TcpSocket};

use crate::cli::ServeArgs;

/// Connections the kernel keeps waiting for the hub to accept them (the kernel caps it at
/// `net.core.somaxconn`). The usual default, 128, overflows when a few hundred clients connect at
/// once, as they do after a restart: the connections it drops retry their SYN a second later.
const ACCEPT_BACKLOG: u32 = 4096;

/// Listens on `addr` as `TcpListener::bind` does (address reuse on), with [`ACCEPT_BACKLOG`].
fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

pub(crate) async fn run(args: ServeArgs) -> Result<(), String> {
    let state = AppState::new(args.config).map_err(with_hint)?;
    let tls = state.config.tls.as_ref().map(herald_server::tls::load).transpose()?;
    let addr = state.config.addr;
    let listener = listen(addr).map_err(|e| {
        format!("cannot listen on {addr}: {e} (is another process using the port? choose another with --addr)")
    })?;
    let listener = Listener::new(listener, tls);
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    let scheme = listener.scheme();
    tracing::info!(file = ?args.config_file, config = ?state.config, "configuration");
    if state.publishing_is_open() {
        tracing::warn!(
            "no JWT key configured: anyone who can reach the hub can publish (set --jwt-key for any untrusted network)"
        );
    }
    let metrics = match state.config.metrics_addr {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                format!("cannot listen on {addr} for metrics: {e} (choose another with --metrics-addr)")
            })?;
            let local = listener.local_addr().map_err(|e| e.to_string())?;
            let metrics_state = state.clone();
            tokio::spawn(async move {
                if let Err(e) = herald_server::serve_metrics(listener, metrics_state).await {
                    tracing::error!("metrics listener stopped: {e}");
                }
            });
            format!("http://{local}/metrics")
        }
        None => format!("{scheme}://{local}/metrics"),
    };
    // Tests and scripts read this line to find the port when --addr ends in :0.
    println!(
        "Herald listening on {scheme}://{local}/ (hub: {scheme}://{local}/.well-known/mercure; metrics: {metrics})"
    );
    herald_server::serve(listener, state, shutdown_signal()).await.map_err(|e| format!("server stopped: {e}"))
}

/// The start error, with the setting to change when there is one.
fn with_hint(error: StartError) -> String {
    let hint = match &error {
        StartError::Store(StoreError::Locked { .. }) => "; stop the other hub, or give this one another --data-dir",
        StartError::Store(StoreError::Unwritable { .. }) => " (choose another with --data-dir)",
        StartError::Store(StoreError::Corrupt { .. }) => {
            ": move the directory aside to start with an empty history, or give another --data-dir"
        }
        StartError::Store(StoreError::Unreachable { .. }) => {
            "; start the engine (or check its address in --store), then start this node again"
        }
        _ => "",
    };
    format!("{error}{hint}")
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
