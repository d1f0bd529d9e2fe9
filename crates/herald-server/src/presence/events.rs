//! Subscription events: each subscription that starts or ends becomes a private update on its
//! own topic, `{hub path}/subscriptions/{match_type}/{match}/{subscriber}` (each variable
//! percent-encoded once, as a whole), typed `mercure`, whose data is the subscription's document.
//!
//! Joining and leaving never wait for a publish: changes go into a bounded queue, and one task
//! publishes what is queued as one batch (one durable write), in the order of the changes. When
//! the queue is full (a storm of connections faster than the store), the change is not published
//! and counted in `herald_subscription_events_dropped_total`; the registry, and so the API,
//! stays exact.

use std::sync::Arc;
use std::time::Duration;

use herald_core::{Hub, Update};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::{Active, MatcherKey};

/// Changes waiting to be published before new ones are dropped.
const QUEUE: usize = 65_536;
/// Most changes in one published batch.
const BATCH: usize = 1_000;

/// Everything but RFC 3986's unreserved characters is encoded.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes one variable of a subscription URL, whole.
pub(crate) fn encode(value: &str) -> String {
    utf8_percent_encode(value, COMPONENT).to_string()
}

/// The path of the resource for `matcher` (a collection) under `hub_path`.
pub(crate) fn matcher_path(hub_path: &str, matcher: &MatcherKey) -> String {
    match matcher.match_type {
        // The legacy form, for the legacy `topic` parameter: /subscriptions/{topic}.
        "topic" => format!("{hub_path}/subscriptions/{}", encode(&matcher.value)),
        match_type => format!("{hub_path}/subscriptions/{match_type}/{}", encode(&matcher.value)),
    }
}

/// The topic of a subscription's events, which is also its resource's path.
pub(crate) fn topic(hub_path: &str, active: &Active) -> String {
    format!("{}/{}", matcher_path(hub_path, &active.matcher), encode(&active.subscriber))
}

/// A subscription's JSON document.
pub(crate) fn document(hub_path: &str, active: &Active, is_active: bool) -> Value {
    let mut doc = json!({
        "id": topic(hub_path, active),
        "type": "subscription",
        "match_type": active.matcher.match_type,
        "match": &*active.matcher.value,
        "subscriber": &*active.subscriber,
        "active": is_active,
    });
    if active.matcher.match_type == "topic" {
        // What the legacy documents called the matcher.
        doc["topic"] = Value::from(&*active.matcher.value);
    }
    if let Some(payload) = &active.payload {
        doc["payload"] = (**payload).clone();
    }
    doc
}

/// One join or leave: the subscription, whether it starts, and how many subscribers its matcher
/// has right after.
type Change = (Active, bool, usize);

/// Where joins and leaves go to be published.
#[derive(Debug)]
pub(crate) struct Sink {
    tx: mpsc::Sender<Change>,
}

impl Sink {
    /// Queues `changes` (each with its matcher's count after it; all starting when `active`,
    /// else all ending), dropping what does not fit.
    pub(crate) fn send(&self, changes: Vec<(Active, usize)>, active: bool) {
        for (change, count) in changes {
            if self.tx.try_send((change, active, count)).is_err() {
                crate::metrics::subscription_event_dropped();
            }
        }
    }
}

/// A hub event in the reserved namespace: private, typed `mercure`.
pub(crate) fn hub_event(topic: String, data: &Value) -> herald_core::ValidUpdate {
    let update = Update {
        topics: vec![topic],
        data: data.to_string(),
        private: true,
        event_type: Some("mercure".into()),
        ..Update::default()
    };
    update.into_hub_event()
}

/// What changed on one matcher during a coalescing interval.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Subscribers at the end of the interval.
    pub count: usize,
    pub joined: usize,
    pub left: usize,
}

/// The summary event of `matcher`: on its collection's path, `{"id", "type": "subscriptions",
/// "match_type", "match", "count", "joined", "left"}`.
pub(crate) fn summary_document(hub_path: &str, matcher: &MatcherKey, summary: Summary) -> Value {
    json!({
        "id": matcher_path(hub_path, matcher),
        "type": "subscriptions",
        "match_type": matcher.match_type,
        "match": &*matcher.value,
        "count": summary.count,
        "joined": summary.joined,
        "left": summary.left,
    })
}

/// Adds `changes` to the interval's summaries.
pub(crate) fn summarize(summaries: &mut std::collections::HashMap<MatcherKey, Summary>, changes: &mut Vec<Change>) {
    for (active, starts, count) in changes.drain(..) {
        let summary = summaries.entry(active.matcher).or_default();
        if starts {
            summary.joined += 1;
        } else {
            summary.left += 1;
        }
        summary.count = count;
    }
}

/// Starts the task that publishes subscription events on `hub`; it ends when the sink is
/// dropped. With `coalesce`, it publishes instead, at most once per interval and matcher, one
/// summary event of what changed (for rooms where thousands come and go).
pub(crate) fn start(
    hub: Arc<Hub>,
    runtime: &tokio::runtime::Handle,
    coalesce: Option<Duration>,
    node: Arc<str>,
) -> Sink {
    let (tx, mut rx) = mpsc::channel::<Change>(QUEUE);
    runtime.spawn(async move {
        let hub_path = hub.config().hub_url.path().trim_end_matches('/').to_owned();
        let mut changes = Vec::with_capacity(BATCH);
        let publish = |updates: Vec<herald_core::ValidUpdate>| {
            let hub = hub.clone();
            async move {
                if let Err(e) = hub.publish_batch_valid(updates).await {
                    tracing::warn!("publishing subscription events failed: {e}");
                }
            }
        };
        // A zero interval means none (and `interval` wants a period).
        let Some(every) = coalesce.filter(|every| !every.is_zero()) else {
            while rx.recv_many(&mut changes, BATCH).await > 0 {
                let updates = changes
                    .drain(..)
                    .map(|(active, starts, _)| {
                        let mut doc = document(&hub_path, &active, starts);
                        // Which node it is on: the other nodes of a cluster keep their view by node.
                        doc["node"] = Value::from(&*node);
                        hub_event(topic(&hub_path, &active), &doc)
                    })
                    .collect();
                publish(updates).await;
            }
            return;
        };
        let mut summaries = std::collections::HashMap::new();
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Changes are summed up as they come; each tick publishes what the interval summed.
            let (flush, open) = tokio::select! {
                received = rx.recv_many(&mut changes, BATCH) => {
                    summarize(&mut summaries, &mut changes);
                    (received == 0, received > 0)
                }
                _ = tick.tick() => (true, true),
            };
            if flush && !summaries.is_empty() {
                let updates = summaries
                    .drain()
                    .map(|(matcher, summary)| {
                        hub_event(matcher_path(&hub_path, &matcher), &summary_document(&hub_path, &matcher, summary))
                    })
                    .collect();
                publish(updates).await;
            }
            if !open {
                return;
            }
        }
    });
    Sink { tx }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_and_documents_follow_the_specs_example() {
        let active = Active {
            matcher: MatcherKey { match_type: "urlpattern", value: "https://example.com/:selector".into() },
            subscriber: "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6".into(),
            payload: Some(Arc::new(json!({"foo": "bar"}))),
        };
        let expected = json!({
           "id": "/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2F%3Aselector/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6",
           "type": "subscription",
           "match_type": "urlpattern",
           "match": "https://example.com/:selector",
           "subscriber": "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6",
           "active": true,
           "payload": {"foo": "bar"}
        });
        assert_eq!(document("/.well-known/mercure", &active, true), expected);
        assert_eq!(topic("/.well-known/mercure", &active), expected["id"].as_str().unwrap());
    }

    #[test]
    fn an_interval_sums_up_to_one_summary_per_matcher_with_the_last_count() {
        let on = |m: &str, s: &str| Active {
            matcher: MatcherKey { match_type: "exact", value: m.into() },
            subscriber: s.into(),
            payload: None,
        };
        let mut changes = vec![
            (on("/room", "a"), true, 1),
            (on("/room", "b"), true, 2),
            (on("/hall", "a"), true, 1),
            (on("/room", "a"), false, 1),
        ];
        let mut summaries = std::collections::HashMap::new();
        summarize(&mut summaries, &mut changes);
        assert!(changes.is_empty());
        let room = MatcherKey { match_type: "exact", value: "/room".into() };
        assert_eq!(summaries[&room], Summary { count: 1, joined: 2, left: 1 });
        assert_eq!(summaries.len(), 2);
        let doc = summary_document("/.well-known/mercure", &room, summaries[&room]);
        assert_eq!(
            doc,
            json!({"id": "/.well-known/mercure/subscriptions/exact/%2Froom", "type": "subscriptions", "match_type": "exact",
                   "match": "/room", "count": 1, "joined": 2, "left": 1})
        );
    }

    #[test]
    fn each_variable_is_encoded_once_whole_and_the_legacy_topic_keeps_its_form() {
        let active = Active {
            matcher: MatcherKey { match_type: "topic", value: "/a b/%41".into() },
            subscriber: "s".into(),
            payload: None,
        };
        assert_eq!(topic("/hub", &active), "/hub/subscriptions/%2Fa%20b%2F%2541/s");
        let doc = document("/hub", &active, false);
        assert_eq!(
            (doc["topic"].as_str(), doc["active"].as_bool(), doc.get("payload")),
            (Some("/a b/%41"), Some(false), None)
        );
    }
}
