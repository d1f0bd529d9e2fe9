//! Publishing: authorization and rate first ([`admit`]), then limits, validation and rights
//! ([`Admitted::publish`]), then the hub, which answers once the event is durable.
//!
//! A batch ([`Admitted::publish_batch`]) is many updates in one request: each costs one publish
//! of the rate and is checked as a single one would be; if any is refused, none is published
//! (the failure names its place), and the hub makes them durable in one write.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use herald_core::{Event, PublishError, Update, ValidUpdate};

use super::failure::{Limit, PublishFailure};
use crate::auth::{AuthError, PublishRights};
use crate::config::Limits;
use crate::rate::BatchRefused;
use crate::AppState;

/// Who is publishing: decided once per request (HTTP) or per connection (WebSocket).
#[derive(Debug)]
pub(crate) struct Publisher {
    rights: Result<PublishRights, AuthError>,
    client: Option<IpAddr>,
}

impl Publisher {
    /// A publisher with these rights (or the reason it has none), from `client`'s address.
    pub(crate) fn new(rights: Result<PublishRights, AuthError>, client: Option<IpAddr>) -> Self {
        Self { rights, client }
    }
}

/// A publisher that passed authorization and its rate: its update comes next.
#[derive(Debug)]
pub(crate) struct Admitted<'a> {
    state: &'a AppState,
    publisher: &'a Publisher,
    rights: &'a PublishRights,
    /// When the publisher was admitted: the start of its acknowledgement latency.
    since: Instant,
}

/// Checks authorization, then takes one publish from the publisher's rate. A transport calls
/// it before reading its input, so an unauthorized or too-fast client learns nothing about its
/// request's validity and costs no parsing.
pub(crate) fn admit<'a>(state: &'a AppState, publisher: &'a Publisher) -> Result<Admitted<'a>, PublishFailure> {
    let rights = publisher.rights.as_ref().map_err(|e| PublishFailure::Auth(e.clone()))?;
    if let Some(rate) = &state.publish_rate {
        rate.check(&rights.publisher_key(publisher.client))
            .map_err(|limited| PublishFailure::RateLimited { retry_after: limited.retry_after })?;
    }
    Ok(Admitted { state, publisher, rights, since: Instant::now() })
}

impl Admitted<'_> {
    /// Checks the limits, the protocol's rules and the publisher's rights on the topics, then
    /// publishes; returns the event once the hub holds it (durably, with the disk store).
    pub(crate) async fn publish(self, update: Update) -> Result<Arc<Event>, PublishFailure> {
        let update = self.check(update)?;
        let event = self.state.hub.publish_valid(update).await.map_err(failure)?;
        crate::metrics::histogram::PUBLISH_ACK.observe(self.since.elapsed());
        tracing::debug!(id = %event.id, topics = ?event.topics, "published");
        Ok(event)
    }

    /// Publishes `updates` as one: each checked as [`publish`](Self::publish) checks one, and
    /// each taking one publish of the rate (the first was taken on admission); `place(i)` names
    /// update `i` in the request for a failure. All are published, or none. Returns the events
    /// in the order given.
    pub(crate) async fn publish_batch(
        self,
        updates: Vec<Update>,
        place: impl Fn(usize) -> String,
    ) -> Result<Vec<Arc<Event>>, PublishFailure> {
        if updates.is_empty() {
            return Err(PublishFailure::Malformed("the batch holds no update".into()));
        }
        check_batch_size(updates.len(), &self.state.config.limits)?;
        if let Some(rate) = &self.state.publish_rate {
            let key = self.rights.publisher_key(self.publisher.client);
            rate.check_rest_of_batch(&key, updates.len()).map_err(|refused| match refused {
                BatchRefused::Limited(limited) => PublishFailure::RateLimited { retry_after: limited.retry_after },
                // More than the bucket ever holds could never be published: too large, not too fast.
                BatchRefused::TooLarge { max } => Limit::BatchUpdates { max }.rejected().into(),
            })?;
        }
        let checked = updates
            .into_iter()
            .enumerate()
            .map(|(i, update)| {
                self.check(update).map_err(|e| PublishFailure::InBatch { place: place(i), failure: Box::new(e) })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let events = self.state.hub.publish_batch_valid(checked).await.map_err(failure)?;
        crate::metrics::histogram::PUBLISH_ACK.observe(self.since.elapsed());
        tracing::debug!(events = events.len(), "published a batch");
        Ok(events)
    }

    /// The limits, the protocol's rules and the publisher's rights on the topics.
    fn check(&self, update: Update) -> Result<ValidUpdate, PublishFailure> {
        check_limits(&update, &self.state.config.limits)?;
        let update = update.into_valid(&self.state.hub.config().hub_url).map_err(PublishFailure::Invalid)?;
        self.rights.check(&update.get().topics)?;
        Ok(update)
    }
}

/// The operations layer's reading of the hub's refusal.
fn failure(e: PublishError) -> PublishFailure {
    match e {
        PublishError::Invalid(e) => PublishFailure::Invalid(e),
        PublishError::Storage(e) => PublishFailure::Unavailable(e),
        PublishError::Closed => PublishFailure::ShuttingDown,
    }
}

/// Refuses more updates than one batch may hold; parsers call it as they go, so a flood of
/// lines is refused before it is all collected.
pub(crate) fn check_batch_size(count: usize, limits: &Limits) -> Result<(), Limit> {
    let max = limits.max_batch_updates;
    if count > max {
        return Err(Limit::BatchUpdates { max }.rejected());
    }
    Ok(())
}

/// Refuses an update past the field-length and topic-count limits.
pub(crate) fn check_limits(update: &Update, limits: &Limits) -> Result<(), Limit> {
    check_topic_count(update.topics.len(), limits)?;
    let max = limits.max_field_bytes;
    let fields = update.topics.iter().map(|t| ("topic", t)).chain(update.id.iter().map(|i| ("id", i)));
    for (field, value) in fields.chain(update.event_type.iter().map(|t| ("type", t))) {
        if value.len() > max {
            return Err(Limit::FieldSize { field, max }.rejected());
        }
    }
    Ok(())
}

/// Refuses more topics than one update may have; parsers call it as they go, so a flood of
/// topics is refused before it is all collected.
pub(crate) fn check_topic_count(count: usize, limits: &Limits) -> Result<(), Limit> {
    let max = limits.max_topics_per_publish;
    if count > max {
        return Err(Limit::TopicsPerPublish { max }.rejected());
    }
    Ok(())
}

/// Reads a `retry` value given as text: digits only, fitting in 64 bits.
pub(crate) fn parse_retry(value: &str) -> Result<u64, PublishFailure> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PublishFailure::Malformed("\"retry\" must be a number of milliseconds (digits only)".into()));
    }
    value.parse().map_err(|_| PublishFailure::Malformed("\"retry\" is too large".into()))
}
