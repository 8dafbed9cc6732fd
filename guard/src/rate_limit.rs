//! Rate limiting keyed by client: [`RateLimiter`] (per client) and [`GlobalLimiter`] (one
//! budget for everyone), with a token bucket or an exact sliding window ([`Limit`]).
//!
//! Unlike tower's `RateLimit` (tower #794), the state lives behind `&self` and is shared by
//! every clone of an `Arc`, so a limit set is a limit enforced. Unlike governor's keyed
//! limiter (#193), memory is bounded: at most `max_keys` clients are tracked, and clients
//! whose state has recovered are evicted when room is needed.

mod limit;
mod model;
mod slot;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ring::rand::{SecureRandom, SystemRandom};

use limit::Kind;
pub use limit::{Limit, MAX_WINDOW_REQUESTS};
pub use model::{LimitShape, LimitState};
use slot::{Slot, WindowLog, gcra};

use super::clock::now_ns;
use crate::Error;

/// How many clients a [`RateLimiter`] tracks unless told otherwise.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

const SHARDS: usize = 16;

/// A refusal: when the client may try again.
///
/// ```
/// use std::time::Duration;
/// use hearth_guard::RetryAfter;
///
/// let wait = RetryAfter::new(Duration::from_millis(1200));
/// assert_eq!(wait.header_value(), "2", "Retry-After is whole seconds, rounded up");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(Duration);

impl RetryAfter {
    /// A refusal lasting `wait`.
    pub fn new(wait: Duration) -> Self {
        Self(wait)
    }

    /// How long until the request would be admitted.
    pub fn duration(&self) -> Duration {
        self.0
    }

    /// The `Retry-After` header value: whole seconds, rounded up, at least 1.
    pub fn header_value(&self) -> String {
        let secs = self.0.as_secs() + u64::from(self.0.subsec_nanos() > 0);
        secs.max(1).to_string()
    }
}

/// A limit applied to each client separately, keyed by anything hashable (an IP address,
/// an API key id, a session-token digest).
///
/// Keys are reduced to 64-bit SipHash values under a per-limiter random seed, so a client
/// cannot choose keys that collide with another's; 16 mutex-guarded shards keep threads
/// apart. Memory is one `u64` per client for a token bucket (about 28 B per client in the
/// table at 10,000 clients, see BENCHMARKS.md) and 4 B per logged request for a window.
///
/// When `max_keys` clients are tracked, a new client first triggers eviction of clients
/// whose state has fully recovered; if none has, the new client is refused (fail closed)
/// and no rescan happens for a second.
///
/// ```
/// use std::net::IpAddr;
/// use std::time::Duration;
/// use hearth_guard::{Limit, RateLimiter};
///
/// let limiter = RateLimiter::new(Limit::sliding_window(2, Duration::from_secs(60))?)?;
/// let client: IpAddr = "127.0.0.1".parse().unwrap();
/// assert!(limiter.check(&client).is_ok());
/// assert!(limiter.check(&client).is_ok());
/// let refused = limiter.check(&client).unwrap_err();
/// assert!(refused.duration() <= Duration::from_secs(60));
/// assert!(limiter.check(&"another client").is_ok(), "each client has its own budget");
/// # Ok::<(), hearth_guard::Error>(())
/// ```
pub struct RateLimiter {
    limit: Limit,
    seed: [u64; 2],
    store: Store,
    /// Admit (untracked) a new client when the table is full, instead of refusing it.
    admit_when_full: bool,
}

enum Store {
    Bucket(Shards<u64>),
    Window(Shards<WindowLog>),
}

impl RateLimiter {
    /// A limiter tracking up to [`DEFAULT_MAX_KEYS`] clients. Fails only if the OS random
    /// number generator does (the hash seed).
    pub fn new(limit: Limit) -> Result<Self, Error> {
        let mut seed = [0u8; 16];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| Error::Rng)?;
        let half = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("8 bytes"));
        let store = match limit.kind {
            Kind::Bucket { .. } => Store::Bucket(Shards::new(DEFAULT_MAX_KEYS)),
            Kind::Window { .. } => Store::Window(Shards::new(DEFAULT_MAX_KEYS)),
        };
        Ok(Self {
            limit,
            seed: [half(&seed[..8]), half(&seed[8..])],
            store,
            admit_when_full: false,
        })
    }

    /// When `max_keys` clients are tracked and none has recovered, admit a new client
    /// without tracking it instead of refusing it. For a limit whose purpose is to slow
    /// an attacker down rather than to protect a resource (failed credentials: every
    /// client still has to present a valid one): a table filled from many addresses must
    /// not lock out every newcomer, the real client among them.
    pub fn admit_when_full(mut self) -> Self {
        self.admit_when_full = true;
        self
    }

    /// Tracks at most `max_keys` clients (at least 16; default [`DEFAULT_MAX_KEYS`]).
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        let max_keys = max_keys.max(SHARDS);
        match &mut self.store {
            Store::Bucket(s) => *s = Shards::new(max_keys),
            Store::Window(s) => *s = Shards::new(max_keys),
        }
        self
    }

    /// The limit applied.
    pub fn limit(&self) -> Limit {
        self.limit
    }

    /// Counts one request from `key`: `Ok` to admit it, or when to retry.
    pub fn check<K: Hash + ?Sized>(&self, key: &K) -> Result<(), RetryAfter> {
        self.check_at(self.hash(key), now_ns())
    }

    fn hash<K: Hash + ?Sized>(&self, key: &K) -> u64 {
        // SipHash-1-3 with the secret seed absorbed first: the state after the seed is
        // unknown to clients, so they cannot aim collisions.
        let mut h = DefaultHasher::new();
        h.write_u64(self.seed[0]);
        h.write_u64(self.seed[1]);
        key.hash(&mut h);
        h.finish()
    }

    fn check_at(&self, hash: u64, now: u64) -> Result<(), RetryAfter> {
        let kind = self.limit.kind;
        let idle_ns = self.limit.idle_after_ns();
        let admitted = match &self.store {
            Store::Bucket(s) => s.admit(hash, kind, idle_ns, now),
            Store::Window(s) => s.admit(hash, kind, idle_ns, now),
        };
        match admitted {
            Ok(()) | Err(Refusal::Full(_)) if self.admit_when_full => Ok(()),
            Ok(()) => Ok(()),
            Err(Refusal::Limited(ns) | Refusal::Full(ns)) => {
                Err(RetryAfter(Duration::from_nanos(ns)))
            }
        }
    }

    /// Gives back one request [`check`](Self::check) admitted for `key`: for budgets
    /// counted before the outcome is known (a credential check, counted so that
    /// concurrent attempts cannot pass a peek together, refunded when it succeeds).
    pub fn refund<K: Hash + ?Sized>(&self, key: &K) {
        let hash = self.hash(key);
        let kind = self.limit.kind;
        match &self.store {
            Store::Bucket(s) => s.refund(hash, kind),
            Store::Window(s) => s.refund(hash, kind),
        }
    }

    /// How many clients are tracked now.
    pub fn tracked_keys(&self) -> usize {
        match &self.store {
            Store::Bucket(s) => s.len(),
            Store::Window(s) => s.len(),
        }
    }

    /// Drops every client whose state has recovered; returns how many. Not needed for
    /// bounded memory (that happens on demand), but frees memory after a burst of clients.
    pub fn evict_idle(&self) -> usize {
        let (kind, now) = (self.limit.kind, now_ns());
        match &self.store {
            Store::Bucket(s) => s.evict_idle(kind, now),
            Store::Window(s) => s.evict_idle(kind, now),
        }
    }
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limit", &self.limit)
            .field("tracked_keys", &self.tracked_keys())
            .finish_non_exhaustive()
    }
}

/// The keys are SipHash outputs already: the table uses them as they are.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed")
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Why a client was not admitted, with the nanoseconds until it may be.
enum Refusal {
    /// Its own budget is spent.
    Limited(u64),
    /// It is new and the table is full.
    Full(u64),
}

struct Shards<S> {
    shards: Box<[Mutex<Shard<S>>]>,
    per_shard: usize,
}

struct Shard<S> {
    map: HashMap<u64, S, BuildHasherDefault<Prehashed>>,
    /// No eviction scan before this time after a scan that freed nothing.
    rescan_at: u64,
}

impl<S: Slot> Shards<S> {
    fn new(max_keys: usize) -> Self {
        let shards = (0..SHARDS)
            .map(|_| {
                Mutex::new(Shard {
                    map: HashMap::default(),
                    rescan_at: 0,
                })
            })
            .collect();
        Self {
            shards,
            per_shard: max_keys.div_ceil(SHARDS),
        }
    }

    fn shard(&self, hash: u64) -> std::sync::MutexGuard<'_, Shard<S>> {
        // Bits 40..44: the table itself uses the low bits (bucket) and the top 7 (tag).
        self.shards[(hash >> 40) as usize % SHARDS]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn admit(&self, hash: u64, kind: Kind, idle_ns: u64, now: u64) -> Result<(), Refusal> {
        let mut shard = self.shard(hash);
        if let Some(slot) = shard.map.get_mut(&hash) {
            return slot.admit(kind, now).map_err(Refusal::Limited);
        }
        if shard.map.len() >= self.per_shard {
            if now < shard.rescan_at {
                return Err(Refusal::Full(shard.rescan_at - now));
            }
            shard.map.retain(|_, slot| !slot.idle(kind, now));
            if shard.map.len() >= self.per_shard {
                shard.rescan_at = now + idle_ns.clamp(1_000_000, 1_000_000_000);
                return Err(Refusal::Full(shard.rescan_at - now));
            }
        }
        let mut slot = S::default();
        let admitted = slot.admit(kind, now);
        shard.map.insert(hash, slot);
        admitted.map_err(Refusal::Limited)
    }

    fn refund(&self, hash: u64, kind: Kind) {
        if let Some(slot) = self.shard(hash).map.get_mut(&hash) {
            slot.refund(kind);
        }
    }

    fn len(&self) -> usize {
        (0..SHARDS)
            .map(|i| self.shard((i as u64) << 40).map.len())
            .sum()
    }

    fn evict_idle(&self, kind: Kind, now: u64) -> usize {
        (0..SHARDS)
            .map(|i| {
                let mut shard = self.shard((i as u64) << 40);
                let before = shard.map.len();
                shard.map.retain(|_, slot| !slot.idle(kind, now));
                before - shard.map.len()
            })
            .sum()
    }
}

/// One limit shared by all clients, for example "at most 5 API keys created per minute".
///
/// A token bucket is one atomic compare-and-swap (no lock); a window takes a mutex.
///
/// ```
/// use std::time::Duration;
/// use hearth_guard::{GlobalLimiter, Limit};
///
/// let key_creation = GlobalLimiter::new(Limit::token_bucket(5, Duration::from_secs(60), 5)?);
/// for _ in 0..5 {
///     assert!(key_creation.check().is_ok());
/// }
/// assert!(key_creation.check().is_err());
/// # Ok::<(), hearth_guard::Error>(())
/// ```
#[derive(Debug)]
pub struct GlobalLimiter {
    limit: Limit,
    tat: AtomicU64,
    log: Mutex<WindowLog>,
}

impl std::fmt::Debug for WindowLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WindowLog")
    }
}

impl GlobalLimiter {
    /// One budget under `limit`.
    pub fn new(limit: Limit) -> Self {
        Self {
            limit,
            tat: AtomicU64::new(0),
            log: Mutex::new(WindowLog::default()),
        }
    }

    /// Counts one request: `Ok` to admit it, or when to retry.
    pub fn check(&self) -> Result<(), RetryAfter> {
        self.check_at(now_ns())
            .map_err(|ns| RetryAfter(Duration::from_nanos(ns)))
    }

    fn check_at(&self, now: u64) -> Result<(), u64> {
        let kind = self.limit.kind;
        match kind {
            Kind::Bucket { .. } => {
                let mut current = self.tat.load(Ordering::Relaxed);
                loop {
                    let next = gcra(current, kind, now)?;
                    match self.tat.compare_exchange_weak(
                        current,
                        next,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    ) {
                        Ok(_) => return Ok(()),
                        Err(seen) => current = seen,
                    }
                }
            }
            Kind::Window { .. } => self
                .log
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .admit(kind, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn clients_are_limited_separately() {
        let limiter =
            RateLimiter::new(Limit::sliding_window(100, Duration::from_secs(1)).unwrap()).unwrap();
        let (a, b) = (limiter.hash("a"), limiter.hash("b"));
        for i in 0..100 {
            limiter.check_at(a, 10 * S + i).unwrap();
        }
        let wait = limiter.check_at(a, 10 * S + 500_000_000).unwrap_err();
        assert_eq!(wait.duration(), Duration::from_millis(500));
        limiter.check_at(b, 10 * S + 500_000_000).unwrap();
        limiter.check_at(a, 11 * S).unwrap();
    }

    #[test]
    fn memory_is_bounded_and_recovered_clients_make_room() {
        let limiter = RateLimiter::new(Limit::token_bucket(1, Duration::from_secs(1), 1).unwrap())
            .unwrap()
            .with_max_keys(160);
        let t = 100 * S;
        let mut refused = 0;
        for k in 0u64..10_000 {
            if limiter.check_at(limiter.hash(&k), t).is_err() {
                refused += 1;
            }
        }
        assert!(limiter.tracked_keys() <= 160, "{}", limiter.tracked_keys());
        assert!(
            refused >= 10_000 - 160,
            "new clients beyond the cap are refused"
        );
        // Within the rescan pause: still refused, without a scan.
        assert!(limiter.check_at(limiter.hash(&"late"), t + 1).is_err());
        // Two seconds on, every tracked client has recovered: a new one gets in.
        limiter.check_at(limiter.hash(&"late"), t + 2 * S).unwrap();
    }

    #[test]
    fn evict_idle_drops_only_recovered_clients() {
        let limiter =
            RateLimiter::new(Limit::token_bucket(1, Duration::from_millis(1), 1).unwrap()).unwrap();
        limiter.check(&1u8).unwrap();
        std::thread::sleep(Duration::from_millis(30));
        limiter.check(&2u8).unwrap();
        let before = limiter.tracked_keys();
        assert_eq!(before, 2);
        let evicted = limiter.evict_idle();
        assert!((1..=2).contains(&evicted), "{evicted}");
    }

    #[test]
    fn a_global_bucket_is_shared_by_threads_and_never_over_admits() {
        let limiter = Arc::new(GlobalLimiter::new(
            Limit::token_bucket(1, Duration::from_secs(3600), 1000).unwrap(),
        ));
        let admitted: usize = (0..4)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                std::thread::spawn(move || (0..1000).filter(|_| limiter.check().is_ok()).count())
            })
            .map(|t| t.join().unwrap())
            .sum();
        assert_eq!(admitted, 1000);
    }

    #[test]
    fn a_global_window_refuses_then_recovers() {
        let limiter = GlobalLimiter::new(Limit::sliding_window(2, Duration::from_secs(1)).unwrap());
        limiter.check_at(5 * S).unwrap();
        limiter.check_at(5 * S).unwrap();
        assert_eq!(limiter.check_at(5 * S + 1), Err(S - 1));
        limiter.check_at(6 * S).unwrap();
    }
}
