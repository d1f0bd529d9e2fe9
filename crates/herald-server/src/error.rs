//! HTTP error responses: a status code and a short plain-text message saying what to fix.
//!
//! The operations layer's failures are mapped here, once, for every HTTP transport: each
//! [`FailureKind`] has its status, authorization failures get their RFC 6750 challenge, a rate
//! limit its `Retry-After`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::auth::AuthError;
use crate::ops::{FailureKind, PublishFailure, SubscribeFailure};

pub(crate) const CHALLENGE: &str = "Bearer realm=\"herald\"";
const CHALLENGE_INVALID_TOKEN: &str = "Bearer realm=\"herald\", error=\"invalid_token\"";
const CHALLENGE_INSUFFICIENT_SCOPE: &str = "Bearer realm=\"herald\", error=\"insufficient_scope\"";
const CHALLENGE_INVALID_REQUEST: &str = "Bearer realm=\"herald\", error=\"invalid_request\"";

/// An error answered to the client as `text/plain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// What to fix, in one line.
    pub message: String,
    /// A `WWW-Authenticate` challenge, for authorization failures (RFC 6750).
    pub challenge: Option<&'static str>,
    /// Seconds to wait before trying again (`Retry-After`), for rate limits.
    pub retry_after: Option<u64>,
    /// The methods served (`Allow`), for a `405`.
    pub allow: Option<&'static str>,
}

impl ApiError {
    /// An error with this status and message.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), challenge: None, retry_after: None, allow: None }
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub(crate) fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// Adds a `Retry-After`, in seconds.
    pub(crate) fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn of_kind(kind: FailureKind, message: String) -> Self {
        let status = match kind {
            FailureKind::BadRequest => StatusCode::BAD_REQUEST,
            FailureKind::Unauthorized => StatusCode::UNAUTHORIZED,
            FailureKind::Forbidden => StatusCode::FORBIDDEN,
            FailureKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            FailureKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            FailureKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        };
        Self::new(status, message)
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        let challenge = match &e {
            AuthError::MissingToken(_) => Some(CHALLENGE),
            AuthError::InvalidToken | AuthError::UnknownKey(_) | AuthError::Expired => Some(CHALLENGE_INVALID_TOKEN),
            AuthError::MalformedHeader => Some(CHALLENGE_INVALID_REQUEST),
            AuthError::InsufficientScope { .. } => Some(CHALLENGE_INSUFFICIENT_SCOPE),
            AuthError::CookieOrigin { .. } => None,
        };
        let error = Self::of_kind(e.kind(), e.to_string());
        match challenge {
            Some(challenge) => error.with_challenge(challenge),
            None => error,
        }
    }
}

impl From<PublishFailure> for ApiError {
    fn from(failure: PublishFailure) -> Self {
        match failure {
            PublishFailure::Auth(e) => e.into(),
            // The status and headers of the refused update, the message naming its place.
            PublishFailure::InBatch { failure: ref inner, .. } => {
                Self { message: failure.to_string(), ..Self::from(inner.as_ref().clone()) }
            }
            PublishFailure::RateLimited { retry_after } => {
                Self::of_kind(failure.kind(), failure.to_string()).with_retry_after(retry_after)
            }
            PublishFailure::Unavailable(_) | PublishFailure::ShuttingDown => {
                Self::of_kind(failure.kind(), failure.to_string()).with_retry_after(1)
            }
            other => Self::of_kind(other.kind(), other.to_string()),
        }
    }
}

impl From<SubscribeFailure> for ApiError {
    fn from(failure: SubscribeFailure) -> Self {
        match failure {
            SubscribeFailure::Auth(e) => e.into(),
            SubscribeFailure::Unavailable(_) => Self::of_kind(failure.kind(), failure.to_string()).with_retry_after(1),
            other => Self::of_kind(other.kind(), other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.message;
        body.push('\n');
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        if let Some(challenge) = self.challenge {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(allow) = self.allow {
            headers.insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        response
    }
}
