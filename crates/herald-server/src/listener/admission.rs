//! Admission of new connections: the hub-wide and per-address connection counts, and the short
//! answer a connection over either limit gets.
//!
//! Counting happens in the accept loop, synchronously, under a mutex that is never held across an
//! `.await`; a [`Permit`] gives its place back when the connection ends, whichever task owns it
//! then (after a WebSocket upgrade, the WebSocket's).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, RateLimiter};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::rate::Rate;

/// Most refusals being written at once; past it, refused connections are closed without an answer,
/// so a flood of refused connections costs no more than that many small tasks.
const MAX_REFUSALS_IN_FLIGHT: usize = 256;

/// How long a refused client gets to read its answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// The connection counts, against their limits.
#[derive(Debug)]
pub(crate) struct Admission {
    max_connections: usize,
    max_per_ip: usize,
    /// New connections accepted per period, if limited (`--max-accept-rate`).
    accept_rate: Option<DefaultDirectRateLimiter>,
    counts: Mutex<Counts>,
    refusals_in_flight: AtomicUsize,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// `--max-connections` reached: `503`.
    Total,
    /// `--max-connections-per-ip` reached for the client's address: `429`.
    PerIp,
    /// `--max-accept-rate` reached: `503`, come back in a moment.
    Rate,
}

/// One admitted connection's place in the counts, given back on drop.
#[derive(Debug)]
pub(crate) struct Permit {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Permit {
    /// The client's address.
    pub(crate) fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Admission {
    pub(crate) fn new(max_connections: usize, max_per_ip: usize, accept_rate: Option<Rate>) -> Self {
        Self {
            max_connections,
            max_per_ip,
            accept_rate: accept_rate.map(|rate| RateLimiter::direct(rate.quota())),
            counts: Mutex::default(),
            refusals_in_flight: AtomicUsize::new(0),
        }
    }

    /// Counts a new connection from `ip`, or says which limit it is over.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Permit, Refusal> {
        let ip = ip.to_canonical();
        if self.accept_rate.as_ref().is_some_and(|rate| rate.check().is_err()) {
            return Err(Refusal::Rate);
        }
        let mut counts = self.counts.lock();
        if counts.total >= self.max_connections {
            return Err(Refusal::Total);
        }
        let from_ip = counts.per_ip.entry(ip).or_insert(0);
        if *from_ip >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *from_ip += 1;
        counts.total += 1;
        Ok(Permit { admission: self.clone(), ip })
    }

    /// Answers a refused plain-HTTP connection in a task of its own, then closes it; past
    /// [`MAX_REFUSALS_IN_FLIGHT`] it is closed at once.
    pub(crate) fn refuse(self: &Arc<Self>, stream: TcpStream, refusal: Refusal) {
        if self.refusals_in_flight.fetch_add(1, Ordering::Relaxed) >= MAX_REFUSALS_IN_FLIGHT {
            self.refusals_in_flight.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        let admission = self.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(REFUSAL_LINGER, answer(stream, refusal)).await;
            admission.refusals_in_flight.fetch_sub(1, Ordering::Relaxed);
        });
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut counts = self.admission.counts.lock();
        counts.total = counts.total.saturating_sub(1);
        if let Some(from_ip) = counts.per_ip.get_mut(&self.ip) {
            *from_ip = from_ip.saturating_sub(1);
            if *from_ip == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

impl Refusal {
    /// The label of `herald_limit_rejections_total`.
    pub(crate) fn limit(self) -> &'static str {
        match self {
            Refusal::Total => "connections",
            Refusal::PerIp => "connections_per_ip",
            Refusal::Rate => "accept_rate",
        }
    }

    /// The whole HTTP/1.1 answer.
    fn response(self) -> &'static [u8] {
        match self {
            Refusal::Total => concat!(
                "HTTP/1.1 503 Service Unavailable\r\n",
                "Content-Type: text/plain; charset=utf-8\r\n",
                "Content-Length: 52\r\n",
                "Retry-After: 1\r\n",
                "Connection: close\r\n",
                "\r\n",
                "the hub has too many connections; retry in a moment\n",
            )
            .as_bytes(),
            Refusal::PerIp => concat!(
                "HTTP/1.1 429 Too Many Requests\r\n",
                "Content-Type: text/plain; charset=utf-8\r\n",
                "Content-Length: 61\r\n",
                "Retry-After: 1\r\n",
                "Connection: close\r\n",
                "\r\n",
                "too many connections from your address; close some and retry\n",
            )
            .as_bytes(),
            Refusal::Rate => concat!(
                "HTTP/1.1 503 Service Unavailable\r\n",
                "Content-Type: text/plain; charset=utf-8\r\n",
                "Content-Length: 62\r\n",
                "Retry-After: 1\r\n",
                "Connection: close\r\n",
                "\r\n",
                "the hub is taking too many new connections; retry in a moment\n",
            )
            .as_bytes(),
        }
    }
}

/// Writes the answer, ends the sending side, and reads what the client sent until it closes:
/// closing a socket with unread input resets it, and the client could lose the answer.
async fn answer(mut stream: TcpStream, refusal: Refusal) -> std::io::Result<()> {
    stream.write_all(refusal.response()).await?;
    stream.shutdown().await?;
    let mut discard = [0u8; 512];
    while stream.read(&mut discard).await? > 0 {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_have_the_length_they_announce() {
        for refusal in [Refusal::Total, Refusal::PerIp, Refusal::Rate] {
            let text = std::str::from_utf8(refusal.response()).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())), "{head}");
        }
    }

    #[test]
    fn limits_are_counted_and_given_back() {
        let admission = Arc::new(Admission::new(3, 2, None));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = admission.admit(a).unwrap();
        let _second = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::PerIp);
        let _third = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).unwrap_err(), Refusal::Total);
        drop(first);
        let _again = admission.admit(a).unwrap();
    }

    #[test]
    fn an_ipv4_mapped_address_is_the_same_client() {
        let admission = Arc::new(Admission::new(10, 1, None));
        let _v4 = admission.admit("192.0.2.1".parse().unwrap()).unwrap();
        assert_eq!(admission.admit("::ffff:192.0.2.1".parse().unwrap()).unwrap_err(), Refusal::PerIp);
    }

    #[test]
    fn addresses_leave_the_table_when_their_last_connection_ends() {
        let admission = Arc::new(Admission::new(10, 10, None));
        let permit = admission.admit("192.0.2.1".parse().unwrap()).unwrap();
        drop(permit);
        assert!(admission.counts.lock().per_ip.is_empty());
    }
}
