//! The hub's settings.
//!
//! With the `clap` feature, [`HubConfig`] (and the [`Retention`] in it) derives [`clap::Args`]:
//! each field's attribute names its flag and `HERALD_*` variable, and its doc comment is the
//! help. A program embeds the settings with `#[command(flatten)]`. The defaults are those of the
//! `Default` impls, which the attributes read, so each is written once and the crate builds
//! without clap.

use url::Url;

use crate::retention::Retention;

/// Settings of a hub.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct HubConfig {
    /// How much history is kept for replay.
    #[cfg_attr(feature = "clap", command(flatten))]
    pub retention: Retention,
    /// With a store (`--store disk`): newest events also kept in memory, so most resumptions read
    /// no disk. Without one, memory holds the whole history and this is unused.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "HERALD_CACHE_SIZE", value_name = "EVENTS", default_value_t = HubConfig::default().cache_size)
    )]
    pub cache_size: u64,
    /// Events queued per connection; a client that falls further behind is disconnected and
    /// catches up from history when it reconnects.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "HERALD_QUEUE_CAPACITY", value_name = "EVENTS", default_value_t = HubConfig::default().queue_capacity)
    )]
    pub queue_capacity: usize,
    /// Retry-safe publishing: a publish whose `id` was already accepted within this long is
    /// answered with that id and not delivered again, so a publisher may retry after a timeout
    /// or a failure without creating a duplicate. Unset: ids are not checked.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "HERALD_DEDUP_WINDOW", value_name = "DURATION", value_parser = parse_duration)
    )]
    pub dedup_window: Option<std::time::Duration>,
    /// The hub's public URL: relative topics and URL patterns resolve against it. Not a setting
    /// of its own: a server derives it from the URL clients reach it by.
    #[cfg_attr(feature = "clap", arg(skip = HubConfig::default().hub_url))]
    pub hub_url: Url,
    /// Nice value (−20 to 19, lower runs first) of the threads a publisher waits on: the store's
    /// writer and the publishing connections' runtime. Below the process's, publishes are
    /// answered promptly while the fan-out keeps the cores busy. Lowering it needs
    /// `CAP_SYS_NICE` or a nice limit (systemd: `LimitNICE=-10`); without either the threads
    /// keep the process's priority, said once. 0 is the usual priority.
    #[cfg_attr(
        feature = "clap",
        arg(long, env = "HERALD_PUBLISH_NICE", value_name = "NICE", allow_negative_numbers = true,
            default_value_t = HubConfig::default().publish_nice,
            value_parser = clap::value_parser!(i32).range(-20..=19))
    )]
    pub publish_nice: i32,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self {
            retention: Retention::default(),
            cache_size: 10_000,
            queue_capacity: 1_024,
            dedup_window: None,
            hub_url: Url::parse("http://localhost/.well-known/mercure").expect("static URL parses"),
            publish_nice: crate::priority::DEFAULT_PUBLISH_NICE,
        }
    }
}

/// Reads a duration flag's value: `15s`, `500ms`, `24h`, `1h 30m`.
#[cfg(feature = "clap")]
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e} (write e.g. 15s, 500ms or 24h)"))
}

/// A default value as clap takes it: its text, or no default for `None`.
#[cfg(feature = "clap")]
pub(crate) fn default_text(value: Option<impl ToString>) -> clap::builder::Resettable<clap::builder::OsStr> {
    value.map(|value| clap::builder::OsStr::from(value.to_string())).into()
}

#[cfg(all(test, feature = "clap"))]
mod tests {
    use clap::{Args, FromArgMatches};

    use super::*;

    fn parse(args: &[&str]) -> HubConfig {
        let command = HubConfig::augment_args(clap::Command::new("hub").no_binary_name(true))
            .mut_args(|arg| arg.env(None::<&str>));
        HubConfig::from_arg_matches(&command.try_get_matches_from(args).unwrap()).unwrap()
    }

    #[test]
    fn flags_default_to_the_default_impl() {
        assert_eq!(parse(&[]), HubConfig::default());
        let config = parse(&["--history-size", "3", "--history-max-age", "1h", "--queue-capacity", "7"]);
        assert_eq!(config.retention.max_events, Some(3));
        assert_eq!(config.retention.max_age, Some(std::time::Duration::from_secs(3600)));
        assert_eq!((config.retention.max_bytes, config.queue_capacity), (None, 7));
    }
}
