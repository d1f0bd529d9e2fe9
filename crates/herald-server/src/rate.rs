//! Publish rate limiting, per publisher.
//!
//! A publisher is its token's subject (`sub`) when it has one, else its client address. Each gets
//! a token bucket (the `governor` crate's GCRA): `N` publishes per period, in bursts of up to `N`.
//! Past it, a publish is refused with `429 Too Many Requests` and `Retry-After`, and nothing is
//! published. Buckets of publishers gone quiet are dropped by `PublishRate::forget_idle`.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// A rate as configured: `count` publishes per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Publishes allowed per period, and the largest burst.
    pub count: NonZeroU32,
    /// The period.
    pub period: Duration,
}

impl Rate {
    /// The token bucket: `count` per `period`, in bursts of up to `count`.
    pub(crate) fn quota(self) -> Quota {
        let interval = self.period / self.count.get();
        Quota::with_period(interval.max(Duration::from_nanos(1)))
            .unwrap_or_else(|| Quota::per_second(self.count))
            .allow_burst(self.count)
    }
}

impl std::str::FromStr for Rate {
    type Err = String;

    /// Reads `100/s`, `6000/min` or `100000/h`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("invalid rate {text:?}: write e.g. 100/s, 6000/min or 100000/h");
        let (count, unit) = text.split_once('/').ok_or_else(bad)?;
        let count = count.trim().parse::<u32>().ok().and_then(NonZeroU32::new).ok_or_else(bad)?;
        let period = match unit.trim() {
            "s" | "sec" | "second" => Duration::from_secs(1),
            "m" | "min" | "minute" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            _ => return Err(bad()),
        };
        Ok(Self { count, period })
    }
}

/// Who is publishing, for rate limiting.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum PublisherKey {
    /// The token's subject (`sub`).
    Subject(String),
    /// The client's address, for tokens without a subject and open hubs.
    Address(IpAddr),
    /// Neither is known (in-process callers).
    Unknown,
}

/// A publish refused by the rate limit: retry after this many seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RateLimited {
    /// Whole seconds until the publisher's bucket allows one more, at least 1.
    pub retry_after: u64,
}

/// Why the rest of a batch was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchRefused {
    /// The publisher is over its rate now.
    Limited(RateLimited),
    /// The batch is larger than the bucket ever holds, `max` publishes: it could never pass.
    TooLarge {
        /// The bucket's size.
        max: usize,
    },
}

/// The limiter shared by every transport.
pub(crate) struct PublishRate {
    limiter: DefaultKeyedRateLimiter<PublisherKey>,
    /// The largest burst a bucket allows.
    burst: u32,
}

impl std::fmt::Debug for PublishRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublishRate").finish_non_exhaustive()
    }
}

impl PublishRate {
    /// A limiter allowing `rate` to each publisher.
    pub(crate) fn new(rate: Rate) -> Self {
        Self { limiter: DefaultKeyedRateLimiter::keyed(rate.quota()), burst: rate.count.get() }
    }

    /// Takes one publish from `publisher`'s bucket, or says when to retry.
    pub(crate) fn check(&self, publisher: &PublisherKey) -> Result<(), RateLimited> {
        self.limiter.check_key(publisher).map_err(|not_until| Self::limited(&not_until))
    }

    /// For a batch of `total` publishes whose first [`check`](Self::check) already took: takes
    /// the others from `publisher`'s bucket, or refuses them all.
    pub(crate) fn check_rest_of_batch(&self, publisher: &PublisherKey, total: usize) -> Result<(), BatchRefused> {
        let too_large = BatchRefused::TooLarge { max: self.burst as usize };
        let rest = u32::try_from(total.saturating_sub(1)).map_err(|_| too_large)?;
        if rest >= self.burst {
            return Err(too_large);
        }
        let Some(rest) = NonZeroU32::new(rest) else {
            return Ok(());
        };
        match self.limiter.check_key_n(publisher, rest) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(BatchRefused::Limited(Self::limited(&not_until))),
            Err(governor::InsufficientCapacity(max)) => Err(BatchRefused::TooLarge { max: max as usize }),
        }
    }

    fn limited(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> RateLimited {
        crate::metrics::limit_rejected("publish_rate");
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs().saturating_add(u64::from(wait.subsec_nanos() > 0));
        RateLimited { retry_after: seconds.max(1) }
    }

    /// Drops the buckets of publishers whose bucket is full again (nothing to remember).
    pub(crate) fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rates() {
        assert_eq!("100/s".parse::<Rate>().unwrap().period, Duration::from_secs(1));
        assert_eq!("6000/min".parse::<Rate>().unwrap().count.get(), 6000);
        for bad in ["", "100", "0/s", "-1/s", "10/fortnight", "x/s"] {
            assert!(bad.parse::<Rate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn refuses_past_the_burst_per_publisher() {
        let rate = PublishRate::new("3/min".parse().unwrap());
        let alice = PublisherKey::Subject("alice".into());
        for _ in 0..3 {
            assert!(rate.check(&alice).is_ok());
        }
        let refused = rate.check(&alice).unwrap_err();
        assert!((1..=20).contains(&refused.retry_after), "{refused:?}");
        assert!(rate.check(&PublisherKey::Subject("bob".into())).is_ok(), "others are not affected");
    }
}
