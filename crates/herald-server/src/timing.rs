//! Overflow-safe timer arithmetic for durations that come from outside (configuration, a
//! token's `exp`): adding such a duration to an `Instant` must never panic.

use std::time::Duration;

use tokio::time::Instant;

/// Beyond any timer that matters: an instant this far ahead never fires in practice.
const FAR: Duration = Duration::from_secs(30 * 365 * 24 * 3600);

/// The instant `delay` after `from`, or a far one when `delay` is beyond the clock's range.
pub(crate) fn add(from: Instant, delay: Duration) -> Instant {
    from.checked_add(delay).or_else(|| from.checked_add(FAR)).unwrap_or(from)
}

/// The instant `delay` from now (see [`add`]).
pub(crate) fn after(delay: Duration) -> Instant {
    add(Instant::now(), delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_delays_saturate_instead_of_panicking() {
        let now = Instant::now();
        assert!(add(now, Duration::MAX) > now + Duration::from_secs(3600));
        assert_eq!(add(now, Duration::from_secs(5)), now + Duration::from_secs(5));
    }
}
