//! Subscribing: authorization, the matcher limit, the matchers' validity, then the hub, which
//! replays what the cursor missed and registers the live feed.

use std::sync::Arc;

use herald_core::{Cursor, Matcher, Subscription};

use super::failure::{Limit, SubscribeFailure};
use crate::auth::{AuthError, ReadRights};
use crate::AppState;

/// Who is subscribing: decided once per request, or per WebSocket connection.
#[derive(Debug)]
pub(crate) struct Subscriber {
    rights: Result<ReadRights, AuthError>,
    /// Its identifier in the subscriptions API and events, made on first use: one per
    /// connection (or request), shared by its subscriptions.
    id: std::sync::OnceLock<Arc<str>>,
    /// Whether its subscriptions are a series of requests, so that presence keeps them for a
    /// while after each one ends (long-polling, polling, Bayeux).
    lingering: bool,
}

impl Subscriber {
    /// A subscriber with these rights, or the reason it has none.
    pub(crate) fn new(rights: Result<ReadRights, AuthError>) -> Self {
        Self { rights, id: std::sync::OnceLock::new(), lingering: false }
    }

    /// A subscriber whose subscriptions are a series of requests, known as `id` in presence
    /// (none yet: one is made on first use).
    pub(crate) fn lingering(rights: Result<ReadRights, AuthError>, id: Option<Arc<str>>) -> Self {
        let known = std::sync::OnceLock::new();
        if let Some(id) = id {
            let _ = known.set(id);
        }
        Self { rights, id: known, lingering: true }
    }

    /// Its identifier for presence.
    pub(crate) fn id(&self) -> Arc<str> {
        self.id.get_or_init(crate::presence::new_subscriber_id).clone()
    }

    /// Why this subscriber may not subscribe at all, if it may not.
    pub(crate) fn refusal(&self) -> Option<&AuthError> {
        self.rights.as_ref().err()
    }
}

/// How a matcher's value selects topics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MatchKind {
    /// Exactly this topic, byte for byte (`match`, `match_exact`).
    Exact,
    /// A URL Pattern (`match_urlpattern`).
    UrlPattern,
    /// The Mercure 0.x `topic`: an exact topic, `*`, or an RFC 6570 URI template.
    Topic,
    /// A Bayeux channel or channel pattern (`/a/*`, `/a/**`).
    Channel,
}

impl MatchKind {
    /// The kind a parameter (or WebSocket field) name asks for: `None` for a name that is not a
    /// matcher; an error for an unsupported name in the reserved `match` namespace, so that a
    /// misspelled matcher type fails loudly.
    pub(crate) fn from_param(name: &str) -> Result<Option<Self>, SubscribeFailure> {
        Ok(Some(match name {
            "match" | "match_exact" => Self::Exact,
            "match_urlpattern" => Self::UrlPattern,
            "topic" => Self::Topic,
            other if other.len() >= 5 && other.as_bytes()[..5].eq_ignore_ascii_case(b"match") => {
                return Err(SubscribeFailure::Malformed(format!(
                    "unsupported matcher parameter {other:?}: use match, match_exact, match_urlpattern or topic"
                )));
            }
            _ => return Ok(None),
        }))
    }

    fn param(self) -> &'static str {
        match self {
            Self::Exact => "match",
            Self::UrlPattern => "match_urlpattern",
            Self::Topic => "topic",
            Self::Channel => "subscription",
        }
    }
}

/// One matcher as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MatcherSpec {
    /// How it selects.
    pub kind: MatchKind,
    /// The topic, pattern or template.
    pub value: String,
}

/// What a subscriber asks for, as its transport read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SubscribeRequest {
    /// The topic matchers (at least one).
    pub matchers: Vec<MatcherSpec>,
    /// Where to resume, if anywhere.
    pub cursor: Option<Cursor>,
}

impl SubscribeRequest {
    /// Adds the matcher a parameter carries, if it is a matcher parameter; returns whether it was.
    pub(crate) fn take_param(&mut self, name: &str, value: &str) -> Result<bool, SubscribeFailure> {
        match MatchKind::from_param(name)? {
            Some(kind) => {
                self.matchers.push(MatcherSpec { kind, value: value.to_owned() });
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Subscribes: authorization, the matcher limit, each matcher's validity, then the hub. The
/// subscription ends by itself when the subscriber's token expires.
pub(crate) async fn subscribe(
    state: &AppState,
    subscriber: &Subscriber,
    request: SubscribeRequest,
) -> Result<Subscription, SubscribeFailure> {
    let rights = subscriber.rights.as_ref().map_err(|e| SubscribeFailure::Auth(e.clone()))?;
    let max = state.config.limits.max_matchers;
    if request.matchers.len() > max {
        return Err(SubscribeFailure::TooLarge(Limit::Matchers { max }.rejected()));
    }
    if request.matchers.is_empty() {
        return Err(SubscribeFailure::NoMatcher);
    }
    let hub_url = &state.hub.config().hub_url;
    // Joins presence once the subscription exists (its feed holds the guard, so it leaves when
    // the feed is dropped).
    let presence = state.presence.as_ref().map(|presence| {
        let specs: Vec<_> =
            request.matchers.iter().map(|spec| (spec.clone(), rights.payload_for(&spec.value))).collect();
        (presence, specs)
    });
    let matchers = request
        .matchers
        .into_iter()
        .map(|spec| {
            let parsed = match spec.kind {
                MatchKind::Exact => Matcher::exact(&spec.value),
                MatchKind::UrlPattern => Matcher::url_pattern(&spec.value, hub_url),
                MatchKind::Topic => Matcher::legacy_topic(&spec.value),
                MatchKind::Channel => Matcher::channel_pattern(&spec.value),
            };
            parsed.map_err(|error| SubscribeFailure::InvalidMatcher {
                param: spec.kind.param(),
                value: spec.value,
                error,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut subscription = state
        .hub
        .subscribe(matchers, rights.access.clone(), request.cursor)
        .await
        .map_err(|e| SubscribeFailure::Unavailable(Arc::new(e)))?;
    if let Some(deadline) = rights.deadline() {
        subscription.expire_at(deadline);
    }
    if let Some((presence, specs)) = presence {
        subscription.hold(Box::new(presence.join(subscriber.id(), &specs, subscriber.lingering)));
    }
    Ok(subscription)
}
