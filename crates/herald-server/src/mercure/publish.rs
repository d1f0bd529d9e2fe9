//! `POST /.well-known/mercure`: publishing an update from an HTML form encoding.
//!
//! Fields: `topic` (one or more; the first is canonical), `data`, `id`, `type`, `retry`,
//! `private` (its presence marks the update private). Unknown fields are ignored, as the
//! protocol asks. Answers `200 text/plain; charset=utf-8` with the event id once the event is
//! durable, `400` for invalid fields, `413` past the size limits, `415` for another content
//! type, `503` when the store cannot take the event (nothing is delivered then).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use herald_core::{PublishError, Update};

use crate::config::Limits;
use crate::error::ApiError;
use crate::form;
use crate::AppState;

const FORM_TYPE: &str = "application/x-www-form-urlencoded";

pub async fn handle(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    // Rights first: an unauthorized client learns nothing about its request's validity.
    let rights = state.auth.publisher(&headers, uri.query())?;
    check_content_type(&headers)?;
    let limits = &state.config.limits;
    let body = read_body(body, limits.max_body_bytes).await?;
    let update = parse_update(&body, limits)?;
    rights.check(&update.topics)?;
    let event = state.hub.publish(update).await.map_err(|e| match e {
        PublishError::Invalid(e) => ApiError::bad_request(e.to_string()),
        other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
    })?;
    tracing::debug!(id = %event.id, topics = ?event.topics, "published");
    let mut response = (StatusCode::OK, event.id.to_string()).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let essence = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if essence.as_deref() == Some(FORM_TYPE) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("publish with Content-Type: {FORM_TYPE} (fields topic, data, id, type, retry, private)"),
        ))
    }
}

async fn read_body(body: Body, limit: usize) -> Result<bytes::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = e.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
        if too_large {
            ApiError::too_large(format!("request body larger than {limit} bytes"))
        } else {
            ApiError::bad_request("could not read the request body")
        }
    })
}

/// Turns the form fields into an [`Update`], enforcing the size limits.
pub fn parse_update(body: &[u8], limits: &Limits) -> Result<Update, ApiError> {
    let mut update = Update::default();
    let mut data = None;
    for (name, value) in form::parse(body).map_err(ApiError::bad_request)? {
        match name.as_str() {
            "topic" => {
                // Checked here too, so a flood of topics is refused before it is all collected.
                check_topic_count(update.topics.len() + 1, limits)?;
                update.topics.push(value);
            }
            "data" => {
                data.get_or_insert(value);
            }
            "id" => {
                update.id.get_or_insert(value);
            }
            "type" => {
                update.event_type.get_or_insert(value);
            }
            "retry" if update.retry.is_none() => update.retry = Some(parse_retry(&value)?),
            "private" => update.private = true,
            _ => {}
        }
    }
    update.data = data.unwrap_or_default();
    update.event_type = update.event_type.filter(|t| !t.is_empty());
    check_limits(&update, limits)?;
    Ok(update)
}

/// Refuses an update past the field-length and topic-count limits (413), whatever transport
/// carried it.
pub fn check_limits(update: &Update, limits: &Limits) -> Result<(), ApiError> {
    check_topic_count(update.topics.len(), limits)?;
    let fields = update.topics.iter().map(|t| ("topic", t)).chain(update.id.iter().map(|i| ("id", i)));
    for (name, value) in fields.chain(update.event_type.iter().map(|t| ("type", t))) {
        if value.len() > limits.max_field_bytes {
            return Err(ApiError::too_large(format!("field {name:?} is longer than {} bytes", limits.max_field_bytes)));
        }
    }
    Ok(())
}

fn check_topic_count(count: usize, limits: &Limits) -> Result<(), ApiError> {
    if count > limits.max_topics_per_publish {
        return Err(ApiError::too_large(format!("more than {} topics in one update", limits.max_topics_per_publish)));
    }
    Ok(())
}

/// Reads a `retry` value: digits only, fitting in 64 bits.
pub fn parse_retry(value: &str) -> Result<u64, ApiError> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::bad_request("\"retry\" must be a number of milliseconds (digits only)"));
    }
    value.parse().map_err(|_| ApiError::bad_request("\"retry\" is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Update, ApiError> {
        parse_update(body.as_bytes(), &Limits::default())
    }

    #[test]
    fn reads_every_field() {
        let u = parse("topic=a&topic=b&data=x%0Ay&id=i&type=t&retry=10&private=on&unknown=1").unwrap();
        assert_eq!(u.topics, ["a", "b"]);
        assert_eq!((u.data.as_str(), u.id.as_deref(), u.event_type.as_deref()), ("x\ny", Some("i"), Some("t")));
        assert_eq!((u.retry, u.private), (Some(10), true));
        assert!(!parse("topic=a").unwrap().private);
        assert!(parse("topic=a&private").unwrap().private);
    }

    #[test]
    fn refuses_bad_retry_and_oversize_fields() {
        for bad in ["-1", "1.5", " 1", "", "1e3", "99999999999999999999999"] {
            let err = parse(&format!("topic=a&retry={bad}")).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "retry={bad}");
        }
        let long = "x".repeat(Limits::default().max_field_bytes + 1);
        assert_eq!(parse(&format!("topic={long}")).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
        let many = "topic=a&".repeat(Limits::default().max_topics_per_publish + 1);
        assert_eq!(parse(&many).unwrap_err().status, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
