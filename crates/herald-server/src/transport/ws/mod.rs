//! The WebSocket transport (RFC 6455, with permessage-deflate from RFC 7692), full duplex on the
//! same hub.
//!
//! A WebSocket upgrade of `GET /.well-known/mercure` (or `GET /ws`) opens a connection that
//! speaks the JSON messages of [`protocol`]: subscribe (with replay), unsubscribe, publish (same
//! rules as the form, through the same operations layer), ping. Topics, ids, history and rights
//! are the hub's, so SSE and WebSocket clients see the same events. Each event's JSON is encoded
//! once and shared by every WebSocket subscriber, and so is its compressed frame for those that
//! negotiated permessage-deflate.
//!
//! The hub frames WebSocket messages itself on hyper's upgraded connection, one concern per
//! module: [`handshake`] accepts the upgrade, [`extension`] negotiates permessage-deflate,
//! [`frame`] reads and writes frame headers, [`reader`] puts client messages together from
//! frames, [`deflate`] compresses and inflates, [`shared_frame`] caches an event's compressed
//! frame, [`socket`] does the I/O, [`ending`] closes; [`connection`] runs the JSON protocol on a
//! socket and [`echo`] is a plain echo endpoint for protocol conformance runs, enabled only by a test flag.

mod connection;
pub(crate) mod deflate;
pub(crate) mod echo;
pub(crate) mod ending;
pub(crate) mod extension;
pub(crate) mod frame;
pub(crate) mod handshake;
pub(crate) mod protocol;
pub(crate) mod reader;
mod shared_frame;
pub(crate) mod socket;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use crate::error::ApiError;
use crate::ops::{Publisher, Subscriber};
use crate::AppState;
pub(crate) use handshake::{NotUpgrade, Upgrade};

/// Accepts an upgrade after checking the `Origin` (cross-site WebSocket hijacking) and the
/// credentials: refused when they allow neither reading nor publishing.
pub(crate) fn upgrade(
    upgrade: Upgrade,
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
    Ok(upgrade.into_response(max, move |socket| connection::run(socket, state, publisher, subscriber)))
}

/// Browsers always send `Origin` on WebSocket handshakes and, unlike `fetch`, no CORS check
/// protects the response. A page on another site could otherwise open a socket with the user's
/// cookies. Allowed: no `Origin` (not a browser), the hub's own origin, or a configured one.
pub(crate) fn check_origin(headers: &HeaderMap, allowed: &[String]) -> Result<(), ApiError> {
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
