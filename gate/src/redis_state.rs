//! [`RedisLimiter`]: hearth-guard's limits (GCRA and the exact sliding window) as atomic
//! Lua scripts on one Redis, with one clock (the server's) for every gate; and the key
//! revocations the gates share (a set, a version counter and a pub/sub channel).

use std::collections::HashSet;
use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use hearth_guard::{Limit, LimitShape, RetryAfter};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::Error;

const GCRA: &str = include_str!("gcra.lua");
const WINDOW: &str = include_str!("window.lua");

/// The default per-decision timeout.
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);

/// Limits and revocations in one Redis, shared by every gate that names it.
///
/// ```no_run
/// use std::time::Duration;
/// use hearth_gate::RedisLimiter;
/// use hearth_guard::Limit;
///
/// # async fn run() -> Result<(), hearth_gate::Error> {
/// let redis = RedisLimiter::connect("redis://127.0.0.1:6379/0", "hearth:gate:", Duration::from_millis(50)).await?;
/// let limit = Limit::sliding_window(60, Duration::from_secs(60))?;
/// match redis.admit("limit:0:k:k7f3a9c2", &limit).await? {
///     Ok(()) => println!("admitted"),
///     Err(wait) => println!("retry in {} s", wait.header_value()),
/// }
/// # Ok(()) }
/// ```
pub struct RedisLimiter {
    conn: ConnectionManager,
    gcra: redis::Script,
    window: redis::Script,
    prefix: String,
    timeout: Duration,
    /// Every key id heard of as revoked: it only grows (a Redis that restarted empty
    /// is given it back), so no restart or eviction brings a revoked key back.
    revoked: RwLock<HashSet<String>>,
    /// When the revocations were last confirmed current with Redis.
    synced: std::sync::Mutex<Instant>,
    /// Wakes the follower at once when a revocation is published.
    heard: tokio::sync::Notify,
}

/// How old the last confirmation from Redis may be before revocations are not trusted
/// (the follower confirms every 250 ms).
pub(crate) const REVOCATIONS_STALE_AFTER: Duration = Duration::from_secs(1);

impl std::fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLimiter")
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisLimiter {
    /// Connects to `url` (`redis://[:PASSWORD@]HOST[:PORT][/DB]`); every key it writes
    /// starts with `prefix`; each decision waits at most `timeout`. Starts following the
    /// shared revocations (within a second of each). Needs a tokio runtime.
    pub async fn connect(url: &str, prefix: &str, timeout: Duration) -> Result<Arc<Self>, Error> {
        let client = redis::Client::open(url).map_err(|_| {
            Error::Invalid("the Redis URL is not redis://[:PASSWORD@]HOST[:PORT][/DB]".into())
        })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Duration::from_secs(1))
            .set_response_timeout(timeout)
            .set_number_of_retries(1)
            .set_max_delay(500);
        let conn = tokio::time::timeout(
            Duration::from_secs(5),
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| Error::Redis("Redis did not answer within 5 s".into()))?
        .map_err(redis_error)?;
        let limiter = Arc::new(Self {
            conn,
            gcra: redis::Script::new(GCRA),
            window: redis::Script::new(WINDOW),
            prefix: prefix.to_owned(),
            timeout,
            revoked: RwLock::new(HashSet::new()),
            synced: std::sync::Mutex::new(Instant::now()),
            heard: tokio::sync::Notify::new(),
        });
        limiter.sync_revoked().await?;
        tokio::spawn(follow_revocations(Arc::downgrade(&limiter)));
        tokio::spawn(listen_for_revocations(Arc::downgrade(&limiter), client));
        Ok(limiter)
    }

    /// One decision for the client `key` under `limit`, by the server's clock: `Ok(Ok)`
    /// admitted, `Ok(Err(wait))` refused until then, `Err` when Redis did not answer in
    /// time (the caller decides: refuse, or count locally).
    pub async fn admit(&self, key: &str, limit: &Limit) -> Result<Result<(), RetryAfter>, Error> {
        self.decide(key, limit, None).await
    }

    /// [`admit`](Self::admit) at `now` (microseconds for a token bucket, milliseconds for
    /// a window, counted from any origin): for replaying a trace against
    /// [`Limit::admit_at`].
    pub async fn admit_at(
        &self,
        key: &str,
        limit: &Limit,
        now: Duration,
    ) -> Result<Result<(), RetryAfter>, Error> {
        self.decide(key, limit, Some(now)).await
    }

    async fn decide(
        &self,
        key: &str,
        limit: &Limit,
        now: Option<Duration>,
    ) -> Result<Result<(), RetryAfter>, Error> {
        let key = format!("{}{key}", self.prefix);
        let mut conn = self.conn.clone();
        let (invocation, unit) = match limit.shape() {
            LimitShape::TokenBucket {
                interval,
                tolerance,
            } => {
                // Rounded the strict way: the interval up, the tolerance down, so that
                // Redis never admits more than the limit says.
                let mut i = self.gcra.key(&key);
                i.arg(micros_up(interval).max(1))
                    .arg(micros(tolerance))
                    .arg(now.map_or(String::new(), |n| micros(n).to_string()));
                (i, Duration::from_micros as fn(u64) -> Duration)
            }
            LimitShape::SlidingWindow { max, window } => {
                let mut i = self.window.key(&key);
                i.arg(max)
                    .arg(millis(window))
                    .arg(now.map_or(String::new(), |n| millis(n).to_string()));
                (i, Duration::from_millis as fn(u64) -> Duration)
            }
            _ => return Err(Error::Invalid("a limit Redis does not implement".into())),
        };
        let answer: i64 = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut conn))
            .await
            .map_err(|_| {
                Error::Redis(format!(
                    "Redis did not answer within {} ms",
                    self.timeout.as_millis()
                ))
            })?
            .map_err(redis_error)?;
        Ok(match u64::try_from(answer) {
            Ok(0) => Ok(()),
            Ok(wait) => Err(RetryAfter::new(unit(wait))),
            // A negative answer is no answer of these scripts.
            Err(_) => {
                return Err(Error::Redis(
                    "Redis answered a limit decision with a negative wait".into(),
                ));
            }
        })
    }

    /// Whether the key `id` was revoked through any gate (as last heard from Redis).
    #[must_use]
    pub fn is_revoked(&self, id: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(id)
    }

    /// Whether the revocations were confirmed with Redis within the last second: when
    /// not, a key revoked meanwhile through another gate may not be known here, and
    /// keys are not to be admitted on this gate's word alone.
    #[must_use]
    pub fn revocations_current(&self) -> bool {
        self.synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .elapsed()
            < REVOCATIONS_STALE_AFTER
    }

    /// Revokes the key `id` for every gate sharing this Redis: added to the set, the
    /// version counter bumped and the change published, in one transaction.
    pub async fn revoke(&self, id: &str) -> Result<(), Error> {
        let mut conn = self.conn.clone();
        let (set, version, channel) = self.names();
        let _: () = redis::pipe()
            .atomic()
            .sadd(&set, id)
            .ignore()
            .incr(&version, 1)
            .ignore()
            .publish(&channel, id)
            .ignore()
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        self.revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(id.to_owned());
        Ok(())
    }

    fn names(&self) -> (String, String, String) {
        (
            format!("{}revoked", self.prefix),
            format!("{}registry-version", self.prefix),
            format!("{}registry", self.prefix),
        )
    }

    /// Confirms the revocations with Redis: the set is read again and added to what is known here (never
    /// shrunk); when Redis lost them (restarted empty, or evicted the set), what is known
    /// here is written back, so gates that start later learn it too. Returns the version.
    async fn sync_revoked(&self) -> Result<Option<i64>, Error> {
        let mut conn = self.conn.clone();
        let (set, version_key, _) = self.names();
        let (members, version): (HashSet<String>, Option<i64>) = tokio::time::timeout(
            Duration::from_secs(1),
            redis::pipe()
                .atomic()
                .smembers(&set)
                .get(&version_key)
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| Error::Redis("Redis did not answer within 1 s".into()))?
        .map_err(redis_error)?;
        let local: Vec<String> = {
            let mut revoked = self
                .revoked
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            revoked.extend(members.iter().cloned());
            revoked.difference(&members).cloned().collect()
        };
        let version = if local.is_empty() {
            version
        } else {
            // Redis has fewer than this gate knows: give them back, and say so.
            let (set, version_key, channel) = self.names();
            let (version,): (i64,) = tokio::time::timeout(
                Duration::from_secs(1),
                redis::pipe()
                    .atomic()
                    .sadd(&set, &local)
                    .ignore()
                    .incr(&version_key, 1)
                    .publish(&channel, "restored")
                    .ignore()
                    .query_async(&mut conn),
            )
            .await
            .map_err(|_| Error::Redis("Redis did not answer within 1 s".into()))?
            .map_err(redis_error)?;
            Some(version)
        };
        *self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
        Ok(version)
    }

    async fn version(&self) -> Result<Option<i64>, Error> {
        let mut conn = self.conn.clone();
        let (_, version, _) = self.names();
        tokio::time::timeout(
            Duration::from_secs(1),
            redis::cmd("GET").arg(&version).query_async(&mut conn),
        )
        .await
        .map_err(|_| Error::Redis("Redis did not answer within 1 s".into()))?
        .map_err(redis_error)
    }

    fn revoked_is_empty(&self) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_empty()
    }

    fn confirmed(&self) {
        *self
            .synced
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Instant::now();
    }
}

/// Keeps the revocations current: every 250 ms (or at once when a message comes) the
/// version counter is read; when it moved, or Redis lost the set, the set is synced
/// (`RedisLimiter::sync_revoked`). Each answer confirms the set as current. Ends when
/// the limiter is dropped.
async fn follow_revocations(limiter: Weak<RedisLimiter>) {
    let mut known = None;
    loop {
        let Some(l) = limiter.upgrade() else {
            return;
        };
        let _ = tokio::time::timeout(Duration::from_millis(250), l.heard.notified()).await;
        match l.version().await {
            // Nothing moved, and the set is still there (a version exists once any
            // revocation was made): current.
            Ok(version) if version == known && (version.is_some() || l.revoked_is_empty()) => {
                l.confirmed();
            }
            Ok(_) => {
                if let Ok(version) = l.sync_revoked().await {
                    known = version;
                }
            }
            Err(_) => {}
        }
    }
}

/// Subscribes to the revocation channel (again after each loss, each attempt bounded),
/// waking the follower at each message.
async fn listen_for_revocations(limiter: Weak<RedisLimiter>, client: redis::Client) {
    use futures_util::StreamExt as _;
    loop {
        let Some(channel) = limiter.upgrade().map(|l| l.names().2) else {
            return;
        };
        let subscribed = tokio::time::timeout(Duration::from_secs(1), async {
            let mut pubsub = client.get_async_pubsub().await.ok()?;
            pubsub.subscribe(&channel).await.ok()?;
            Some(pubsub.into_on_message())
        })
        .await
        .ok()
        .flatten();
        if let Some(mut messages) = subscribed {
            while messages.next().await.is_some() {
                let Some(l) = limiter.upgrade() else {
                    return;
                };
                l.heard.notify_one();
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn micros_up(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1000)).unwrap_or(u64::MAX)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A Redis failure as a sentence (its text names no password: the URL is not in it).
fn redis_error(e: redis::RedisError) -> Error {
    let what = if e.is_timeout() {
        "Redis did not answer in time".to_owned()
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        "Redis cannot be reached".to_owned()
    } else {
        format!("Redis refused the request ({})", e.category())
    };
    Error::Redis(what)
}
