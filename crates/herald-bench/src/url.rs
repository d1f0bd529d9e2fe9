//! The few URL operations the load generator needs: where to connect, and the request target.

use std::net::{SocketAddr, ToSocketAddrs};

/// The socket address of an `http://` or `ws://` URL (loopback names resolve locally).
pub(crate) fn socket_addr(base: &str) -> Result<SocketAddr, String> {
    let url = url::Url::parse(base).map_err(|e| format!("{base}: {e}"))?;
    let host = url.host_str().ok_or_else(|| format!("{base}: no host"))?;
    let port = url.port_or_known_default().ok_or_else(|| format!("{base}: no port"))?;
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("{base}: {e}"))?
        .next()
        .ok_or_else(|| format!("{base}: the host has no address"))
}

/// The path part of `base` (without a trailing slash), to prefix request targets with.
pub(crate) fn path_prefix(base: &str) -> String {
    url::Url::parse(base).map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default()
}

/// `value` percent-encoded for a query string or a form body.
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
