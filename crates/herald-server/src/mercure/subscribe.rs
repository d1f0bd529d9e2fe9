//! `GET /.well-known/mercure`: subscribing, over Server-Sent Events by default.
//!
//! A WebSocket upgrade goes to [`crate::ws`]; the `transport` parameter or the `Accept` header
//! can choose another transport (see [`super::transport`]): newline-delimited JSON, the forever
//! frame, long-polling or polling. Whatever the transport, the request is read the same way.
//!
//! Topic matchers come from `match` / `match_exact` (exact), `match_urlpattern` (URL Pattern) and
//! the 0.x `topic` parameter (exact, `*` or URI template). Any other parameter in the reserved
//! `match` namespace is refused. A resuming client gives its cursor in the `Last-Event-ID`
//! header or the `last_event_id` (0.x: `lastEventID`) parameter, the header winning; the
//! response then carries `Mercure-Last-Event-ID`.

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use herald_core::{Cursor, Matcher};
use url::Url;

use super::transport::{Transport, TransportParams};
use crate::cors::MERCURE_LAST_EVENT_ID;
use crate::error::ApiError;
use crate::stream::EventStream;
use crate::{form, long_poll, AppState};

/// What a subscription request asks for.
#[derive(Debug)]
pub struct SubscribeRequest {
    pub matchers: Vec<Matcher>,
    pub cursor: Option<Cursor>,
    pub transport: TransportParams,
}

/// A WebSocket upgrade goes to the WebSocket transport; any other `GET` subscribes over the
/// transport it asks for.
pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    if let Ok(upgrade) = upgrade {
        return crate::ws::upgrade(upgrade, &headers, uri.query(), state);
    }
    let request = parse_request(
        uri.query().unwrap_or(""),
        &headers,
        &state.hub.config().hub_url,
        state.config.limits.max_matchers,
    )?;
    let transport = request.transport.choose(&headers, state.config.retry, state.config.long_poll_max)?;
    let rights = state.auth.subscriber(&headers, uri.query())?;
    let subscription = state
        .hub
        .subscribe(request.matchers, rights.access, request.cursor.clone())
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("cannot read history: {e}")))?;

    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(from) = subscription.resumed_from() {
        if let Ok(value) = HeaderValue::from_str(from) {
            response_headers.insert(MERCURE_LAST_EVENT_ID, value);
        }
    }
    let wire = match transport {
        Transport::Poll { timeout } => {
            let cursor = match &request.cursor {
                Some(Cursor::After(id)) => Some(id.as_str()),
                Some(Cursor::Earliest) => Some("earliest"),
                None => None,
            };
            return Ok(long_poll::respond(subscription, timeout, cursor, response_headers).await);
        }
        Transport::Stream(wire) => wire,
    };
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(wire.content_type()));
    response_headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let stream = EventStream::new(subscription, wire, state.config.heartbeat);
    Ok((StatusCode::OK, response_headers, axum::body::Body::from_stream(stream)).into_response())
}

/// Reads matchers, cursor and transport parameters from the query string and headers.
pub fn parse_request(
    query: &str,
    headers: &HeaderMap,
    hub_url: &Url,
    max_matchers: usize,
) -> Result<SubscribeRequest, ApiError> {
    let mut matchers = Vec::new();
    let mut query_cursor = None;
    let mut transport = TransportParams::default();
    for (name, value) in form::parse(query.as_bytes()).map_err(ApiError::bad_request)? {
        if transport.take(&name, &value) {
            continue;
        }
        if name == "last_event_id" || name == "lastEventID" {
            query_cursor.get_or_insert(value);
        } else if let Some(matcher) = matcher(&name, &value, hub_url)? {
            push_matcher(&mut matchers, matcher, max_matchers)?;
        }
    }
    if matchers.is_empty() {
        return Err(ApiError::bad_request(
            "missing topic matcher: add ?match=<topic> (or match_urlpattern=<pattern>, or topic=<topic or URI template>)",
        ));
    }
    let header_cursor = match headers.get("last-event-id") {
        Some(v) => Some(
            std::str::from_utf8(v.as_bytes())
                .map_err(|_| ApiError::bad_request("Last-Event-ID header is not valid UTF-8"))?
                .to_owned(),
        ),
        None => None,
    };
    let cursor =
        header_cursor.filter(|v| !v.is_empty()).or(query_cursor.filter(|v| !v.is_empty())).map(|v| Cursor::parse(&v));
    Ok(SubscribeRequest { matchers, cursor, transport })
}

/// The matcher a parameter asks for: `None` for a parameter that is not a matcher, an error for
/// an unsupported name in the reserved `match` namespace or an invalid value.
pub fn matcher(name: &str, value: &str, hub_url: &Url) -> Result<Option<Matcher>, ApiError> {
    let matcher = match name {
        "match" | "match_exact" => Matcher::exact(value),
        "match_urlpattern" => Matcher::url_pattern(value, hub_url),
        "topic" => Matcher::legacy_topic(value),
        other if other.len() >= 5 && other.as_bytes()[..5].eq_ignore_ascii_case(b"match") => {
            return Err(ApiError::bad_request(format!(
                "unsupported matcher parameter {other:?}: use match, match_exact, match_urlpattern or topic"
            )));
        }
        _ => return Ok(None),
    };
    matcher.map(Some).map_err(|e| ApiError::bad_request(format!("{name}={value:?}: {e}")))
}

/// Adds `matcher`, refusing more than `max` (400, as the protocol says).
pub fn push_matcher(matchers: &mut Vec<Matcher>, matcher: Matcher, max: usize) -> Result<(), ApiError> {
    if matchers.len() == max {
        return Err(ApiError::bad_request(format!("more than {max} topic matchers in one subscription")));
    }
    matchers.push(matcher);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, last_event_id: Option<&str>) -> Result<SubscribeRequest, ApiError> {
        let mut headers = HeaderMap::new();
        if let Some(id) = last_event_id {
            headers.insert("last-event-id", HeaderValue::from_str(id).unwrap());
        }
        let hub = Url::parse("http://localhost/.well-known/mercure").unwrap();
        parse_request(query, &headers, &hub, 8)
    }

    #[test]
    fn reads_every_matcher_kind() {
        let r = parse("match=a&match_exact=b&match_urlpattern=/x/:id&topic=/y/{id}&topic=*&other=1", None).unwrap();
        assert_eq!(r.matchers.len(), 5);
        assert!(r.matchers[0].matches("a") && r.matchers[1].matches("b"));
        assert!(r.matchers[2].matches("/x/1") && r.matchers[3].matches("/y/2") && r.matchers[4].matches("z"));
        assert_eq!(r.cursor, None);
    }

    #[test]
    fn header_cursor_wins_over_query() {
        assert_eq!(parse("match=a&last_event_id=q", Some("h")).unwrap().cursor, Some(Cursor::After("h".into())));
        assert_eq!(parse("match=a&last_event_id=q", None).unwrap().cursor, Some(Cursor::After("q".into())));
        assert_eq!(parse("match=a&lastEventID=earliest", None).unwrap().cursor, Some(Cursor::Earliest));
    }

    #[test]
    fn refuses_bad_requests() {
        for query in [
            "",
            "other=1",
            "match_regex=x",
            "MATCHES=x",
            "match=a%00b",
            "match=",
            "match_urlpattern=(",
            "match=%FF",
            "match=1&match=2&match=3&match=4&match=5&match=6&match=7&match=8&match=9",
        ] {
            assert_eq!(parse(query, None).unwrap_err().status, StatusCode::BAD_REQUEST, "{query}");
        }
    }
}
