//! Idle connections kept per origin for reuse, bounded in number and age. A connection is
//! only ever reused for the origin (scheme, host, port) it was opened — and verified — for,
//! by the client (and so the TLS policy) that opened it. An HTTP/1.1 connection is taken
//! out while it carries a request; an HTTP/2 one stays in and is shared.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::connection::Sender;

/// An origin: (https, host in lowercase, port).
pub(crate) type Origin = (bool, String, u16);

/// A connection's request half, and when it was last used.
type Idle = (Sender, Instant);

/// The idle connections of one client.
#[derive(Debug)]
pub(crate) struct Pool {
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
    pub(crate) max_idle_per_origin: usize,
    pub(crate) idle_timeout: Duration,
}

impl Pool {
    pub(crate) fn new(max_idle_per_origin: usize, idle_timeout: Duration) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_idle_per_origin,
            idle_timeout,
        }
    }

    /// A connection to `origin` that is still open and not too old, if any (the newest
    /// first); stale ones are dropped, which closes them.
    pub(crate) fn take(&self, origin: &Origin) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(origin)?;
        while let Some((sender, since)) = list.last() {
            let fresh = since.elapsed() < self.idle_timeout;
            if fresh
                && !sender.is_closed()
                && let Some(shared) = sender.share()
            {
                return Some(shared);
            }
            let (sender, _) = list.pop()?;
            if fresh && sender.is_usable() {
                return Some(sender);
            }
        }
        None
    }

    /// Drops `origin`'s shared (HTTP/2) connection: a request on it failed or timed out, so
    /// the next one opens a new connection rather than queue behind a dead one.
    pub(crate) fn evict_shared(&self, origin: &Origin) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = idle.get_mut(origin) {
            list.retain(|(s, _)| !s.is_shared());
        }
    }

    /// Keeps `sender` for the next request to `origin` (unless the origin has enough). An
    /// HTTP/2 connection replaces the origin's previous one.
    pub(crate) fn put(&self, origin: Origin, sender: Sender) {
        if self.max_idle_per_origin == 0 || sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(origin).or_default();
        list.retain(|(s, since)| {
            !s.is_closed()
                && since.elapsed() < self.idle_timeout
                && !(s.is_shared() && sender.is_shared())
        });
        if list.len() < self.max_idle_per_origin {
            list.push((sender, Instant::now()));
        }
    }
}
