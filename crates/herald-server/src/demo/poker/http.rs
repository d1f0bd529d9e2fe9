//! The poker demo's HTTP side: the page, the table's state, and sitting down.
//!
//! - `GET /poker`: the page (spectator, and player once seated).
//! - `GET /poker/table`: the table now (JSON): the hand, the id to replay it from (`since`),
//!   the seats, the spectator count.
//! - `POST /poker/sit` with `{"name": …}` (JSON or a form): a seat that a bot plays, from the
//!   next hand, with its token and the secret that signs its actions; `409` when players hold
//!   every seat.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use bytes::Bytes;

use super::table::{self, SitError, Table};
use crate::error::ApiError;
use crate::AppState;

const POKER_HTML: &str = include_str!("../../../assets/poker.html");
/// The largest sit-down request read.
const MAX_SIT_BYTES: usize = 1024;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/poker", get(page)).route("/poker/table", get(snapshot)).route("/poker/sit", post(sit))
}

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], POKER_HTML)
}

fn the_table(state: &AppState) -> Result<&Arc<Table>, ApiError> {
    state.poker_table.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "the poker table is not running (the hub runs with --no-demo, or on a shared log)",
        )
    })
}

async fn snapshot(State(state): State<AppState>) -> Response {
    match the_table(&state) {
        Ok(table) => json(&table.snapshot()),
        Err(e) => e.into_response(),
    }
}

async fn sit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let table = match the_table(&state) {
        Ok(table) => table.clone(),
        Err(e) => return e.into_response(),
    };
    if body.len() > MAX_SIT_BYTES {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "a sit-down request is at most 1 KiB").into_response();
    }
    let name = match read_name(&headers, &body) {
        Ok(name) => name,
        Err(message) => return ApiError::new(StatusCode::BAD_REQUEST, message).into_response(),
    };
    match table.sit(&name) {
        Ok(sitting) => {
            table::announce_seated(&state, &table, &sitting).await;
            json(&sitting)
        }
        Err(e @ SitError::Full) => ApiError::new(StatusCode::CONFLICT, e.to_string()).into_response(),
        Err(e @ SitError::NoToken) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}

/// `value` as a JSON answer that is not cached.
fn json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response(),
        Err(e) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot encode the answer: {e}")).into_response()
        }
    }
}

/// The name in a JSON object or a form body (empty when none is given).
fn read_name(headers: &HeaderMap, body: &[u8]) -> Result<String, String> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"));
    if json {
        let value: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON: {e}"))?;
        return match value.get("name") {
            None | Some(serde_json::Value::Null) => Ok(String::new()),
            Some(serde_json::Value::String(name)) => Ok(name.clone()),
            Some(_) => Err("name must be a string".to_owned()),
        };
    }
    Ok(url::form_urlencoded::parse(body).find(|(k, _)| k == "name").map(|(_, v)| v.into_owned()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_json_or_a_form() {
        let mut json = HeaderMap::new();
        json.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        assert_eq!(read_name(&json, br#"{"name":"Zo\u00e9"}"#).unwrap(), "Zoé");
        assert_eq!(read_name(&json, b"{}").unwrap(), "");
        assert!(read_name(&json, br#"{"name":3}"#).is_err());
        assert!(read_name(&json, b"{").is_err());
        assert_eq!(read_name(&HeaderMap::new(), b"name=Ann+B").unwrap(), "Ann B");
        assert_eq!(read_name(&HeaderMap::new(), b"").unwrap(), "");
    }
}
