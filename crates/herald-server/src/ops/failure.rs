//! Why an operation was refused, as typed values every transport maps once.
//!
//! Each failure has a [`FailureKind`], the class of answer it deserves (an HTTP status, a
//! WebSocket error `code`, a Bayeux error string), and a short message saying what to fix.

use std::fmt;
use std::sync::Arc;

use herald_core::{MatcherError, StoreError, UpdateError};

use crate::auth::AuthError;

/// The class of a failure: what kind of answer the client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum FailureKind {
    /// The request is malformed or breaks a protocol rule (HTTP 400).
    BadRequest,
    /// Credentials are missing or invalid (HTTP 401).
    Unauthorized,
    /// The credentials do not grant the operation (HTTP 403).
    Forbidden,
    /// The request is over a size or count limit (HTTP 413).
    TooLarge,
    /// The publisher is over its rate (HTTP 429).
    RateLimited,
    /// The hub cannot do it now: its store failed or it is shutting down (HTTP 503).
    Unavailable,
}

impl FailureKind {
    /// A stable name, sent as the `code` of WebSocket error messages.
    pub(crate) fn code(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::TooLarge => "too_large",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
        }
    }
}

/// A size or count limit, named as in `herald_limit_rejections_total{limit}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    /// The publish body (`--max-body-bytes`).
    BodySize {
        /// The limit, in bytes.
        max: usize,
    },
    /// A topic, id or type value (`--max-field-bytes`).
    FieldSize {
        /// The field.
        field: &'static str,
        /// The limit, in bytes.
        max: usize,
    },
    /// Topics in one update (`--max-topics-per-publish`).
    TopicsPerPublish {
        /// The limit.
        max: usize,
    },
    /// Updates in one batch (`--max-batch-updates`, or the publisher's whole rate when that is
    /// smaller).
    BatchUpdates {
        /// The limit.
        max: usize,
    },
    /// Matchers in one subscription (`--max-matchers`).
    Matchers {
        /// The limit.
        max: usize,
    },
}

impl Limit {
    /// The metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::BodySize { .. } => "body_size",
            Self::FieldSize { .. } => "field_size",
            Self::TopicsPerPublish { .. } => "topics_per_publish",
            Self::BatchUpdates { .. } => "batch_updates",
            Self::Matchers { .. } => "matchers",
        }
    }

    /// Counts the rejection and returns the limit, for `map_err`.
    pub(crate) fn rejected(self) -> Self {
        crate::metrics::limit_rejected(self.label());
        self
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BodySize { max } => write!(f, "request body larger than {max} bytes"),
            Self::FieldSize { field, max } => write!(f, "field {field:?} is longer than {max} bytes"),
            Self::TopicsPerPublish { max } => write!(f, "more than {max} topics in one update"),
            Self::BatchUpdates { max } => write!(f, "more than {max} updates in one batch: split it"),
            Self::Matchers { max } => write!(f, "more than {max} topic matchers in one subscription"),
        }
    }
}

/// Why a publish was refused; nothing was published.
#[derive(Debug, Clone)]
pub(crate) enum PublishFailure {
    /// The credentials do not allow it.
    Auth(AuthError),
    /// The publisher is over its rate: retry after this many seconds.
    RateLimited {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// The update is over a limit.
    TooLarge(Limit),
    /// The input could not be read (not UTF-8, a bad `retry`, a wrong content type, ...).
    Malformed(String),
    /// The update breaks a protocol rule.
    Invalid(UpdateError),
    /// The store could not make the event durable; the publisher can retry.
    Unavailable(Arc<StoreError>),
    /// The hub is shutting down.
    ShuttingDown,
    /// One update of a batch was refused, so none of the batch was published.
    InBatch {
        /// Where the update is in the request: `line 3`, `updates[2]`.
        place: String,
        /// Why it was refused.
        failure: Box<PublishFailure>,
    },
}

impl PublishFailure {
    /// The class of answer.
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            Self::Auth(e) => e.kind(),
            Self::RateLimited { .. } => FailureKind::RateLimited,
            Self::TooLarge(_) => FailureKind::TooLarge,
            Self::Malformed(_) | Self::Invalid(_) => FailureKind::BadRequest,
            Self::Unavailable(_) | Self::ShuttingDown => FailureKind::Unavailable,
            Self::InBatch { failure, .. } => failure.kind(),
        }
    }
}

impl fmt::Display for PublishFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auth(e) => e.fmt(f),
            Self::RateLimited { .. } => f.write_str("publishing too fast: slow down (see Retry-After)"),
            Self::TooLarge(limit) => limit.fmt(f),
            Self::Malformed(message) => f.write_str(message),
            Self::Invalid(e) => e.fmt(f),
            Self::Unavailable(e) => write!(f, "could not store the event: {e}; nothing was published, retry"),
            Self::ShuttingDown => f.write_str("the hub is shutting down; retry in a moment"),
            Self::InBatch { place, failure } => write!(f, "{place}: {failure} (nothing of the batch was published)"),
        }
    }
}

impl From<AuthError> for PublishFailure {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl From<Limit> for PublishFailure {
    fn from(limit: Limit) -> Self {
        Self::TooLarge(limit)
    }
}

/// Why a subscription was refused.
#[derive(Debug, Clone)]
pub(crate) enum SubscribeFailure {
    /// The credentials do not allow it.
    Auth(AuthError),
    /// More matchers than allowed.
    TooLarge(Limit),
    /// The request could not be read (a parameter outside the matcher namespace, a bad
    /// transport parameter, a value that is not UTF-8, ...).
    Malformed(String),
    /// No topic matcher was given.
    NoMatcher,
    /// A matcher is invalid.
    InvalidMatcher {
        /// The parameter or field that carried it.
        param: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        error: MatcherError,
    },
    /// History could not be read from the store.
    Unavailable(Arc<StoreError>),
}

impl SubscribeFailure {
    /// The class of answer. A matcher limit is `400` here, as the Mercure protocol says.
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            Self::Auth(e) => e.kind(),
            Self::TooLarge(_) | Self::Malformed(_) | Self::NoMatcher | Self::InvalidMatcher { .. } => {
                FailureKind::BadRequest
            }
            Self::Unavailable(_) => FailureKind::Unavailable,
        }
    }
}

impl fmt::Display for SubscribeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Auth(e) => e.fmt(f),
            Self::TooLarge(limit) => limit.fmt(f),
            Self::Malformed(message) => f.write_str(message),
            Self::NoMatcher => f.write_str(
                "missing topic matcher: give \"match\" (a topic), \"match_urlpattern\" (a URL pattern) or \"topic\" (a topic or URI template)",
            ),
            Self::InvalidMatcher { param, value, error } => write!(f, "{param}={value:?}: {error}"),
            Self::Unavailable(e) => write!(f, "cannot read history: {e}"),
        }
    }
}

impl From<AuthError> for SubscribeFailure {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl AuthError {
    /// The class of answer.
    pub(crate) fn kind(&self) -> FailureKind {
        match self {
            Self::MissingToken(_) | Self::InvalidToken | Self::UnknownKey(_) | Self::Expired => {
                FailureKind::Unauthorized
            }
            Self::MalformedHeader => FailureKind::BadRequest,
            Self::InsufficientScope { .. } | Self::CookieOrigin { .. } => FailureKind::Forbidden,
        }
    }
}
