//! [`RedisAnchor`]: an audit log's head kept in Redis (feature `redis`), for gates on
//! hosts without a keyring: cutting records off the log, or putting an older copy back,
//! is then found against a store the log's host cannot roll back alone.

use std::sync::Mutex;
use std::time::Duration;

use hearth_audit::{Anchor, Head};

/// The head under one Redis key; each read and write waits at most a second.
///
/// ```no_run
/// use std::sync::Arc;
/// use hearth_audit::{AuditLog, AuditOptions};
/// use hearth_gate::RedisAnchor;
/// use hearth_secure_storage::MemoryStore;
///
/// let anchor = RedisAnchor::new("redis://127.0.0.1:6379/0", "hearth:gate:audit-head:app")?;
/// let ns = "app::audit".parse().unwrap();
/// let log = AuditLog::open_in_with_anchor("audit.jsonl".as_ref(), Arc::new(MemoryStore::new()),
///     &ns, Box::new(anchor), AuditOptions::default())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisAnchor {
    client: redis::Client,
    key: String,
    conn: Mutex<Option<redis::Connection>>,
}

impl std::fmt::Debug for RedisAnchor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAnchor")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

const WAIT: Duration = Duration::from_secs(1);

impl RedisAnchor {
    /// The head under `key` in the Redis at `url`; connects on first use.
    pub fn new(url: &str, key: &str) -> Result<Self, crate::Error> {
        let client = redis::Client::open(url).map_err(|_| {
            crate::Error::Invalid(
                "the Redis URL is not redis://[:PASSWORD@]HOST[:PORT][/DB]".into(),
            )
        })?;
        Ok(Self {
            client,
            key: key.to_owned(),
            conn: Mutex::new(None),
        })
    }

    /// Runs `command` on the connection, connecting (again) when there is none.
    fn with<T>(
        &self,
        command: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, hearth_audit::Error> {
        let mut slot = self
            .conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_none() {
            let conn = self
                .client
                .get_connection_with_timeout(WAIT)
                .map_err(problem)?;
            conn.set_read_timeout(Some(WAIT)).map_err(problem)?;
            conn.set_write_timeout(Some(WAIT)).map_err(problem)?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(hearth_audit::Error::Anchor {
                reason: "Redis cannot be reached".into(),
            });
        };
        command(conn).map_err(|e| {
            // A broken connection is not used again.
            *slot = None;
            problem(e)
        })
    }
}

impl Anchor for RedisAnchor {
    fn load(&self) -> Result<Option<Head>, hearth_audit::Error> {
        let text: Option<String> = self.with(|c| redis::cmd("GET").arg(&self.key).query(c))?;
        match text {
            None => Ok(None),
            Some(text) => Head::parse(&text)
                .map(Some)
                .ok_or(hearth_audit::Error::Anchor {
                    reason: "the head kept in Redis is not readable".into(),
                }),
        }
    }

    fn store(&self, head: &Head) -> Result<(), hearth_audit::Error> {
        self.with(|c| {
            redis::cmd("SET")
                .arg(&self.key)
                .arg(head.to_string())
                .query(c)
        })
    }
}

fn problem(e: redis::RedisError) -> hearth_audit::Error {
    let reason = if e.is_timeout() {
        "Redis did not answer within a second"
    } else if e.is_io_error() || e.is_connection_refusal() || e.is_connection_dropped() {
        "Redis cannot be reached"
    } else {
        "Redis refused the request"
    };
    hearth_audit::Error::Anchor {
        reason: reason.into(),
    }
}
