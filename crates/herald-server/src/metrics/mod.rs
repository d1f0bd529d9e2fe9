//! Prometheus metrics at `/metrics`.
//!
//! Counters that code paths increment (limit rejections, authorization failures) go through the
//! `metrics` facade into one process-wide Prometheus recorder. The hub's own figures (subscribers,
//! events published and delivered, overflows, history size) are read from
//! [`herald_core::Hub::stats`] at each scrape, so the publish path pays nothing for them; so is
//! the store's size. Latencies ([`histogram`]) and open connections by transport
//! ([`connections`]) are atomic counters of their own, rendered after the recorder's output.

pub(crate) mod connections;
pub(crate) mod histogram;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::AppState;

/// The process-wide recorder, installed on first use.
fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| match PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => {
                tracing::warn!("metrics disabled: {e}");
                None
            }
        })
        .as_ref()
}

/// Installs the recorder, so that counters incremented before the first scrape are kept.
pub(crate) fn init() {
    let _ = handle();
}

/// Requests refused by a limit, all limits together (for the dashboard; `/metrics` has them by
/// limit).
static LIMIT_REJECTIONS: AtomicU64 = AtomicU64::new(0);
/// Authorization failures, all reasons together.
static AUTH_FAILURES: AtomicU64 = AtomicU64::new(0);

/// Counts a request refused by a limit (`limit` names it, as in the README's table).
pub(crate) fn limit_rejected(limit: &'static str) {
    LIMIT_REJECTIONS.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("herald_limit_rejections_total", "limit" => limit).increment(1);
}

/// Counts an authorization failure by its RFC 6750 outcome.
pub(crate) fn auth_failed(reason: &'static str) {
    AUTH_FAILURES.fetch_add(1, Ordering::Relaxed);
    metrics::counter!("herald_auth_failures_total", "reason" => reason).increment(1);
}

/// The requests refused by a limit and the authorization failures since the process started.
pub(crate) fn refusals() -> (u64, u64) {
    (LIMIT_REJECTIONS.load(Ordering::Relaxed), AUTH_FAILURES.load(Ordering::Relaxed))
}

/// How many of the busiest topic matchers `herald_topic_subscribers` reports.
const BUSIEST_TOPICS: usize = 10;

/// A subscription event not published: its queue was full.
pub(crate) fn subscription_event_dropped() {
    metrics::counter!("herald_subscription_events_dropped_total").increment(1);
}

/// `GET /metrics`: the Prometheus text format; with `--metrics-token`, only for a request
/// bearing it.
pub(crate) async fn handle_scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        if !bears(&headers, &token.0) {
            let challenge = HeaderValue::from_static("Bearer realm=\"metrics\"");
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, challenge)],
                "a metrics token is required\n",
            )
                .into_response();
        }
    }
    let Some(handle) = handle() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "metrics are unavailable in this process\n").into_response();
    };
    let stats = state.hub.stats();
    metrics::gauge!("herald_subscribers").set(stats.subscribers as f64);
    metrics::gauge!("herald_history_events").set(stats.history_len as f64);
    metrics::counter!("herald_events_published_total").absolute(stats.published);
    metrics::counter!("herald_deliveries_total").absolute(stats.delivered);
    metrics::counter!("herald_subscribers_overflowed_total").absolute(stats.overflowed);
    if let Some(footprint) = state.hub.store_footprint() {
        metrics::gauge!("herald_store_events").set(footprint.events as f64);
        metrics::gauge!("herald_store_bytes").set(footprint.bytes as f64);
    }
    if let Some(presence) = &state.presence {
        for (matcher, count) in presence.busiest(BUSIEST_TOPICS) {
            let labels = [("match_type", matcher.match_type.to_owned()), ("match", matcher.value.to_string())];
            metrics::gauge!("herald_topic_subscribers", &labels).set(count as f64);
        }
    }
    if let Some(readable) = state.hub.shared_log_readable() {
        metrics::gauge!("herald_shared_log_readable").set(if readable { 1.0 } else { 0.0 });
    }
    let mut text = handle.render();
    histogram::PUBLISH_ACK.render(&mut text);
    histogram::PUBLISH_TO_WRITE.render(&mut text);
    connections::render(&mut text);
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

/// Whether `headers` carry `Authorization: Bearer <token>`, compared in time that does not
/// depend on where the two first differ.
fn bears(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (given, token) = (given.trim().as_bytes(), token.as_bytes());
    given.len() == token.len() && given.iter().zip(token).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            headers
        };
        assert!(bears(&with("Bearer s3cret"), "s3cret"));
        assert!(!bears(&with("Bearer s3cre"), "s3cret"));
        assert!(!bears(&with("Bearer s3cretx"), "s3cret"));
        assert!(!bears(&with("Basic s3cret"), "s3cret"));
        assert!(!bears(&HeaderMap::new(), "s3cret"));
    }
}
