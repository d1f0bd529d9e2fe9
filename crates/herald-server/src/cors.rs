//! Cross-origin access for browsers on other origins.
//!
//! With no configured origin the hub answers same-origin requests only. `*` allows every origin
//! but never with credentials (browsers refuse that combination); an explicit list allows
//! credentials (cookies) too, as the Mercure protocol requires. Preflights are answered for the
//! headers browsers add: `Last-Event-ID` (sent on reconnection, preflighted when long),
//! `Authorization` and `Content-Type`; `Mercure-Last-Event-ID` is exposed to scripts.

use std::time::Duration;

use axum::http::{header, HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");
pub(crate) const MERCURE_LAST_EVENT_ID: HeaderName = HeaderName::from_static("mercure-last-event-id");

/// The CORS layer for `origins`, or `None` when cross-origin access is off.
pub(crate) fn layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let base = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::CACHE_CONTROL, LAST_EVENT_ID])
        .expose_headers([MERCURE_LAST_EVENT_ID])
        .max_age(Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        return Some(base.allow_origin(AllowOrigin::any()));
    }
    let list: Vec<HeaderValue> =
        origins.iter().filter_map(|o| HeaderValue::from_str(o.trim_end_matches('/')).ok()).collect();
    Some(base.allow_origin(AllowOrigin::list(list)).allow_credentials(true))
}
