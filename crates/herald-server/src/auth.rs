//! Who may publish and what a subscriber may read.
//!
//! Every transport asks the [`Authorizer`] before publishing or subscribing, so that rights are
//! decided in one place. Authorization is not configured yet: publishing is open to anyone who
//! can reach the hub, and subscribers read public updates only (private updates reach nobody).
//! JWT verification will plug in here without changing the transports.

use axum::http::HeaderMap;
use herald_core::ReadAccess;

use crate::config::ServerConfig;
use crate::error::ApiError;

/// Decides the rights of each request.
#[derive(Debug, Default)]
pub struct Authorizer {}

impl Authorizer {
    pub fn from_config(_config: &ServerConfig) -> Self {
        Self {}
    }

    /// Checks that the request may publish to every one of `topics`.
    pub fn authorize_publish(&self, _headers: &HeaderMap, _topics: &[String]) -> Result<(), ApiError> {
        Ok(())
    }

    /// The read rights of a subscriber.
    pub fn read_access(&self, _headers: &HeaderMap) -> Result<ReadAccess, ApiError> {
        Ok(ReadAccess::public_only())
    }
}
