//! The subscriptions API: `GET {hub}/subscriptions`, `{hub}/subscriptions/{match_type}/{match}`
//! and `{hub}/subscriptions/{match_type}/{match}/{subscriber}`, plus the legacy
//! `{hub}/subscriptions/{topic}[/{subscriber}]` that deployed clients use.
//!
//! The requested path, as sent (percent-encoded), is the topic a subscriber's token must grant,
//! the same form as the subscription events' topics, so one matcher covers both. Every answer
//! carries the `rel="mercure"` Link with the `last-event-id` to subscribe from, so that a client
//! reading this snapshot and then the events misses nothing. `?count` answers only how many
//! subscriptions the collection holds (a Herald extension), without listing them.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{json, Value};

use super::events::{document, matcher_path};
use super::MatcherKey;
use crate::error::ApiError;
use crate::AppState;

/// Matcher types of the current draft's paths (`topic` is the legacy form's).
const MATCH_TYPES: [&str; 3] = ["exact", "urlpattern", "channel"];
/// The longest path accepted, in bytes: beyond it, no subscription can exist.
const MAX_PATH: usize = 8_192;

/// What a path under `{hub}/subscriptions` names.
#[derive(Debug, PartialEq, Eq)]
enum Resource {
    All,
    Matcher(MatcherKey),
    One(MatcherKey, String),
}

/// Reads the segments after `{hub}/subscriptions`, each percent-decoded once.
fn parse(rest: &str) -> Result<Resource, &'static str> {
    if rest.is_empty() || rest == "/" {
        return Ok(Resource::All);
    }
    let rest = rest.strip_prefix('/').ok_or("not a subscriptions path")?;
    let segments: Vec<String> = rest
        .split('/')
        .map(|s| percent_decode_str(s).decode_utf8().map(|d| d.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(|_| "a path segment is not UTF-8 once decoded")?;
    if segments.iter().any(String::is_empty) {
        return Err("an empty path segment");
    }
    let key = |match_type: &'static str, value: &str| MatcherKey { match_type, value: value.into() };
    match segments.as_slice() {
        [first, rest @ ..] if MATCH_TYPES.contains(&first.as_str()) => {
            let match_type = MATCH_TYPES.iter().find(|t| **t == first.as_str()).copied().unwrap_or("exact");
            match rest {
                [value] => Ok(Resource::Matcher(key(match_type, value))),
                [value, subscriber] => Ok(Resource::One(key(match_type, value), subscriber.clone())),
                _ => Err("expected {match_type}/{match}[/{subscriber}]"),
            }
        }
        [topic] => Ok(Resource::Matcher(key("topic", topic))),
        [topic, subscriber] => Ok(Resource::One(key("topic", topic), subscriber.clone())),
        _ => Err("expected {match_type}/{match}[/{subscriber}] or {topic}[/{subscriber}]"),
    }
}

/// `GET {hub}/subscriptions…`.
pub(crate) async fn handle(State(state): State<AppState>, uri: Uri, headers: HeaderMap) -> Response {
    let Some(presence) = &state.presence else {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "the subscriptions API is off: start the hub with --subscriptions",
        )
        .into_response();
    };
    let path = uri.path();
    if path.len() > MAX_PATH {
        return ApiError::new(StatusCode::NOT_FOUND, "no such subscription").into_response();
    }
    let hub_path = state.hub.config().hub_url.path().trim_end_matches('/').to_owned();
    let base = format!("{hub_path}/subscriptions");
    let Some(rest) = path.strip_prefix(&base) else {
        return ApiError::new(StatusCode::NOT_FOUND, "not a subscriptions path").into_response();
    };
    let resource = match parse(rest) {
        Ok(resource) => resource,
        Err(why) => return ApiError::new(StatusCode::NOT_FOUND, format!("no such resource: {why}")).into_response(),
    };
    // The topic to authorize: the path as requested, without a trailing slash.
    let topic = path.trim_end_matches('/');
    if let Err(refused) = state.auth.reader_of(&headers, uri.query(), topic) {
        return refused.into_response();
    }
    let count_only = uri.query().is_some_and(|q| q.split('&').any(|p| p == "count" || p.starts_with("count=")));
    let body = match resource {
        Resource::All | Resource::Matcher(_) => {
            let matcher = match &resource {
                Resource::Matcher(key) => Some(key),
                _ => None,
            };
            let id = match matcher {
                Some(key) => matcher_path(&hub_path, key),
                None => base.clone(),
            };
            if count_only {
                let count = match matcher {
                    Some(key) => presence.count(key),
                    None => presence.list(None).len(),
                };
                json!({ "id": id, "type": "subscriptions", "count": count })
            } else {
                let subscriptions: Vec<Value> =
                    presence.list(matcher).iter().map(|active| document(&hub_path, active, true)).collect();
                json!({ "id": id, "type": "subscriptions", "subscriptions": subscriptions })
            }
        }
        Resource::One(key, subscriber) => match presence.get(&key, &subscriber) {
            Some(active) => document(&hub_path, &active, true),
            None => return ApiError::new(StatusCode::NOT_FOUND, "no such active subscription").into_response(),
        },
    };
    let last = state.hub.last_event_id().map_or_else(|| "earliest".to_owned(), |id| id.to_string());
    let link = format!(
        "<{}>; rel=\"mercure\"; last-event-id=\"{}\"; type=\"mercure\"; content-type=\"application/json\"",
        state.hub.config().hub_url,
        last.replace('\\', "\\\\").replace('"', "\\\"")
    );
    let mut response = (StatusCode::OK, body.to_string()).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response_headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("must-revalidate"));
    if let Ok(link) = HeaderValue::from_str(&link) {
        response_headers.insert(header::LINK, link);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(match_type: &'static str, value: &str) -> MatcherKey {
        MatcherKey { match_type, value: value.into() }
    }

    #[test]
    fn paths_name_the_collection_a_matcher_or_one_subscription() {
        assert_eq!(parse(""), Ok(Resource::All));
        assert_eq!(parse("/"), Ok(Resource::All));
        assert_eq!(
            parse("/urlpattern/https%3A%2F%2Fexample.com%2F%3Aselector"),
            Ok(Resource::Matcher(key("urlpattern", "https://example.com/:selector")))
        );
        assert_eq!(parse("/exact/%2Fa/urn%3Auuid%3A1"), Ok(Resource::One(key("exact", "/a"), "urn:uuid:1".into())));
        assert_eq!(parse("/%2Fbooks%2F1"), Ok(Resource::Matcher(key("topic", "/books/1"))), "the legacy form");
        assert_eq!(parse("/%2Fbooks%2F1/s"), Ok(Resource::One(key("topic", "/books/1"), "s".into())));
        assert!(parse("/exact").is_err(), "a type without its matcher");
        assert!(parse("/exact/a/b/c").is_err());
        assert!(parse("/a//b").is_err());
        assert!(parse("/%FF").is_err());
        assert!(parse("x").is_err());
    }
}
