//! Presence across the nodes sharing one log.
//!
//! Every node's subscription events go through the shared log, so every node sees every other
//! node's joins and leaves; each document names its `node`. Besides, each node publishes, every
//! heartbeat, a snapshot of its own subscriptions on `{hub}/nodes/{node}` (private, typed
//! `mercure`, in pages of [`PAGE`]), so a node that starts learns the others' subscriptions within
//! one heartbeat, and one whose events were lost catches up. Each node follows those topics with
//! an internal subscription and keeps a view per remote node; a node not heard from for
//! [`MISSED`] heartbeats (killed, cut off) is dropped from the view, so its subscribers disappear
//! from this node's API.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use herald_core::{Cursor, Hub, Matcher, ReadAccess};
use parking_lot::Mutex;
use serde_json::{json, Value};

use super::events::encode;
use super::{Active, MatcherKey, Presence};

/// Subscriptions per snapshot event.
const PAGE: usize = 500;
/// Heartbeats a node may miss before it is taken for gone (by its events' publication times:
/// nodes' clocks are taken to agree within a heartbeat or so).
pub(crate) const MISSED: u32 = 3;

/// What this node knows of the others' subscriptions.
#[derive(Debug)]
pub(crate) struct Remote {
    nodes: Mutex<HashMap<Arc<str>, NodeView>>,
    /// How long a node may stay silent (by the publication times of its events) and still count.
    silence_ms: u64,
}

/// One node's subscriptions, by matcher and subscriber.
type Subscriptions = HashMap<(MatcherKey, Arc<str>), Active>;

#[derive(Debug)]
struct NodeView {
    /// When its newest event was published, in ms since the epoch: the events' own times, so
    /// that reading old ones again (a replay) does not keep a dead node alive.
    last_seen_ms: u64,
    /// The snapshot being received (its pages), replacing `subscriptions` when complete.
    partial: Option<(String, Subscriptions)>,
    subscriptions: Subscriptions,
}

impl NodeView {
    fn new(seen_ms: u64) -> Self {
        Self { last_seen_ms: seen_ms, partial: None, subscriptions: HashMap::new() }
    }
}

/// Reads a subscription document (as events and snapshots carry it).
fn active_of(doc: &Value) -> Option<Active> {
    let match_type = match doc.get("match_type")?.as_str()? {
        "exact" => "exact",
        "urlpattern" => "urlpattern",
        "topic" => "topic",
        "channel" => "channel",
        _ => return None,
    };
    Some(Active {
        matcher: MatcherKey { match_type, value: doc.get("match")?.as_str()?.into() },
        subscriber: doc.get("subscriber")?.as_str()?.into(),
        payload: doc.get("payload").cloned().map(Arc::new),
    })
}

impl Remote {
    /// A view in which a node silent for `silence` is gone.
    pub(crate) fn new(silence: Duration) -> Self {
        Self { nodes: Mutex::default(), silence_ms: u64::try_from(silence.as_millis()).unwrap_or(u64::MAX) }
    }

    /// Takes in one hub event of the reserved namespace, published at `published_ms`, unless it
    /// is `own` node's.
    pub(crate) fn apply(&self, own: &str, doc: &Value, published_ms: u64) {
        let Some(node) = doc.get("node").and_then(Value::as_str).filter(|node| *node != own) else {
            return;
        };
        let mut nodes = self.nodes.lock();
        let view = nodes.entry(node.into()).or_insert_with(|| NodeView::new(published_ms));
        view.last_seen_ms = view.last_seen_ms.max(published_ms);
        match doc.get("type").and_then(Value::as_str) {
            Some("subscription") => {
                let Some(active) = active_of(doc) else { return };
                let key = (active.matcher.clone(), active.subscriber.clone());
                if doc.get("active").and_then(Value::as_bool) == Some(true) {
                    view.subscriptions.insert(key, active);
                } else {
                    view.subscriptions.remove(&key);
                }
            }
            Some("node") => {
                let (Some(snapshot), Some(page), Some(pages)) = (
                    doc.get("snapshot").and_then(Value::as_str),
                    doc.get("page").and_then(Value::as_u64),
                    doc.get("pages").and_then(Value::as_u64),
                ) else {
                    return;
                };
                if page == 0 || view.partial.as_ref().is_none_or(|(id, _)| id != snapshot) {
                    view.partial = Some((snapshot.to_owned(), HashMap::new()));
                }
                if let Some((_, partial)) = view.partial.as_mut() {
                    for active in
                        doc.get("subscriptions").and_then(Value::as_array).into_iter().flatten().filter_map(active_of)
                    {
                        partial.insert((active.matcher.clone(), active.subscriber.clone()), active);
                    }
                }
                if page + 1 >= pages {
                    if let Some((_, complete)) = view.partial.take() {
                        view.subscriptions = complete;
                    }
                }
            }
            _ => {}
        }
    }

    fn alive(&self, view: &NodeView, now_ms: u64) -> bool {
        now_ms.saturating_sub(view.last_seen_ms) <= self.silence_ms
    }

    /// Forgets the nodes silent for too long at `now_ms`.
    pub(crate) fn expire(&self, now_ms: u64) {
        self.nodes.lock().retain(|_, view| self.alive(view, now_ms));
    }

    /// How many of the live other nodes' subscriptions use `matcher`.
    pub(crate) fn count(&self, matcher: &MatcherKey) -> usize {
        let now_ms = herald_core::retention::now_ms();
        let nodes = self.nodes.lock();
        let live = nodes.values().filter(|view| self.alive(view, now_ms));
        live.map(|view| view.subscriptions.keys().filter(|(m, _)| m == matcher).count()).sum()
    }

    /// The live other nodes' subscriptions, of one matcher or all.
    pub(crate) fn list(&self, matcher: Option<&MatcherKey>) -> Vec<Active> {
        let now_ms = herald_core::retention::now_ms();
        let nodes = self.nodes.lock();
        nodes
            .values()
            .filter(|view| self.alive(view, now_ms))
            .flat_map(|view| view.subscriptions.values())
            .filter(|active| matcher.is_none_or(|m| &active.matcher == m))
            .cloned()
            .collect()
    }

    /// One of the live other nodes' subscriptions.
    pub(crate) fn get(&self, matcher: &MatcherKey, subscriber: &str) -> Option<Active> {
        let key = (matcher.clone(), Arc::<str>::from(subscriber));
        let now_ms = herald_core::retention::now_ms();
        let nodes = self.nodes.lock();
        nodes.values().filter(|view| self.alive(view, now_ms)).find_map(|view| view.subscriptions.get(&key).cloned())
    }
}

/// The topic of `node`'s snapshots.
pub(crate) fn node_topic(hub_path: &str, node: &str) -> String {
    format!("{hub_path}/nodes/{}", encode(node))
}

/// Starts following the other nodes' presence, and publishing this node's snapshot every
/// `heartbeat`, on `hub` (a node of a shared log).
pub(crate) fn start(hub: Arc<Hub>, presence: &Arc<Presence>, runtime: &tokio::runtime::Handle, heartbeat: Duration) {
    let hub_path = hub.config().hub_url.path().trim_end_matches('/').to_owned();
    let pattern = format!("{hub_path}/**");
    let namespace = move || Matcher::channel_pattern(&pattern);
    if namespace().is_err() {
        tracing::warn!("cannot follow other nodes' presence: the hub path {hub_path} is not a channel");
        return;
    }
    let weak = Arc::downgrade(presence);
    let follow_hub = hub.clone();
    runtime.spawn(async move {
        let mut cursor = None;
        loop {
            let (Ok(reading), Ok(selecting)) = (namespace(), namespace()) else { return };
            let access = ReadAccess::with_private(vec![reading]);
            tracing::debug!("following the cluster's presence");
            let Ok(mut subscription) = follow_hub.subscribe(vec![selecting], access, cursor.clone()).await else {
                tokio::time::sleep(heartbeat).await;
                continue;
            };
            // Its own feed ended (too slow, a store failure): resume where it was.
            while let Ok(event) = subscription.recv().await {
                cursor = Some(Cursor::Position(event.seq));
                let Some(presence) = weak.upgrade() else { return };
                if event.event_type.as_deref() != Some("mercure") {
                    continue;
                }
                if let (Ok(doc), Some(remote)) = (serde_json::from_str::<Value>(&event.data), presence.remote.as_ref())
                {
                    remote.apply(&presence.node, &doc, event.published_ms);
                }
            }
            if weak.strong_count() == 0 || follow_hub.is_draining() {
                return;
            }
        }
    });
    let weak = Arc::downgrade(presence);
    runtime.spawn(async move {
        let mut tick = tokio::time::interval(heartbeat);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(presence) = weak.upgrade() else { return };
            if let Some(remote) = &presence.remote {
                remote.expire(herald_core::retention::now_ms());
            }
            let mine = presence.list_local();
            let snapshot = super::new_subscriber_id();
            let pages = mine.len().div_ceil(PAGE).max(1);
            let topic = node_topic(&hub_path, &presence.node);
            for page in 0..pages {
                let docs: Vec<Value> = mine
                    .iter()
                    .skip(page * PAGE)
                    .take(PAGE)
                    .map(|active| super::events::document(&hub_path, active, true))
                    .collect();
                let doc = json!({
                    "type": "node", "node": &*presence.node, "snapshot": &*snapshot,
                    "page": page, "pages": pages, "subscriptions": docs,
                });
                if let Err(e) = hub.publish_valid(super::events::hub_event(topic.clone(), &doc)).await {
                    tracing::warn!("publishing this node's presence failed: {e}");
                    break;
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(node: &str, matcher: &str, subscriber: &str, active: bool) -> Value {
        json!({"type": "subscription", "node": node, "match_type": "exact", "match": matcher, "subscriber": subscriber, "active": active})
    }

    #[test]
    fn other_nodes_joins_leaves_and_snapshots_make_the_view_and_silent_nodes_leave_it() {
        let remote = Remote::new(Duration::from_secs(3600));
        let now = herald_core::retention::now_ms();
        remote.apply("me", &doc("me", "/t", "mine", true), now);
        remote.apply("me", &doc("b", "/t", "s1", true), now);
        remote.apply("me", &doc("b", "/t", "s2", true), now);
        remote.apply("me", &doc("b", "/t", "s1", false), now);
        let t = MatcherKey { match_type: "exact", value: "/t".into() };
        let subscribers: Vec<_> = remote.list(Some(&t)).into_iter().map(|a| a.subscriber).collect();
        assert_eq!(subscribers, [Arc::from("s2")], "its own node's events are not remote");
        // A snapshot in two pages replaces what was known, once complete.
        let page = |n: u64, subs: &[&str]| {
            let docs: Vec<Value> = subs.iter().map(|s| doc("c", "/u", s, true)).collect();
            json!({"type": "node", "node": "c", "snapshot": "x", "page": n, "pages": 2, "subscriptions": docs})
        };
        remote.apply("me", &page(0, &["a"]), now);
        let u = MatcherKey { match_type: "exact", value: "/u".into() };
        assert!(remote.list(Some(&u)).is_empty(), "half a snapshot is not taken");
        remote.apply("me", &page(1, &["b"]), now);
        assert_eq!(remote.list(Some(&u)).len(), 2);
        assert_eq!((remote.count(&u), remote.count(&t)), (2, 1));
        assert!(remote.get(&u, "a").is_some());
        remote.apply("me", &doc("b", "/t", "s3", true), now - 7_200_000);
        assert_eq!(remote.list(Some(&t)).len(), 2, "an old event read again does not move its node back");
        remote.expire(now + 3_600_001);
        assert!(remote.list(None).is_empty(), "nodes silent for too long are gone");
        let quick = Remote::new(Duration::from_millis(10));
        quick.apply("me", &doc("d", "/t", "old", true), now - 1_000);
        assert!(quick.list(None).is_empty(), "a silent node does not count even before it is swept");
    }
}
