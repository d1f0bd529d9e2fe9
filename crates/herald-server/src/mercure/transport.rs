//! Which transport a subscription request asks for, besides WebSocket (an upgrade).
//!
//! - no `transport` parameter: Server-Sent Events, or newline-delimited JSON when the `Accept`
//!   header asks for `application/x-ndjson`;
//! - `transport=sse`, `transport=ndjson`: the same, explicitly;
//! - `transport=htmlfile`: the forever frame, calling `parent[callback](message)` for each
//!   event (`callback` defaults to `herald`);
//! - `transport=long-poll` (with `timeout`, seconds, default 30, at most the configured maximum)
//!   and `transport=poll` (the same with no wait): one JSON batch per request.

use std::time::Duration;

use axum::http::{header, HeaderMap};

use crate::error::ApiError;
use crate::stream::Wire;

/// How long a long-poll waits for events when the request names no `timeout`.
pub const DEFAULT_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(30);
/// The forever frame's default callback name.
pub const DEFAULT_CALLBACK: &str = "herald";
const MAX_CALLBACK_LEN: usize = 64;

/// The transport of a non-WebSocket subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// A response that stays open and carries every event.
    Stream(Wire),
    /// One batch of events per request, waiting up to `timeout` when there are none yet.
    Poll { timeout: Duration },
}

/// The transport parameters of the query string, as given.
#[derive(Debug, Default)]
pub struct TransportParams {
    pub transport: Option<String>,
    pub timeout: Option<String>,
    pub callback: Option<String>,
}

impl TransportParams {
    /// Keeps `name=value` if it is a transport parameter; returns false otherwise.
    pub fn take(&mut self, name: &str, value: &str) -> bool {
        let slot = match name {
            "transport" => &mut self.transport,
            "timeout" => &mut self.timeout,
            "callback" => &mut self.callback,
            _ => return false,
        };
        slot.get_or_insert_with(|| value.to_owned());
        true
    }

    /// The transport asked for; `retry` is the advice for event streams, `max_timeout` caps
    /// long-poll waits.
    pub fn choose(
        self,
        headers: &HeaderMap,
        retry: Option<Duration>,
        max_timeout: Duration,
    ) -> Result<Transport, ApiError> {
        let name = match self.transport.as_deref() {
            Some(name) => name,
            None if accepts_ndjson(headers) => "ndjson",
            None => "sse",
        };
        if self.timeout.is_some() && !matches!(name, "long-poll" | "poll") {
            return Err(ApiError::bad_request("timeout is only for transport=long-poll"));
        }
        if self.callback.is_some() && name != "htmlfile" {
            return Err(ApiError::bad_request("callback is only for transport=htmlfile"));
        }
        Ok(match name {
            "sse" => Transport::Stream(Wire::Sse { retry }),
            "ndjson" => Transport::Stream(Wire::Ndjson),
            "htmlfile" => Transport::Stream(Wire::HtmlFile { callback: callback(self.callback)? }),
            "long-poll" => Transport::Poll {
                timeout: match self.timeout.as_deref() {
                    Some(text) => timeout(text)?.min(max_timeout),
                    None => DEFAULT_LONG_POLL_TIMEOUT.min(max_timeout),
                },
            },
            "poll" => match self.timeout.as_deref().map(timeout).transpose()? {
                None | Some(Duration::ZERO) => Transport::Poll { timeout: Duration::ZERO },
                Some(_) => return Err(ApiError::bad_request("transport=poll does not wait: use transport=long-poll")),
            },
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown transport {other:?}: use sse, ndjson, htmlfile, long-poll or poll (or a WebSocket upgrade)"
                )))
            }
        })
    }
}

fn accepts_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-ndjson")))
}

fn timeout(text: &str) -> Result<Duration, ApiError> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| ApiError::bad_request(format!("timeout={text:?}: give a number of seconds, e.g. timeout=30")))
}

fn callback(name: Option<String>) -> Result<String, ApiError> {
    let name = name.unwrap_or_else(|| DEFAULT_CALLBACK.to_owned());
    let mut chars = name.chars();
    let valid = name.len() <= MAX_CALLBACK_LEN
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if !valid {
        return Err(ApiError::bad_request(format!(
            "callback={name:?}: give a JavaScript identifier of at most {MAX_CALLBACK_LEN} characters"
        )));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    const MAX: Duration = Duration::from_secs(60);

    fn choose(params: &[(&str, &str)], accept: Option<&str>) -> Result<Transport, ApiError> {
        let mut p = TransportParams::default();
        for (name, value) in params {
            assert!(p.take(name, value));
        }
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        p.choose(&headers, None, MAX)
    }

    #[test]
    fn picks_the_transport() {
        assert_eq!(choose(&[], None).unwrap(), Transport::Stream(Wire::Sse { retry: None }));
        assert_eq!(
            choose(&[], Some("text/plain, application/x-ndjson;q=0.9")).unwrap(),
            Transport::Stream(Wire::Ndjson)
        );
        assert_eq!(choose(&[("transport", "ndjson")], None).unwrap(), Transport::Stream(Wire::Ndjson));
        assert_eq!(
            choose(&[("transport", "htmlfile")], None).unwrap(),
            Transport::Stream(Wire::HtmlFile { callback: "herald".into() })
        );
        assert_eq!(
            choose(&[("transport", "htmlfile"), ("callback", "$on_event2")], None).unwrap(),
            Transport::Stream(Wire::HtmlFile { callback: "$on_event2".into() })
        );
        assert_eq!(
            choose(&[("transport", "long-poll")], None).unwrap(),
            Transport::Poll { timeout: DEFAULT_LONG_POLL_TIMEOUT }
        );
        assert_eq!(
            choose(&[("transport", "long-poll"), ("timeout", "2.5")], None).unwrap(),
            Transport::Poll { timeout: Duration::from_millis(2500) }
        );
        assert_eq!(
            choose(&[("transport", "long-poll"), ("timeout", "9999")], None).unwrap(),
            Transport::Poll { timeout: MAX }
        );
        assert_eq!(choose(&[("transport", "poll")], None).unwrap(), Transport::Poll { timeout: Duration::ZERO });
        assert_eq!(
            choose(&[("transport", "poll"), ("timeout", "0")], None).unwrap(),
            Transport::Poll { timeout: Duration::ZERO }
        );
    }

    #[test]
    fn refuses_bad_parameters() {
        for params in [
            &[("transport", "carrier-pigeon")][..],
            &[("transport", "long-poll"), ("timeout", "soon")],
            &[("transport", "long-poll"), ("timeout", "-1")],
            &[("transport", "long-poll"), ("timeout", "NaN")],
            &[("transport", "long-poll"), ("timeout", "inf")],
            &[("transport", "poll"), ("timeout", "5")],
            &[("timeout", "5")],
            &[("callback", "f")],
            &[("transport", "htmlfile"), ("callback", "alert(1)")],
            &[("transport", "htmlfile"), ("callback", "1a")],
            &[("transport", "htmlfile"), ("callback", "")],
        ] {
            let error = choose(params, None).unwrap_err();
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST, "{params:?}");
        }
        let long = "a".repeat(65);
        assert!(choose(&[("transport", "htmlfile"), ("callback", &long)], None).is_err());
    }
}
