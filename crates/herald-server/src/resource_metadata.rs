//! The hub as an OAuth 2.0 protected resource: its metadata document (RFC 9728), and the
//! `resource_metadata` parameter that points clients to it from the hub's challenges.
//!
//! The document is served where RFC 9728 derives it from the hub's URL,
//! `/.well-known/oauth-protected-resource/.well-known/mercure`, as the Mercure protocol says, and
//! also at `/.well-known/oauth-protected-resource` for clients that look it up by host. It gives:
//!
//! - `resource`: the value tokens must carry in `aud` (`--jwt-audience`; without it, the hub's
//!   URL);
//! - `authorization_servers`: the `--authorization-server` issuers, when configured;
//! - `jwks_uri`: the JWK Set verifying both roles' tokens (`--jwt-jwks-url`), when there is one
//!   and no authorization server is named (clients then get the keys from the server);
//! - `bearer_methods_supported`: `header` (RFC 6750's query form, `access_token`, is not taken:
//!   Herald's query parameter is `authorization`, with `--jwt-query-param`);
//! - `mercure_cookie`: `"mercureAuthorization"`, the cookie the token is also taken from (as is
//!   `__Secure-mercure_access_token`);
//! - `mercure_subscriptions`: `true` with `--subscriptions` (the active subscriptions feature).

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::AppState;

/// The well-known path of protected resource metadata (RFC 9728 section 3).
pub(crate) const PATH: &str = "/.well-known/oauth-protected-resource";

/// Where the hub's document is: [`PATH`] followed by the hub's path.
pub(crate) fn document_path() -> String {
    format!("{PATH}{}", herald_core::HUB_PATH)
}

/// The document's URL, from the hub's.
fn document_url(state: &AppState) -> String {
    let mut url = state.config.hub.hub_url.clone();
    url.set_path(&document_path());
    url.to_string()
}

/// The document.
pub(crate) fn document(state: &AppState) -> Value {
    let auth = &state.config.auth;
    let resource = auth.audience.clone().unwrap_or_else(|| state.config.hub.hub_url.to_string());
    let mut document = json!({
        "resource": resource,
        "bearer_methods_supported": ["header"],
        // A string, the cookie's name, as the Mercure protocol defines the member.
        "mercure_cookie": crate::auth::COOKIE_NAMES[0],
    });
    if state.presence.is_some() {
        document["mercure_subscriptions"] = json!(true);
    }
    if !auth.authorization_servers.is_empty() {
        let servers: Vec<&str> = auth.authorization_servers.iter().map(|server| server.0.as_str()).collect();
        document["authorization_servers"] = json!(servers);
    } else if let Some(url) = state.auth.shared_jwks_url() {
        document["jwks_uri"] = json!(url.as_str());
    }
    document
}

/// `GET /.well-known/oauth-protected-resource[/.well-known/mercure]`.
pub(crate) async fn handle(State(state): State<AppState>) -> Response {
    let body = document(&state).to_string();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("max-age=300")),
        ],
        body,
    )
        .into_response()
}

/// Adds `resource_metadata="<document URL>"` to the `Bearer` challenges of the hub's `401`
/// answers (RFC 9728 section 5.1), so that a client refused for want of a valid token finds what
/// the hub expects. The `/metrics` challenge is not the hub's and stays as it is.
pub(crate) async fn challenge(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if response.status() != StatusCode::UNAUTHORIZED {
        return response;
    }
    let Some(challenge) = response.headers().get(header::WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()) else {
        return response;
    };
    if !challenge.starts_with(crate::error::CHALLENGE) {
        return response;
    }
    let extended = format!("{challenge}, resource_metadata=\"{}\"", document_url(&state));
    if let Ok(value) = HeaderValue::from_str(&extended) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    }
    response
}
