//! `POST /.well-known/mercure`: publishing, one update or a batch.
//!
//! The publisher is admitted (authorization, rate) before the body is read; the content type
//! picks the reader: the Mercure form ([`super::publish_form`]) for one update, NDJSON
//! ([`super::publish_batch`]) for many. Answers `200 text/plain; charset=utf-8` once the
//! events are durable: the event id for a form, one id per line, in order, for a batch.
//! Failures are mapped in [`crate::error`] (`415` for another content type is this
//! transport's own).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;

use super::{publish_batch, publish_form};
use crate::error::ApiError;
use crate::listener::ClientAddr;
use crate::ops::{self, Limit, PublishFailure, Publisher};
use crate::AppState;

pub(crate) const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// What the body holds, by its content type.
enum BodyKind {
    Form,
    Batch,
}

/// The publish handler.
pub(crate) async fn handle(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    state.auth.load_named_key(&headers, uri.query()).await;
    let publisher =
        Publisher::new(state.auth.publisher(&headers, uri.query()), client.map(|Extension(ClientAddr(ip))| ip));
    let admitted = ops::admit(&state, &publisher)?;
    let kind = body_kind(&headers)?;
    let limits = &state.config.limits;
    let body = read_body(body, limits.max_body_bytes).await?;
    let answer = match kind {
        BodyKind::Form => {
            let update = publish_form::parse_update(&body, limits)?;
            admitted.publish(update).await?.id.to_string()
        }
        BodyKind::Batch => {
            let (updates, lines) = publish_batch::parse_ndjson(&body, limits)?;
            let events = admitted.publish_batch(updates, |i| format!("line {}", lines[i])).await?;
            let mut ids = String::with_capacity(events.iter().map(|e| e.id.len() + 1).sum());
            for event in events {
                ids.push_str(&event.id);
                ids.push('\n');
            }
            ids
        }
    };
    let mut response = (StatusCode::OK, answer).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

/// The request's media type (`Content-Type` without its parameters), lowercased.
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
}

fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    match media_type(headers).as_deref() {
        Some(FORM_TYPE) => Ok(BodyKind::Form),
        Some(t) if publish_batch::CONTENT_TYPES.contains(&t) => Ok(BodyKind::Batch),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "publish with Content-Type: {FORM_TYPE} (fields topic, data, id, type, retry, private), \
                 or {} for a batch (one JSON object with those fields per line)",
                publish_batch::CONTENT_TYPES[0]
            ),
        )),
    }
}

pub(crate) async fn read_body(body: Body, max: usize) -> Result<bytes::Bytes, PublishFailure> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_large = e.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
        if too_large {
            PublishFailure::TooLarge(Limit::BodySize { max }.rejected())
        } else {
            PublishFailure::Malformed("could not read the request body".into())
        }
    })
}
