//! The `Host` header rule of RFC 9112 §3.2: an HTTP/1.1 request without exactly one valid `Host`
//! header is answered `400 Bad Request`, whichever path serves it (hyper, or the listener's own
//! head reader for event streams). HTTP/1.0 requests may omit it; HTTP/2 carries the authority
//! in its `:authority` pseudo-header instead.

use axum::extract::Request;
use axum::http::{header, uri::Authority, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Refuses an HTTP/1.1 request whose `Host` is missing, repeated or not an authority.
pub(crate) async fn require_host(request: Request, next: Next) -> Response {
    if request.version() == Version::HTTP_11 {
        if let Err(message) = check(&request) {
            return ApiError::new(axum::http::StatusCode::BAD_REQUEST, message).into_response();
        }
    }
    next.run(request).await
}

pub(crate) fn check(request: &Request) -> Result<(), &'static str> {
    let mut hosts = request.headers().get_all(header::HOST).iter();
    let Some(host) = hosts.next() else {
        return Err("missing Host header: HTTP/1.1 requests must name the host (RFC 9112)");
    };
    if hosts.next().is_some() {
        return Err("more than one Host header: send exactly one (RFC 9112)");
    }
    let valid = host
        .to_str()
        .ok()
        .and_then(|text| text.parse::<Authority>().ok())
        .is_some_and(|authority| !authority.as_str().contains('@') && !authority.host().is_empty());
    if valid {
        Ok(())
    } else {
        Err("invalid Host header: give host[:port] (RFC 9112)")
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;

    use super::*;

    fn request(version: Version, hosts: &[&str]) -> Request {
        let mut builder = axum::http::Request::builder().uri("/healthz").version(version);
        for host in hosts {
            builder = builder.header(header::HOST, *host);
        }
        builder.body(Body::empty()).unwrap()
    }

    #[test]
    fn exactly_one_valid_host() {
        assert!(check(&request(Version::HTTP_11, &["hub.example:8080"])).is_ok());
        assert!(check(&request(Version::HTTP_11, &["[::1]:80"])).is_ok());
        for hosts in [&[][..], &["a", "b"], &["a b"], &["user@hub"], &[""], &["hub/path"]] {
            assert!(check(&request(Version::HTTP_11, hosts)).is_err(), "{hosts:?}");
        }
    }
}
