//! The opening handshake (RFC 6455 section 4.2): checking that a request is a WebSocket upgrade,
//! answering `101 Switching Protocols` with the negotiated extension, and handing the upgraded
//! connection to a task.
//!
//! The hub frames WebSocket messages itself (see [`super::socket`]) rather than through a
//! WebSocket library, so it takes hyper's upgraded connection directly: that is what lets it
//! write one shared, possibly compressed, frame to every subscriber, and keep nothing allocated
//! while a socket is idle.

use std::future::Future;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use sha1::{Digest, Sha1};

use super::extension::{self, Deflate};
use super::socket::{Io, Socket};

/// Appended to the client's key before hashing (section 1.3).
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A WebSocket upgrade request, checked; [`Upgrade::into_response`] accepts it.
pub(crate) struct Upgrade {
    key: HeaderValue,
    deflate: Option<Deflate>,
    on_upgrade: OnUpgrade,
}

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade").field("deflate", &self.deflate).finish_non_exhaustive()
    }
}

/// Why a request is not a WebSocket upgrade the hub can accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotUpgrade {
    NotGet,
    ConnectionHeader,
    UpgradeHeader,
    KeyMissing,
    Version,
    /// hyper has no upgrade for this request (an HTTP/2 stream, say).
    NotUpgradable,
}

impl IntoResponse for NotUpgrade {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::NotGet => (StatusCode::METHOD_NOT_ALLOWED, "a WebSocket handshake is a GET"),
            Self::ConnectionHeader => (StatusCode::BAD_REQUEST, "the Connection header must include \"upgrade\""),
            Self::UpgradeHeader => (StatusCode::BAD_REQUEST, "the Upgrade header must be \"websocket\""),
            Self::KeyMissing => (StatusCode::BAD_REQUEST, "the Sec-WebSocket-Key header is missing"),
            Self::Version => (StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13"),
            Self::NotUpgradable => (StatusCode::UPGRADE_REQUIRED, "this connection cannot be upgraded to a WebSocket"),
        };
        let mut response = (status, message).into_response();
        if self == Self::Version {
            response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotUpgrade;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, NotUpgrade> {
        if parts.method != Method::GET {
            return Err(NotUpgrade::NotGet);
        }
        if !has_token(&parts.headers, header::CONNECTION, "upgrade") {
            return Err(NotUpgrade::ConnectionHeader);
        }
        if !has_token(&parts.headers, header::UPGRADE, "websocket") {
            return Err(NotUpgrade::UpgradeHeader);
        }
        let key = parts.headers.get(header::SEC_WEBSOCKET_KEY).ok_or(NotUpgrade::KeyMissing)?.clone();
        if parts.headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
            return Err(NotUpgrade::Version);
        }
        let on_upgrade = parts.extensions.remove::<OnUpgrade>().ok_or(NotUpgrade::NotUpgradable)?;
        let offers = parts.headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter().filter_map(|v| v.to_str().ok());
        let deflate = extension::negotiate(offers);
        Ok(Self { key, deflate, on_upgrade })
    }
}

impl Upgrade {
    /// Answers `101 Switching Protocols` and, once hyper hands over the connection, serves it
    /// with `serve` on a socket whose messages are limited to `max_message` bytes (inflated).
    pub(crate) fn into_response<F, Fut>(self, max_message: usize, serve: F) -> Response
    where
        F: FnOnce(Socket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Self { key, deflate, on_upgrade } = self;
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept_key(key.as_bytes()));
        let window = deflate.map(|deflate| {
            if let Ok(value) = HeaderValue::from_str(&deflate.response) {
                headers.insert(header::SEC_WEBSOCKET_EXTENSIONS, value);
            }
            deflate.window
        });
        tokio::spawn(async move {
            match on_upgrade.await {
                Ok(upgraded) => {
                    let io: Io = TokioIo::new(upgraded);
                    serve(Socket::new(io, window, max_message)).await;
                }
                Err(e) => tracing::debug!("WebSocket upgrade failed: {e}"),
            }
        });
        response
    }
}

/// `Sec-WebSocket-Accept` for a client's key.
fn accept_key(key: &[u8]) -> HeaderValue {
    let mut sha1 = Sha1::new();
    sha1.update(key);
    sha1.update(GUID.as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(sha1.finalize());
    // Base64 is always a valid header value.
    HeaderValue::from_str(&encoded).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Whether one of the comma-separated tokens of `name`'s values is `token` (case-insensitive).
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_accept_key_is_the_rfcs_example() {
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn connection_tokens_are_matched_in_lists() {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(has_token(&headers, header::CONNECTION, "upgrade"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, upgraded"));
        assert!(!has_token(&headers, header::CONNECTION, "upgrade"));
    }
}
