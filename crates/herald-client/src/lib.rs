//! A Rust client for Herald (and any Mercure hub).
//!
//! - [`EventSource`] subscribes over Server-Sent Events with the browser's semantics: it parses
//!   the stream with the WHATWG rules, remembers the last event id, honours `retry`, and
//!   reconnects by itself with `Last-Event-ID` so no event is missed.
//! - [`WebSocket`] speaks the hub's WebSocket protocol: subscribe, unsubscribe and publish with
//!   acknowledgements on one connection, events as a [`futures_core::Stream`], and reconnection
//!   that resumes from the last event received.
//! - [`publish`] sends one update with a form POST, as the Mercure protocol defines it.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let herald = herald_server::Herald::builder(herald_server::ServerConfig::default()).memory_store().build()?;
//! # let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let hub: url::Url = format!("http://{}/.well-known/mercure", listener.local_addr()?).parse()?;
//! # tokio::spawn(async move { axum::serve(listener, herald.router()).await });
//! use herald_client::{publish, EventSource, Publication};
//!
//! let id = publish(&reqwest::Client::new(), &hub, &Publication::new("/books/1", "in stock")).await?;
//!
//! let mut books = hub.clone();
//! books.query_pairs_mut().append_pair("topic", "/books/1");
//! let mut source = EventSource::new(books).last_event_id("earliest");
//! let event = source.next().await?;
//! assert_eq!((event.id, event.data), (id, "in stock".to_owned()));
//! # Ok(())
//! # }
//! ```

mod event_source;
mod publish;
mod websocket;

pub use event_source::{Error, Event, EventSource};
pub use publish::{publish, publish_with_token, Publication, PublishError};
pub use websocket::{Builder as WebSocketBuilder, Subscribe, WebSocket, WsError};

/// The examples of the crate's README, compiled (and run, unless marked `no_run`) as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
