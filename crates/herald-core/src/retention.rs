//! How much history to keep: by number of events, by age, and by total size.
//!
//! The same limits apply to the in-memory history and to a durable store; each is checked as
//! events are appended, so history never grows past them, and replay skips events that have
//! aged out since.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Retention limits; `None` means unlimited on that axis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct Retention {
    /// Most events kept for replay to reconnecting clients.
    #[cfg_attr(
        feature = "clap",
        arg(
            id = "history_size",
            long = "history-size",
            env = "HERALD_HISTORY_SIZE",
            value_name = "EVENTS",
            default_value = crate::config::default_text(Retention::default().max_events)
        )
    )]
    pub max_events: Option<u64>,
    /// Drop events older than this from history, e.g. `24h`; unset, events never age out.
    #[cfg_attr(
        feature = "clap",
        arg(
            id = "history_max_age",
            long = "history-max-age",
            env = "HERALD_HISTORY_MAX_AGE",
            value_name = "DURATION",
            value_parser = crate::config::parse_duration,
            default_value = crate::config::default_text(Retention::default().max_age.map(humantime::format_duration))
        )
    )]
    pub max_age: Option<Duration>,
    /// Keep history under this many bytes; unset, no size limit.
    #[cfg_attr(
        feature = "clap",
        arg(
            id = "history_max_bytes",
            long = "history-max-bytes",
            env = "HERALD_HISTORY_MAX_BYTES",
            value_name = "BYTES",
            default_value = crate::config::default_text(Retention::default().max_bytes)
        )
    )]
    pub max_bytes: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Self { max_events: Some(10_000), max_age: None, max_bytes: None }
    }
}

impl Retention {
    /// True when an event published at `published_ms` is too old at `now_ms`.
    pub fn expired(&self, published_ms: u64, now_ms: u64) -> bool {
        self.max_age.is_some_and(|age| now_ms.saturating_sub(published_ms) > age.as_millis() as u64)
    }

    /// True when a history of `events` events totalling `bytes` must drop its oldest.
    pub fn over(&self, events: u64, bytes: u64) -> bool {
        self.max_events.is_some_and(|max| events > max) || self.max_bytes.is_some_and(|max| bytes > max)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_apply_on_each_axis() {
        let r = Retention { max_events: Some(3), max_age: Some(Duration::from_secs(10)), max_bytes: Some(100) };
        assert!(!r.over(3, 100));
        assert!(r.over(4, 0));
        assert!(r.over(1, 101));
        assert!(!r.expired(1_000, 11_000));
        assert!(r.expired(1_000, 11_001));
        let unlimited = Retention { max_events: None, max_age: None, max_bytes: None };
        assert!(!unlimited.over(u64::MAX, u64::MAX));
        assert!(!unlimited.expired(0, u64::MAX));
    }
}
