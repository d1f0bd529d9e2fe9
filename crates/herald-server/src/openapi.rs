//! `GET /openapi.yaml`: the OpenAPI 3.1 document of the hub's HTTP API
//! (`assets/openapi.yaml`), embedded in the binary like the demo assets.
//!
//! The document describes every endpoint, parameter, transport and error answer. It is
//! validated, and the running hub is checked against it, by `tests/openapi/run.sh`.

use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;

/// The document, as served.
const DOCUMENT: &str = include_str!("../assets/openapi.yaml");

/// The media type registered for YAML (RFC 9512).
const CONTENT_TYPE: &str = "application/yaml";

/// Serves the document.
pub(crate) async fn handle() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        DOCUMENT,
    )
}
