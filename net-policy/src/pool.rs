//! Idle HTTP/1.1 connections kept per origin for reuse (keep-alive), bounded in number
//! and age. A connection is only ever reused for the origin (scheme, host, port) it was
//! opened — and verified — for, by the client (and so the TLS policy) that opened it.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::SendRequest;

/// An origin: (https, host in lowercase, port).
pub(crate) type Origin = (bool, String, u16);

/// A connection's request half, and when it went idle.
type Idle = (SendRequest<Full<Bytes>>, Instant);

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

    /// An idle connection to `origin` that is still open and not too old, if any (the
    /// newest first); stale ones are dropped, which closes them.
    pub(crate) fn take(&self, origin: &Origin) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.get_mut(origin)?;
        while let Some((sender, since)) = list.pop() {
            if since.elapsed() < self.idle_timeout && sender.is_ready() && !sender.is_closed() {
                return Some(sender);
            }
        }
        None
    }

    /// Keeps `sender` for the next request to `origin` (unless the origin has enough).
    pub(crate) fn put(&self, origin: Origin, sender: SendRequest<Full<Bytes>>) {
        if self.max_idle_per_origin == 0 || sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(origin).or_default();
        list.retain(|(s, since)| !s.is_closed() && since.elapsed() < self.idle_timeout);
        if list.len() < self.max_idle_per_origin {
            list.push((sender, Instant::now()));
        }
    }
}
