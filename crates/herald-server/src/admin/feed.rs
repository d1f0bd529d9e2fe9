//! Publishes the dashboard's figures on its reserved topic, once a second, while it is watched.
//!
//! Watched means that a subscriber allowed to read [`super::TOPIC`] names it on this node (the
//! dashboard page does). On a cluster, a node also publishes while another node's dashboard is watched, so
//! that every open dashboard shows every node: each node follows the topic, and another node's
//! figures that report watchers keep it publishing for [`REMOTE_WATCH`]. A node publishing only
//! because of another's watchers reports none, so two nodes never keep each other going.
//! Unwatched, a tick reads a few counters and publishes nothing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use herald_core::{Matcher, ReadAccess, Update};
use parking_lot::Mutex;
use serde_json::Value;

use super::figures::{Sampler, Source};
use super::TOPIC;
use crate::AppState;

/// How often the figures are read and published.
const EVERY: Duration = Duration::from_secs(1);
/// How long another node's watched figures keep this node publishing.
const REMOTE_WATCH: Duration = Duration::from_secs(3);
/// The figures' event type.
pub(crate) const EVENT: &str = "figures";

/// Starts publishing for the node listening on `port`, until the hub is dropped or drains (the
/// task holds it only while it publishes). Must be called inside a Tokio runtime.
pub(crate) fn start(state: AppState, port: u16) {
    let watched_elsewhere = Arc::new(Mutex::new(None::<Instant>));
    let mut sampler = Sampler::new(&state.hub, port);
    if state.hub.shared_log_readable().is_some() {
        tokio::spawn(follow(state.clone(), sampler.node().to_owned(), watched_elsewhere.clone()));
    }
    let weak = Arc::downgrade(&state.hub);
    let (presence, config) = (state.presence.clone(), state.config.clone());
    drop(state);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            every.tick().await;
            let Some(hub) = weak.upgrade().filter(|hub| !hub.is_draining()) else { return };
            let watchers = hub.readers_naming(TOPIC);
            let elsewhere = watched_elsewhere.lock().is_some_and(|at| at.elapsed() < REMOTE_WATCH);
            if watchers == 0 && !elsewhere {
                sampler.skip(&hub);
                continue;
            }
            let source = Source { hub: &hub, presence: presence.as_deref(), store: &config.store };
            let figures = sampler.sample(&source, watchers);
            let data = match serde_json::to_string(&figures) {
                Ok(data) => data,
                Err(e) => {
                    tracing::warn!("dashboard figures not encoded: {e}");
                    continue;
                }
            };
            let update = Update {
                topics: vec![TOPIC.to_owned()],
                data,
                event_type: Some(EVENT.to_owned()),
                private: true,
                ..Update::default()
            };
            if let Err(e) = hub.publish_valid(update.into_hub_event()).await {
                tracing::debug!("dashboard figures not published: {e}");
            }
        }
    });
}

/// Follows the other nodes' figures, noting when one reports watchers.
async fn follow(state: AppState, node: String, watched_elsewhere: Arc<Mutex<Option<Instant>>>) {
    // A pattern, so that this subscription is not counted as a watcher.
    let namespace = format!("{}/**", herald_core::HUB_PATH);
    loop {
        let (Ok(selecting), Ok(reading)) = (Matcher::channel_pattern(&namespace), Matcher::exact(TOPIC)) else {
            return;
        };
        let subscription = state.hub.subscribe(vec![selecting], ReadAccess::with_private(vec![reading]), None).await;
        if let Ok(mut subscription) = subscription {
            while let Ok(event) = subscription.recv().await {
                if event.event_type.as_deref() != Some(EVENT) || !event.topics.iter().any(|t| t == TOPIC) {
                    continue;
                }
                let Ok(figures) = serde_json::from_str::<Value>(&event.data) else { continue };
                let other = figures.get("node").and_then(Value::as_str).is_some_and(|n| n != node);
                let watched = figures.get("watchers").and_then(Value::as_u64).is_some_and(|w| w > 0);
                if other && watched {
                    *watched_elsewhere.lock() = Some(Instant::now());
                }
            }
        }
        if state.hub.is_draining() {
            return;
        }
        tokio::time::sleep(EVERY).await;
    }
}
