//! An application with the hub inside it: a small shop whose own routes sit beside the hub's in
//! one axum `Router`, and whose order handler publishes each order's status in-process, with no
//! HTTP round trip to a hub.
//!
//! It takes every `herald serve` setting as its own flags (the store, tokens, limits, `--addr`):
//!
//! ```sh
//! cargo run -p herald-server --example embedded -- --store memory --publisher-jwt-key SECRET --anonymous
//! curl -N 'http://localhost:8080/.well-known/mercure?topic=/orders/{id}' &   # watch the orders
//! curl -X POST http://localhost:8080/orders                                  # place one
//! ```
//!
//! A client that posts to `/.well-known/mercure` itself still needs a publisher token; the
//! application's own publishes do not. Ctrl-C (or SIGTERM) ends the event streams and stops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use herald_server::{Herald, ServerConfig, Update};

/// The shop's flags: the hub's, as `herald serve` reads them.
#[derive(Parser)]
#[command(about = "A shop with a Herald hub inside it")]
struct Flags {
    #[command(flatten)]
    hub: ServerConfig,
}

/// What the shop's handlers share.
#[derive(Clone)]
struct Shop {
    herald: Herald,
    next_order: Arc<AtomicU64>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Flags { hub: config } = Flags::parse();
    let addr = config.addr;
    let herald = Herald::builder(config).build()?;
    let shop = Shop { herald: herald.clone(), next_order: Arc::new(AtomicU64::new(1)) };

    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/orders", post(place_order))
        .with_state(shop)
        .merge(herald.router());

    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("shop listening on http://{}/", listener.local_addr()?);
    axum::serve(listener, app.into_make_service())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            // Event streams never end by themselves: end them so that the server can stop.
            herald.drain(Duration::ZERO).await;
        })
        .await?;
    println!("shop stopped");
    Ok(())
}

/// `POST /orders`: takes an order and tells its watchers, through the hub, in-process.
async fn place_order(State(shop): State<Shop>) -> Response {
    let order = shop.next_order.fetch_add(1, Ordering::Relaxed);
    let status = serde_json::json!({ "order": order, "status": "received" });
    let mut update = Update::new(format!("/orders/{order}"), status.to_string());
    update.event_type = Some("order".into());
    match shop.herald.publish(update).await {
        Ok(event) => Json(serde_json::json!({ "order": order, "event": &*event.id })).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("the order could not be announced: {e}\n")).into_response(),
    }
}

/// Ctrl-C or SIGTERM, whichever comes first.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(e) => {
                eprintln!("cannot watch SIGTERM ({e}); stop with Ctrl-C");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

const PAGE: &str = r#"<!doctype html>
<meta charset="utf-8">
<title>Shop</title>
<h1>Shop</h1>
<button id="order">Place an order</button>
<ul id="orders"></ul>
<script>
  const orders = document.getElementById('orders');
  const source = new EventSource('/.well-known/mercure?topic=' + encodeURIComponent('/orders/{id}'));
  source.addEventListener('order', (e) => {
    const item = document.createElement('li');
    item.textContent = e.data;
    orders.append(item);
  });
  document.getElementById('order').onclick = () => fetch('/orders', { method: 'POST' });
</script>
"#;
