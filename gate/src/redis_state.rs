//! [`RedisLimiter`]: hearth-guard's limits (GCRA and the exact sliding window) as atomic
//! Lua scripts on one Redis, with one clock (the server's) for every gate; and the key
//! revocations the gates share (a set, a version counter and a pub/sub channel).

use std::collections::HashSet;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

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
    revoked: RwLock<HashSet<String>>,
}

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
        });
        limiter.reload_revoked().await?;
        tokio::spawn(follow_revocations(Arc::downgrade(&limiter), client));
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
                let mut i = self.gcra.key(&key);
                i.arg(micros(interval).max(1))
                    .arg(micros(tolerance))
                    .arg(now.map_or(String::new(), |n| micros(n).to_string()));
                (i, Duration::from_micros(1))
            }
            LimitShape::SlidingWindow { max, window } => {
                let mut i = self.window.key(&key);
                i.arg(max)
                    .arg(millis(window))
                    .arg(now.map_or(String::new(), |n| millis(n).to_string()));
                (i, Duration::from_millis(1))
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
        Ok(match u32::try_from(answer) {
            Ok(0) => Ok(()),
            Ok(wait) => Err(RetryAfter::new(unit * wait)),
            Err(_) => Err(RetryAfter::new(unit * u32::MAX)),
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

    /// Reads the revoked set again; returns the version it read.
    async fn reload_revoked(&self) -> Result<Option<i64>, Error> {
        let mut conn = self.conn.clone();
        let (set, version, _) = self.names();
        let (members, version): (HashSet<String>, Option<i64>) = tokio::time::timeout(
            Duration::from_secs(1),
            redis::pipe()
                .smembers(&set)
                .get(&version)
                .query_async(&mut conn),
        )
        .await
        .map_err(|_| Error::Redis("Redis did not answer within 1 s".into()))?
        .map_err(redis_error)?;
        *self
            .revoked
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = members;
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
}

/// Keeps the revoked set current: reloaded on each message of the channel, and whenever
/// the version counter (read every 250 ms, in case a message was missed) moved. Ends
/// when the limiter is dropped.
async fn follow_revocations(limiter: Weak<RedisLimiter>, client: redis::Client) {
    use futures_util::StreamExt as _;
    let mut known = None;
    loop {
        let Some(channel) = limiter.upgrade().map(|l| l.names().2) else {
            return;
        };
        let mut messages = match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                Ok(()) => Some(pubsub.into_on_message()),
                Err(_) => None,
            },
            Err(_) => None,
        };
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            let heard = match &mut messages {
                Some(stream) => tokio::select! {
                    message = stream.next() => match message {
                        Some(_) => true,
                        // The subscription ended (Redis went away): subscribe again.
                        None => break,
                    },
                    _ = tick.tick() => false,
                },
                None => {
                    tick.tick().await;
                    false
                }
            };
            let Some(l) = limiter.upgrade() else {
                return;
            };
            let moved = match l.version().await {
                Ok(version) => version != known,
                Err(_) => false,
            };
            if (heard || moved)
                && let Ok(version) = l.reload_revoked().await
            {
                known = version;
            }
            if messages.is_none() {
                // Try to subscribe again on the next round.
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
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
