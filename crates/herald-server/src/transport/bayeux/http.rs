//! Bayeux over HTTP: `long-polling` (POST, a JSON body or the form field `message`) and
//! `callback-polling` (GET with `message=` and a `jsonp` callback, answered as JavaScript, which
//! any site could load with the user's cookies: so it takes no rights from cookies).
//!
//! A request's messages are handled in order; when one is a `/meta/connect`, the answer waits for
//! it, and the connect's messages and reply come last. What is not Bayeux at all (a body that is
//! not JSON, not an array of objects, too large, too many messages, a callback name that is not
//! a plain identifier) is answered `400` or `413` with a plain message.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use serde_json::Value;

use super::handler::{self, Request};
use super::message::array;
use crate::error::ApiError;
use crate::listener::ClientAddr;
use crate::transport::ws;
use crate::AppState;

/// The callback name when a callback-polling request names none.
const DEFAULT_CALLBACK: &str = "jsonpcallback";
/// Longest callback name.
const MAX_CALLBACK: usize = 128;

/// `POST /cometd`: long-polling.
pub(crate) async fn post(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let body = crate::transport::publish::read_body(body, state.config.limits.max_body_bytes).await?;
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    let text = if form {
        form_field(&body, "message")
            .ok_or_else(|| bad("a form-encoded Bayeux request carries its messages in the field message"))?
    } else {
        String::from_utf8(body.to_vec()).map_err(|_| bad("the body is not UTF-8"))?
    };
    let replies = answer(&state, &headers, client, &text).await?;
    Ok(json_response(array(&replies)))
}

/// `GET /cometd`: a WebSocket upgrade, or callback-polling (`message=` and `jsonp=`).
pub(crate) async fn get(
    State(state): State<AppState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    uri: Uri,
    upgrade: Result<ws::Upgrade, ws::NotUpgrade>,
) -> Result<Response, ApiError> {
    let client_ip = client.as_ref().map(|Extension(ClientAddr(ip))| *ip);
    if let Ok(upgrade) = upgrade {
        ws::check_origin(&headers, &state.config.cors_origins)?;
        let max = state.config.limits.max_body_bytes;
        return Ok(upgrade.into_response(max, move |socket| super::websocket::run(socket, state, headers, client_ip)));
    }
    let query = uri.query().unwrap_or("").as_bytes();
    let message = form_field(query, "message")
        .ok_or_else(|| bad("a Bayeux GET carries message= (callback-polling), or is a WebSocket upgrade"))?;
    let callback = form_field(query, "jsonp").unwrap_or_else(|| DEFAULT_CALLBACK.to_owned());
    if !is_identifier(&callback) {
        return Err(bad(
            "the jsonp callback must be a plain JavaScript identifier (letters, digits, _ and $, dots between)",
        ));
    }
    // Any page can load a script from the hub, with the user's cookies, and read what it
    // answers: callback-polling takes no rights from cookies (a token comes in the handshake's
    // ext.herald.token instead).
    let mut headers = headers;
    headers.remove(header::COOKIE);
    let replies = answer(&state, &headers, client, &message).await?;
    let body = [callback.as_bytes(), b"(", &array(&replies), b");"].concat();
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// Reads a request's messages, handles them, and waits for its connect if it has one.
async fn answer(
    state: &AppState,
    headers: &HeaderMap,
    client: Option<Extension<ClientAddr>>,
    text: &str,
) -> Result<Vec<Bytes>, ApiError> {
    let messages = read_messages(text, state.config.bayeux.max_messages).map_err(|(status, message)| {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            crate::metrics::limit_rejected("bayeux_messages");
        }
        ApiError::new(status, message)
    })?;
    let request = Request { state, headers, client: client.map(|Extension(ClientAddr(ip))| ip) };
    let handled = handler::handle(&request, messages).await;
    let mut replies = handled.replies;
    if let Some(waiting) = handled.connect {
        replies.extend(waiting.answer(state).await);
    }
    Ok(replies)
}

/// The messages of a request: a JSON array of objects, or one object.
pub(crate) fn read_messages(text: &str, max: usize) -> Result<Vec<Value>, (StatusCode, String)> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("a Bayeux request is a JSON array of messages: {e}")))?;
    let messages = match value {
        Value::Array(messages) => messages,
        object @ Value::Object(_) => vec![object],
        _ => return Err((StatusCode::BAD_REQUEST, "a Bayeux request is a JSON array of message objects".into())),
    };
    if messages.is_empty() {
        return Err((StatusCode::BAD_REQUEST, "the request holds no message".into()));
    }
    if messages.len() > max {
        return Err((StatusCode::PAYLOAD_TOO_LARGE, format!("more than {max} messages in one request: split it")));
    }
    Ok(messages)
}

fn json_response(body: Bytes) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn bad(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, message)
}

fn form_field(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded).find(|(n, _)| n == name).map(|(_, v)| v.into_owned())
}

/// `name` or `a.b.c`, each part a JavaScript identifier of ASCII letters, digits, `_` and `$`.
fn is_identifier(callback: &str) -> bool {
    callback.len() <= MAX_CALLBACK
        && callback.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callbacks_are_plain_identifiers() {
        for ok in ["jsonpcallback", "_cometd_jsonp_0", "a.b.$c", "$"] {
            assert!(is_identifier(ok), "{ok}");
        }
        for bad in ["", "a b", "alert(1)", "a..b", "1a", "a;b", "a-b", &"a".repeat(129)] {
            assert!(!is_identifier(bad), "{bad}");
        }
    }

    #[test]
    fn requests_are_arrays_of_messages() {
        assert_eq!(read_messages(r#"[{"channel":"/a"}]"#, 10).unwrap().len(), 1);
        assert_eq!(read_messages(r#"{"channel":"/a"}"#, 10).unwrap().len(), 1);
        assert_eq!(read_messages("nope", 10).unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(read_messages("[]", 10).unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(read_messages("3", 10).unwrap_err().0, StatusCode::BAD_REQUEST);
        assert_eq!(read_messages("[{},{}]", 1).unwrap_err().0, StatusCode::PAYLOAD_TOO_LARGE);
    }
}
