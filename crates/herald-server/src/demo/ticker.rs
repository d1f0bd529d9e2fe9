//! The demo stock ticker: made-up prices that wander, one `quote` event per move.
//!
//! Every quarter of a second one symbol moves by up to half a percent, published on
//! `/demo/stocks/<SYMBOL>` with the data `{"symbol":…,"price":…,"change":…}`; pages subscribe to
//! the template `/demo/stocks/{symbol}` (or to the symbols they show).

use std::sync::Arc;
use std::time::Duration;

use herald_core::{Hub, Update};

/// The topics' common prefix.
pub(crate) const TOPIC_PREFIX: &str = "/demo/stocks/";
/// The event type of a price move.
pub(crate) const EVENT: &str = "quote";

const SYMBOLS: [(&str, f64); 6] =
    [("HRLD", 120.0), ("ACME", 42.5), ("GLBX", 310.0), ("INIT", 8.75), ("ZETA", 57.2), ("NOVA", 1_020.0)];

/// Publishes price moves until the process ends.
pub(crate) async fn run(hub: Arc<Hub>) {
    let mut prices: Vec<f64> = SYMBOLS.iter().map(|(_, price)| *price).collect();
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        ticks.tick().await;
        let which = fastrand::usize(..SYMBOLS.len());
        let before = prices[which];
        let after = ((before * (1.0 + (fastrand::f64() - 0.5) / 100.0)) * 100.0).round() / 100.0;
        prices[which] = after;
        if let Err(e) = hub.publish(quote(SYMBOLS[which].0, after, after - before)).await {
            tracing::warn!("demo ticker: {e}");
        }
    }
}

fn quote(symbol: &str, price: f64, change: f64) -> Update {
    let data = serde_json::json!({
        "symbol": symbol,
        "price": price,
        "change": (change * 100.0).round() / 100.0,
    });
    Update {
        topics: vec![format!("{TOPIC_PREFIX}{symbol}")],
        data: data.to_string(),
        event_type: Some(EVENT.to_owned()),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_json_on_the_symbol_topic() {
        let update = quote("ACME", 42.57, 0.0700000001);
        assert_eq!(update.topics, ["/demo/stocks/ACME"]);
        let data: serde_json::Value = serde_json::from_str(&update.data).unwrap();
        assert_eq!(data, serde_json::json!({"symbol": "ACME", "price": 42.57, "change": 0.07}));
    }
}
