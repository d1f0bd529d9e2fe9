//! `POST /.well-known/mercure`: publishing an update from an HTML form encoding.
//!
//! Fields: `topic` (one or more; the first is canonical), `data`, `id`, `type`, `retry`,
//! `private` (its presence marks the update private). Unknown fields are ignored, as the
//! protocol asks. The publisher is admitted (authorization, rate) before the body is read;
//! then the fields become an [`Update`] for the operations layer. Answers `200 text/plain;
//! charset=utf-8` with the event id once the event is durable; failures are mapped in
//! [`crate::error`] (`415` for another content type is this transport's own).

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use herald_core::Update;

use crate::config::Limits;
use crate::error::ApiError;
use crate::form;
use crate::listener::ClientAddr;
use crate::ops::{self, Limit, PublishFailure, Publisher};
use crate::AppState;

const FORM_TYPE: &str = "application/x-www-form-urlencoded";

/// The publish handler.
pub(crate) async fn handle(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Result<Response, ApiError> {
    let publisher =
        Publisher::new(state.auth.publisher(&headers, uri.query()), client.map(|Extension(ClientAddr(ip))| ip));
    let admitted = ops::admit(&state, &publisher)?;
    check_content_type(&headers)?;
    let limits = &state.config.limits;
    let body = read_body(body, limits.max_body_bytes).await?;
    let update = parse_update(&body, limits)?;
    let event = admitted.publish(update).await?;
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

async fn read_body(body: Body, max: usize) -> Result<bytes::Bytes, PublishFailure> {
    axum::body::to_bytes(body, max).await.map_err(|e| {
        let too_large = e.into_inner().downcast_ref::<http_body_util::LengthLimitError>().is_some();
        if too_large {
            PublishFailure::TooLarge(Limit::BodySize { max }.rejected())
        } else {
            PublishFailure::Malformed("could not read the request body".into())
        }
    })
}

/// Turns the form fields into an [`Update`], refusing a flood of topics as it goes.
pub(crate) fn parse_update(body: &[u8], limits: &Limits) -> Result<Update, PublishFailure> {
    let mut update = Update::default();
    let mut data = None;
    for (name, value) in form::parse(body).map_err(PublishFailure::Malformed)? {
        match name.as_str() {
            "topic" => {
                ops::publish::check_topic_count(update.topics.len() + 1, limits)?;
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
            "retry" if update.retry.is_none() => update.retry = Some(ops::publish::parse_retry(&value)?),
            "private" => update.private = true,
            _ => {}
        }
    }
    update.data = data.unwrap_or_default();
    update.event_type = update.event_type.filter(|t| !t.is_empty());
    Ok(update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::FailureKind;

    fn parse(body: &str) -> Result<Update, PublishFailure> {
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
    fn refuses_bad_retry_and_a_flood_of_topics() {
        for bad in ["-1", "1.5", " 1", "", "1e3", "99999999999999999999999"] {
            let err = parse(&format!("topic=a&retry={bad}")).unwrap_err();
            assert_eq!(err.kind(), FailureKind::BadRequest, "retry={bad}");
        }
        let many = "topic=a&".repeat(Limits::default().max_topics_per_publish + 1);
        assert_eq!(parse(&many).unwrap_err().kind(), FailureKind::TooLarge);
    }
}
