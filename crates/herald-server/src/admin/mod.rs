//! The operator's live dashboard at `/admin`.
//!
//! The page is fed by the hub's own event stream: while a dashboard is open, the hub publishes
//! its figures once a second as a private update on the reserved topic [`TOPIC`] ([`feed`]),
//! read from the same counters as `/metrics` ([`figures`]). Reading the page and its stream
//! needs a token whose subscribe rights cover that topic, as for any private resource; no figure
//! is ever public. Nobody watching costs a few counter reads a second.

pub(crate) mod feed;
pub(crate) mod figures;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::AppState;

/// The reserved topic the figures are published on (inside the hub's namespace, so no
/// publisher can forge them).
pub(crate) const TOPIC: &str = "/.well-known/mercure/dashboard";

const DASHBOARD_HTML: &str = include_str!("../../assets/admin.html");
const SIGN_IN_HTML: &str = include_str!("../../assets/admin-sign-in.html");

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/admin", get(page))
}

/// `GET /admin`: the dashboard for a request whose token may read [`TOPIC`]; otherwise the
/// refusal's status and challenge, with a page to give a token.
async fn page(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let html = HeaderValue::from_static("text/html; charset=utf-8");
    match state.auth.reader_of(&headers, uri.query(), TOPIC) {
        Ok(_) => (
            [(header::CONTENT_TYPE, html), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            DASHBOARD_HTML,
        )
            .into_response(),
        // A malformed request gets its plain answer; a missing or insufficient token the form.
        Err(refused) if !matches!(refused.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
            refused.into_response()
        }
        Err(refused) => {
            let message = escape(&refused.message);
            let (mut parts, _) = refused.into_response().into_parts();
            parts.headers.insert(header::CONTENT_TYPE, html);
            Response::from_parts(parts, Body::from(SIGN_IN_HTML.replace("{{message}}", &message)))
        }
    }
}

/// `text` safe inside HTML.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_escaped_for_the_sign_in_page() {
        assert_eq!(escape(r#"<b a="1">'&'</b>"#), "&lt;b a=&quot;1&quot;&gt;&#39;&amp;&#39;&lt;/b&gt;");
        assert!(SIGN_IN_HTML.contains("{{message}}"));
    }
}
