//! The transports: how requests reach the operations layer and how events reach clients.
//!
//! Each transport has its own room and only parses its input, calls [`crate::ops`], and writes
//! in its own wire format:
//!
//! - [`publish`]: `POST /.well-known/mercure`, reading the Mercure publish form
//!   ([`publish_form`]) or a batch of updates ([`publish_batch`], also the WebSocket's);
//! - [`select`]: which transport a `GET` on the hub asks for, and what it subscribes to;
//! - [`sse`], [`ndjson`], [`htmlfile`]: the streamed responses, driven by [`stream`];
//! - [`poll`]: long-polling and polling;
//! - [`ws`]: the WebSocket transport (and its conformance echo endpoint);
//! - [`bayeux`]: the Bayeux protocol at `/cometd` (CometD and Faye clients), over
//!   long-polling, callback-polling and WebSocket;
//! - [`json`]: the JSON event message the JSON transports share, encoded once per event.

pub(crate) mod bayeux;
pub(crate) mod htmlfile;
pub(crate) mod json;
pub(crate) mod ndjson;
pub(crate) mod poll;
pub(crate) mod publish;
pub(crate) mod publish_batch;
pub(crate) mod publish_form;
pub(crate) mod select;
pub(crate) mod sse;
pub(crate) mod stream;
pub(crate) mod ws;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use herald_core::{Cursor, Subscription};

use crate::cors::MERCURE_LAST_EVENT_ID;
use crate::error::ApiError;
use crate::listener::ClientAddr;
use crate::ops::{self, Subscriber};
use crate::AppState;
use select::Transport;
use stream::{EventStream, StreamFormat};

/// Where the hub lives, as the Mercure protocol fixes it.
pub(crate) const PATH: &str = herald_core::HUB_PATH;

/// `GET /.well-known/mercure`: a WebSocket upgrade goes to the WebSocket transport; any other
/// request subscribes over the transport it asks for.
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<ws::Upgrade, ws::NotUpgrade>,
) -> Result<Response, ApiError> {
    state.auth.load_named_key(&headers, uri.query()).await;
    if let Ok(upgrade) = upgrade {
        let client = client.map(|Extension(ClientAddr(ip))| ip);
        return ws::upgrade(upgrade, &headers, uri.query(), client, state);
    }
    subscribe_to(state, &headers, uri.query().unwrap_or("")).await
}

/// `QUERY /.well-known/mercure`: subscribing with the parameters (matchers, cursor, transport)
/// in a form body, for matcher lists too long for a URL; those of the query component count too
/// (the union; a `last_event_id` in both is the query's). Any other method is `405`.
pub(crate) async fn subscribe_by_query(
    State(state): State<AppState>,
    method: axum::http::Method,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    if method.as_str() != "QUERY" {
        let mut error = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not served here: GET (or QUERY with a form body) subscribes, POST publishes"),
        );
        error.allow = Some("GET, POST, QUERY");
        return Err(error);
    }
    if publish::media_type(&headers).as_deref() != Some(publish::FORM_TYPE) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "QUERY takes the subscription's parameters as Content-Type: application/x-www-form-urlencoded",
        ));
    }
    let body = publish::read_body(body, state.config.limits.max_body_bytes).await?;
    let body = std::str::from_utf8(&body)
        .map_err(|_| ApiError::new(StatusCode::BAD_REQUEST, "the body is not valid UTF-8"))?;
    // The query component first: its `last_event_id` wins over the body's.
    let query = match (uri.query().unwrap_or(""), body.trim_end_matches(['\r', '\n'])) {
        ("", body) => body.to_owned(),
        (query, "") => query.to_owned(),
        (query, body) => format!("{query}&{body}"),
    };
    subscribe_to(state, &headers, &query).await
}

/// Subscribes with the parameters of `query`, over the transport it asks for (not WebSocket).
async fn subscribe_to(state: AppState, headers: &HeaderMap, query: &str) -> Result<Response, ApiError> {
    let selected = select::select(query, headers, &state.config)?;
    let cursor = selected.request.cursor.clone();
    let rights = state.auth.subscriber(headers, Some(query));
    // A polling client is one subscriber across its requests: its presence handle says which.
    let (subscriber, presence) = match (&selected.transport, &state.presence) {
        (Transport::Poll { .. }, Some(presence)) => {
            let (id, handle) = presence.polling_subscriber(selected.presence.as_deref());
            (Subscriber::lingering(rights, Some(id)), Some(handle))
        }
        _ => (Subscriber::new(rights), None),
    };
    let subscription = ops::subscribe(&state, &subscriber, selected.request).await?;
    let mut response_headers = HeaderMap::new();
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(from) = subscription.resumed_from() {
        if let Ok(value) = HeaderValue::from_str(from) {
            response_headers.insert(MERCURE_LAST_EVENT_ID, value);
        }
    }
    let heartbeat = state.config.heartbeat;
    Ok(match selected.transport {
        Transport::Sse(format) => streamed(subscription, format, heartbeat, response_headers),
        Transport::Ndjson => streamed(subscription, ndjson::Ndjson, heartbeat, response_headers),
        Transport::HtmlFile(format) => streamed(subscription, format, heartbeat, response_headers),
        Transport::Poll { timeout } => {
            let cursor = match &cursor {
                Some(Cursor::After(id)) => Some(id.as_str()),
                Some(Cursor::Earliest) => Some("earliest"),
                Some(Cursor::Position(_)) | None => None,
            };
            poll::respond(&state.hub, subscription, timeout, cursor, presence.as_deref(), response_headers).await
        }
    })
}

/// A `200` whose body streams the subscription in `format`.
fn streamed<F: StreamFormat>(
    subscription: Subscription,
    format: F,
    heartbeat: std::time::Duration,
    mut headers: HeaderMap,
) -> Response {
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(F::CONTENT_TYPE));
    // So that nginx does not buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let stream = EventStream::new(subscription, format, heartbeat);
    (StatusCode::OK, headers, Body::from_stream(stream)).into_response()
}

/// `GET /ws`: the WebSocket transport only.
pub(crate) async fn ws_only(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: ws::Upgrade,
) -> Result<Response, ApiError> {
    let client = client.map(|Extension(ClientAddr(ip))| ip);
    ws::upgrade(upgrade, &headers, uri.query(), client, state)
}
