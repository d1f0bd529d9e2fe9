//! Who may read private updates.
//!
//! Public updates reach every matching subscriber. A `private` update reaches a subscriber only
//! when its [`ReadAccess`] allows at least one of the update's topics; the same check runs on
//! replay, so history never leaks what a live subscription could not see. The authorization
//! layer (JWT claims) builds a `ReadAccess` per connection; without credentials a subscriber
//! gets [`ReadAccess::public_only`].

use std::sync::Arc;

use crate::event::Event;
use crate::matcher::Matcher;

/// The private topics a subscriber may read.
#[derive(Debug, Clone, Default)]
pub struct ReadAccess {
    private_topics: Arc<[Matcher]>,
}

impl ReadAccess {
    /// Public updates only.
    pub fn public_only() -> Self {
        Self::default()
    }

    /// Public updates, plus private updates having a topic selected by one of `matchers`.
    pub fn with_private(matchers: Vec<Matcher>) -> Self {
        Self { private_topics: matchers.into() }
    }

    /// True when it grants no private topic at all (no token, or one without subscribe rights).
    pub fn is_public_only(&self) -> bool {
        self.private_topics.is_empty()
    }

    /// True when one of the subscriber's private matchers selects `topic` (what reading a
    /// private resource named by a topic, such as a subscription's, requires).
    pub fn allows_topic(&self, topic: &str) -> bool {
        self.private_topics.iter().any(|m| m.matches(topic))
    }

    /// True when the subscriber may receive `event`.
    pub fn allows(&self, event: &Event) -> bool {
        !event.private || event.topics.iter().any(|t| self.private_topics.iter().any(|m| m.matches(t)))
    }
}
