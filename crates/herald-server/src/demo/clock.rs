//! The demo clock: a `server-time` event with the hub's time every second.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use herald_core::{Hub, Update};

/// The topic of the demo clock.
pub(crate) const TOPIC: &str = "/demo/clock";
/// The event type of the demo clock's events.
pub(crate) const EVENT: &str = "server-time";

/// Publishes the time every second, on the second, until the process ends.
pub(crate) async fn run(hub: Arc<Hub>) {
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let millis = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        let update = Update {
            topics: vec![TOPIC.to_owned()],
            data: millis.to_string(),
            event_type: Some(EVENT.to_owned()),
            ..Default::default()
        };
        if let Err(e) = hub.publish(update).await {
            tracing::warn!("demo clock: {e}");
        }
    }
}
