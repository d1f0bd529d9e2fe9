//! The WebSocket transport (RFC 6455), full duplex on the same hub.
//!
//! A WebSocket upgrade of `GET /.well-known/mercure` (or `GET /ws`) opens a connection that
//! speaks the JSON messages of [`protocol`]: subscribe (with replay), unsubscribe, publish (same
//! rules as the form, through the same operations layer), ping. Topics, ids, history and rights
//! are the hub's, so SSE and WebSocket clients see the same events. Each event's JSON is encoded
//! once and shared by every WebSocket subscriber. [`connection`] runs one socket; [`echo`] is a
//! plain echo endpoint for protocol conformance runs, enabled only by a test flag.

mod connection;
pub(crate) mod echo;
pub(crate) mod protocol;

use axum::extract::ws::WebSocketUpgrade;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use crate::error::ApiError;
use crate::ops::{Publisher, Subscriber};
use crate::AppState;

/// Socket buffers: small, since idle connections are the common case (tungstenite's defaults
/// are 128 KiB each); they grow while a large message passes. 1 KiB instead of 4 KiB saves
/// 2.3 KiB per idle connection and still passes every Autobahn case.
const READ_BUFFER: usize = 1024;
/// Frames gather up to this many bytes before a write (a flush writes what is left), so a batch
/// of events costs a few system calls instead of one per event. The buffer is allocated only
/// once events flow.
const WRITE_BUFFER: usize = 8 * 1024;

/// Accepts an upgrade after checking the `Origin` (cross-site WebSocket hijacking) and the
/// credentials: refused when they allow neither reading nor publishing.
pub(crate) fn upgrade(
    upgrade: WebSocketUpgrade,
    headers: &HeaderMap,
    query: Option<&str>,
    client: Option<std::net::IpAddr>,
    state: AppState,
) -> Result<Response, ApiError> {
    check_origin(headers, &state.config.cors_origins)?;
    let read = state.auth.subscriber(headers, query);
    let publish = state.auth.publisher(headers, query);
    if let (Err(refused), Err(_)) = (&read, &publish) {
        return Err(refused.clone().into());
    }
    let (subscriber, publisher) = (Subscriber::new(read), Publisher::new(publish, client));
    let max = state.config.limits.max_body_bytes;
    Ok(configure(upgrade, max).on_upgrade(move |socket| connection::run(socket, state, publisher, subscriber)))
}

/// Applies the size limits and buffer sizes every WebSocket endpoint shares.
pub(crate) fn configure(upgrade: WebSocketUpgrade, max_message: usize) -> WebSocketUpgrade {
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_message_size(max_message)
        .max_frame_size(max_message)
}

/// Browsers always send `Origin` on WebSocket handshakes and, unlike `fetch`, no CORS check
/// protects the response. A page on another site could otherwise open a socket with the user's
/// cookies. Allowed: no `Origin` (not a browser), the hub's own origin, or a configured one.
fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return Ok(());
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    let same_origin = origin.split_once("://").is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host));
    let configured = allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin));
    if same_origin || configured {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("WebSocket from origin {origin} refused: allow it with --cors-origin"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("hub.example:8080"));
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origins_are_checked() {
        let allowed = vec!["https://app.example".to_owned()];
        assert!(check_origin(&headers(None), &allowed).is_ok());
        assert!(check_origin(&headers(Some("http://hub.example:8080")), &allowed).is_ok());
        assert!(check_origin(&headers(Some("https://app.example")), &allowed).is_ok());
        let refused = check_origin(&headers(Some("https://evil.example")), &allowed).unwrap_err();
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(check_origin(&headers(Some("https://evil.example")), &["*".to_owned()]).is_ok());
        assert!(check_origin(&headers(Some("http://hub.example:8081")), &[]).is_err());
    }
}
