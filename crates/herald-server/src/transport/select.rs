//! Which transport a subscription request asks for, and what it subscribes to: the one reading
//! of a `GET` on the hub that every path shares (the router, and the listener deciding which
//! connections take the lean event-stream path).
//!
//! - a WebSocket upgrade: the WebSocket transport (decided by the router, not here);
//! - no `transport` parameter: Server-Sent Events, or NDJSON when the `Accept` header asks for
//!   `application/x-ndjson`; `transport=sse` and `transport=ndjson` say it explicitly;
//! - `transport=htmlfile` (with `callback`): the forever frame;
//! - `transport=long-poll` (with `timeout`, in seconds, default 30, at most `--long-poll-max`)
//!   and `transport=poll` (no wait): one JSON batch per request.
//!
//! Matchers come from `match` / `match_exact`, `match_urlpattern` and the 0.x `topic`; any other
//! parameter in the reserved `match` namespace is refused. The cursor comes from the
//! `Last-Event-ID` header, else the `last_event_id` (0.x: `lastEventID`) parameter.

use std::time::Duration;

use axum::http::{header, HeaderMap};
use herald_core::Cursor;

use super::htmlfile::HtmlFile;
use super::sse::Sse;
use crate::config::ServerConfig;
use crate::form;
use crate::ops::{SubscribeFailure, SubscribeRequest};

/// How long a long-poll waits for events when the request names no `timeout`.
pub(crate) const DEFAULT_LONG_POLL_TIMEOUT: Duration = Duration::from_secs(30);

/// The transport of a subscription that is not a WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Transport {
    /// Server-Sent Events.
    Sse(Sse),
    /// Newline-delimited JSON.
    Ndjson,
    /// The forever frame.
    HtmlFile(HtmlFile),
    /// One batch per request, waiting up to `timeout` when there are no events yet.
    Poll {
        /// How long to wait; zero for plain polling.
        timeout: Duration,
    },
}

/// A subscription request and the transport it asks for.
#[derive(Debug)]
pub(crate) struct Selected {
    pub(crate) request: SubscribeRequest,
    pub(crate) transport: Transport,
    /// A polling client's presence handle (`presence`), from its previous answer.
    pub(crate) presence: Option<String>,
}

/// The transport parameters of a query string, as given.
#[derive(Debug, Default)]
struct TransportParams {
    transport: Option<String>,
    timeout: Option<String>,
    callback: Option<String>,
}

impl TransportParams {
    /// Keeps `name=value` if it is a transport parameter; returns false otherwise.
    fn take(&mut self, name: &str, value: &str) -> bool {
        let slot = match name {
            "transport" => &mut self.transport,
            "timeout" => &mut self.timeout,
            "callback" => &mut self.callback,
            _ => return false,
        };
        slot.get_or_insert_with(|| value.to_owned());
        true
    }

    /// Whether the response stays open (any transport but the polling ones).
    fn streams(&self) -> bool {
        !matches!(self.transport.as_deref(), Some("long-poll" | "poll"))
    }

    fn choose(self, headers: &HeaderMap, config: &ServerConfig) -> Result<Transport, SubscribeFailure> {
        let bad = |message: &str| SubscribeFailure::Malformed(message.to_owned());
        let name = match self.transport.as_deref() {
            Some(name) => name,
            None if accepts_ndjson(headers) => "ndjson",
            None => "sse",
        };
        if self.timeout.is_some() && !matches!(name, "long-poll" | "poll") {
            return Err(bad("timeout is only for transport=long-poll"));
        }
        if self.callback.is_some() && name != "htmlfile" {
            return Err(bad("callback is only for transport=htmlfile"));
        }
        let timeout = self.timeout.as_deref().map(timeout).transpose()?;
        Ok(match name {
            "sse" => Transport::Sse(Sse { retry: config.retry.map(|retry| jittered(retry, config.retry_jitter)) }),
            "ndjson" => Transport::Ndjson,
            "htmlfile" => Transport::HtmlFile(HtmlFile::new(self.callback).map_err(SubscribeFailure::Malformed)?),
            "long-poll" => {
                Transport::Poll { timeout: timeout.unwrap_or(DEFAULT_LONG_POLL_TIMEOUT).min(config.long_poll_max) }
            }
            "poll" => match timeout {
                None | Some(Duration::ZERO) => Transport::Poll { timeout: Duration::ZERO },
                Some(_) => return Err(bad("transport=poll does not wait: use transport=long-poll")),
            },
            other => {
                return Err(SubscribeFailure::Malformed(format!(
                    "unknown transport {other:?}: use sse, ndjson, htmlfile, long-poll or poll (or a WebSocket upgrade)"
                )))
            }
        })
    }
}

/// Reads a subscription request: matchers, cursor and transport.
pub(crate) fn select(query: &str, headers: &HeaderMap, config: &ServerConfig) -> Result<Selected, SubscribeFailure> {
    let mut request = SubscribeRequest::default();
    let mut query_cursor = None;
    let mut params = TransportParams::default();
    let mut presence = None;
    for (name, value) in form::parse(query.as_bytes()).map_err(SubscribeFailure::Malformed)? {
        if params.take(&name, &value) {
            continue;
        }
        if name == "presence" {
            presence.get_or_insert(value);
        } else if name == "last_event_id" || name == "lastEventID" {
            query_cursor.get_or_insert(value);
        } else {
            request.take_param(&name, &value)?;
        }
    }
    let header_cursor = match headers.get("last-event-id") {
        Some(v) => Some(
            std::str::from_utf8(v.as_bytes())
                .map_err(|_| SubscribeFailure::Malformed("Last-Event-ID header is not valid UTF-8".into()))?
                .to_owned(),
        ),
        None => None,
    };
    request.cursor =
        header_cursor.filter(|v| !v.is_empty()).or(query_cursor.filter(|v| !v.is_empty())).map(|v| Cursor::parse(&v));
    let transport = params.choose(headers, config)?;
    Ok(Selected { request, transport, presence })
}

/// Whether a request's path and query (as its `Uri` has them, so as the router reads them) are
/// a subscription whose response streams, as opposed to a poll (whose response ends, and whose
/// client reuses the connection), another path, or a query this reading refuses (answered with
/// its error by the router).
pub(crate) fn streams(path: &str, query: &str) -> bool {
    if path != super::PATH {
        return false;
    }
    let Ok(pairs) = form::parse(query.as_bytes()) else {
        return false;
    };
    let mut params = TransportParams::default();
    for (name, value) in &pairs {
        params.take(name, value);
    }
    params.streams()
}

/// `retry` plus a random share of up to `percent` of it.
fn jittered(retry: Duration, percent: u16) -> Duration {
    let extra = retry.as_secs_f64() * f64::from(percent) / 100.0 * fastrand::f64();
    Duration::try_from_secs_f64(extra).ok().and_then(|extra| retry.checked_add(extra)).unwrap_or(retry)
}

fn accepts_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|media| media.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-ndjson")))
}

/// A number of seconds; one too large for a `Duration` is the longest one (cut to
/// `--long-poll-max` by the caller anyway).
fn timeout(text: &str) -> Result<Duration, SubscribeFailure> {
    text.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::try_from_secs_f64(s).unwrap_or(Duration::MAX))
        .ok_or_else(|| {
            SubscribeFailure::Malformed(format!("timeout={text:?}: give a number of seconds, e.g. timeout=30"))
        })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;
    use crate::ops::{MatchKind, MatcherSpec};

    fn config() -> ServerConfig {
        ServerConfig { retry: None, long_poll_max: Duration::from_secs(60), ..ServerConfig::default() }
    }

    fn choose(params: &[(&str, &str)], accept: Option<&str>) -> Result<Transport, SubscribeFailure> {
        let query: Vec<String> = [("match", "t")].iter().chain(params).map(|(n, v)| format!("{n}={v}")).collect();
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept {
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
        }
        select(&query.join("&"), &headers, &config()).map(|s| s.transport)
    }

    fn read(query: &str, last_event_id: Option<&str>) -> Result<SubscribeRequest, SubscribeFailure> {
        let mut headers = HeaderMap::new();
        if let Some(id) = last_event_id {
            headers.insert("last-event-id", HeaderValue::from_str(id).unwrap());
        }
        select(query, &headers, &config()).map(|s| s.request)
    }

    #[test]
    fn picks_the_transport() {
        let sse = Transport::Sse(Sse { retry: None });
        assert_eq!(choose(&[], None).unwrap(), sse);
        assert_eq!(choose(&[], Some("text/plain, application/x-ndjson;q=0.9")).unwrap(), Transport::Ndjson);
        assert_eq!(choose(&[("transport", "ndjson")], None).unwrap(), Transport::Ndjson);
        assert_eq!(
            choose(&[("transport", "htmlfile")], None).unwrap(),
            Transport::HtmlFile(HtmlFile::new(None).unwrap())
        );
        let long_poll = |params| choose(params, None).unwrap();
        assert_eq!(long_poll(&[("transport", "long-poll")]), Transport::Poll { timeout: DEFAULT_LONG_POLL_TIMEOUT });
        assert_eq!(
            long_poll(&[("transport", "long-poll"), ("timeout", "2.5")]),
            Transport::Poll { timeout: Duration::from_millis(2500) }
        );
        assert_eq!(
            long_poll(&[("transport", "long-poll"), ("timeout", "9999")]),
            Transport::Poll { timeout: Duration::from_secs(60) }
        );
        assert_eq!(
            long_poll(&[("transport", "long-poll"), ("timeout", "1.7e308")]),
            Transport::Poll { timeout: Duration::from_secs(60) },
            "a number of seconds too large for a Duration is cut to the longest wait too"
        );
        assert_eq!(long_poll(&[("transport", "poll")]), Transport::Poll { timeout: Duration::ZERO });
        assert_eq!(long_poll(&[("transport", "poll"), ("timeout", "0")]), Transport::Poll { timeout: Duration::ZERO });
    }

    #[test]
    fn refuses_bad_transport_parameters() {
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
            &[("transport", "htmlfile"), ("callback", "")],
        ] {
            assert!(matches!(choose(params, None), Err(SubscribeFailure::Malformed(_))), "{params:?}");
        }
    }

    #[test]
    fn reads_matchers_and_the_cursor() {
        let r = read("match=a&match_exact=b&match_urlpattern=/x/:id&topic=/y/{id}&other=1", None).unwrap();
        let kinds: Vec<MatchKind> = r.matchers.iter().map(|m| m.kind).collect();
        assert_eq!(kinds, [MatchKind::Exact, MatchKind::Exact, MatchKind::UrlPattern, MatchKind::Topic]);
        assert_eq!(r.matchers[3], MatcherSpec { kind: MatchKind::Topic, value: "/y/{id}".into() });
        assert_eq!(r.cursor, None);
        assert_eq!(read("match=a&last_event_id=q", Some("h")).unwrap().cursor, Some(Cursor::After("h".into())));
        assert_eq!(read("match=a&last_event_id=q", None).unwrap().cursor, Some(Cursor::After("q".into())));
        assert_eq!(read("match=a&lastEventID=earliest", None).unwrap().cursor, Some(Cursor::Earliest));
        for bad in ["match_regex=x", "MATCHES=x", "match=%FF"] {
            assert!(matches!(read(bad, None), Err(SubscribeFailure::Malformed(_))), "{bad}");
        }
    }

    #[test]
    fn the_retry_advice_is_spread() {
        let base = Duration::from_secs(2);
        let advised: Vec<Duration> = (0..50).map(|_| jittered(base, 50)).collect();
        assert!(advised.iter().all(|r| *r >= base && *r <= base + base / 2), "{advised:?}");
        assert!(advised.iter().any(|r| *r != advised[0]), "not all the same: {advised:?}");
        assert_eq!(jittered(base, 0), base);
        assert_eq!(jittered(Duration::MAX, 100), Duration::MAX, "no overflow");
    }

    #[test]
    fn streams_are_told_from_polls_and_other_paths() {
        assert!(streams("/.well-known/mercure", "topic=a"));
        assert!(streams("/.well-known/mercure", "topic=a&transport=ndjson"));
        assert!(!streams("/.well-known/mercure", "topic=a&transport=long-poll"));
        assert!(!streams("/.well-known/mercure", "topic=a&transport=poll"));
        assert!(!streams("/.well-known/mercure", "topic=%FF"), "refused by the router, with its error");
        assert!(!streams("/.well-known/mercure/subscriptions", ""));
        assert!(!streams("/", ""));
    }
}
