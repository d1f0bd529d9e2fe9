//! The Bayeux sessions of the hub: created by a handshake, found by client id, counted per
//! client address, and dropped when their client stops connecting.
//!
//! A client id is 160 random bits from the operating system, so ids cannot be guessed. A session
//! whose client sent no `/meta/connect` for longer than the session timeout (after its last
//! reply) is dropped by [`Sessions::sweep`], which the server runs every second.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::session::Session;

/// Every session, by client id.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    inner: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    by_id: HashMap<Arc<str>, Arc<Session>>,
    per_client: HashMap<IpAddr, usize>,
}

/// Why no session was created.
#[derive(Debug)]
pub(crate) enum Refused {
    /// The client address holds the most sessions allowed.
    TooMany(usize),
    /// The operating system gave no random bytes.
    NoRandomness,
}

impl Sessions {
    /// A fresh client id.
    pub(crate) fn new_id() -> Result<Arc<str>, Refused> {
        crate::random::hex(20).map(Arc::from).ok_or(Refused::NoRandomness)
    }

    /// Registers `session`, unless its client address already holds `max_per_client`.
    pub(crate) fn insert(&self, session: Arc<Session>, max_per_client: usize) -> Result<(), Refused> {
        let mut registry = self.inner.lock();
        if let Some(client) = session.client {
            let count = registry.per_client.entry(client).or_default();
            if *count >= max_per_client {
                return Err(Refused::TooMany(max_per_client));
            }
            *count += 1;
        }
        registry.by_id.insert(session.id.clone(), session);
        Ok(())
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.inner.lock().by_id.get(id).cloned()
    }

    /// Removes a session (a disconnect) and ends it.
    pub(crate) fn remove(&self, id: &str) -> Option<Arc<Session>> {
        let removed = self.inner.lock().take(id);
        if let Some(session) = &removed {
            session.end();
        }
        removed
    }

    /// Drops the sessions idle for longer than `limit`; returns how many.
    pub(crate) fn sweep(&self, limit: Duration) -> usize {
        let now = Instant::now();
        let mut registry = self.inner.lock();
        let expired: Vec<Arc<str>> =
            registry.by_id.iter().filter(|(_, s)| s.expired(now, limit)).map(|(id, _)| id.clone()).collect();
        let sessions: Vec<_> = expired.iter().filter_map(|id| registry.take(id)).collect();
        drop(registry);
        for session in &sessions {
            tracing::debug!(client_id = %session.id, "Bayeux session timed out");
            session.end();
        }
        sessions.len()
    }
}

impl Registry {
    fn take(&mut self, id: &str) -> Option<Arc<Session>> {
        let session = self.by_id.remove(id)?;
        if let Some(client) = session.client {
            if let Some(count) = self.per_client.get_mut(&client) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    self.per_client.remove(&client);
                }
            }
        }
        Some(session)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_long_and_distinct() {
        let (a, b) = (Sessions::new_id().unwrap(), Sessions::new_id().unwrap());
        assert_eq!(a.len(), 40);
        assert_ne!(a, b);
    }
}
