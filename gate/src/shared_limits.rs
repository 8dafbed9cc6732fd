//! [`SharedLimits`]: the config's `[[limit]]` rules counted in a shared store (Redis) so
//! that several gates admit the limit once between them, not once each; the guard counts
//! them itself when the state is in memory.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hearth_guard::{Caller, Denial, DenyReason, Limit, PeerKey, RateLimiter, RetryAfter};

use crate::audit_events::Recorder;
use crate::redis_state::RedisLimiter as RedisState;

/// What to do when the shared store cannot answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OnOutage {
    /// 503 with `Retry-After` (the default: fail closed).
    Refuse,
    /// Count in this gate's memory meanwhile (each gate then admits the full limit), with
    /// an audit record when it starts and when it ends.
    Local,
}

/// One `[[limit]]` rule.
struct Rule {
    prefix: String,
    /// Its Redis key part: a hash of the prefix and the limit, so that gates whose rules
    /// differ (a rolling config change) never share a counter across different rules.
    name: String,
    limit: Limit,
    /// Used only while the store is out of reach, with [`OnOutage::Local`].
    local: RateLimiter,
}

/// The rules, longest prefix first, and the store they are counted in.
pub(crate) struct SharedLimits {
    rules: Vec<Rule>,
    store: Arc<RedisState>,
    on_outage: OnOutage,
    /// Whether the last decision had to be made without the store.
    degraded: AtomicBool,
    recorder: Option<Arc<Recorder>>,
    /// Rules match the path lowercased (the config's `case_insensitive_paths`).
    fold_case: bool,
}

impl SharedLimits {
    pub(crate) fn new(
        rules: Vec<(String, Limit)>,
        store: Arc<RedisState>,
        on_outage: OnOutage,
        recorder: Option<Arc<Recorder>>,
        fold_case: bool,
    ) -> Result<Self, hearth_guard::Error> {
        let mut rules = rules
            .into_iter()
            .map(|(prefix, limit)| {
                let prefix = if fold_case {
                    prefix.to_ascii_lowercase()
                } else {
                    prefix
                };
                Ok(Rule {
                    name: digest(&format!("{prefix}\n{:?}", limit.shape())),
                    prefix,
                    limit,
                    local: RateLimiter::new(limit)?,
                })
            })
            .collect::<Result<Vec<_>, hearth_guard::Error>>()?;
        rules.sort_by_key(|r| std::cmp::Reverse(r.prefix.len()));
        Ok(Self {
            rules,
            store,
            on_outage,
            degraded: AtomicBool::new(false),
            recorder,
            fold_case,
        })
    }

    /// Whether limits are counted in this gate while Redis is out of reach.
    pub(crate) fn counts_locally(&self) -> bool {
        self.on_outage == OnOutage::Local
    }

    /// Admits the request, or the refusal to send: 429 with `Retry-After` when the
    /// caller's limit for this path is spent, 503 when the store cannot answer (unless
    /// configured to count locally meanwhile).
    pub(crate) async fn check(
        &self,
        path: &str,
        caller: &Caller,
        peer: SocketAddr,
    ) -> Result<(), Denial> {
        let lowered;
        let path = if self.fold_case {
            lowered = path.to_ascii_lowercase();
            lowered.as_str()
        } else {
            path
        };
        let Some(rule) = self
            .rules
            .iter()
            .find(|r| hearth_guard::path_under(path, &r.prefix))
        else {
            return Ok(());
        };
        let client = client_key(caller, peer);
        let key = format!("limit:{}:{client}", rule.name);
        match self.store.admit(&key, &rule.limit).await {
            Ok(decided) => {
                if self.degraded.swap(false, Ordering::AcqRel)
                    && let Some(recorder) = &self.recorder
                {
                    recorder.note(
                        "shared limits are counted in Redis again",
                        hearth_audit::Outcome::Success,
                    );
                }
                decided.map_err(|wait| Denial::retry_later(DenyReason::RateLimited, wait))
            }
            Err(e) => {
                if !self.degraded.swap(true, Ordering::AcqRel) {
                    eprintln!("hearth gate: Redis cannot be reached: {e}");
                    if let Some(recorder) = &self.recorder {
                        recorder.note(
                            match self.on_outage {
                                OnOutage::Refuse => {
                                    "Redis cannot be reached: limited requests are refused (503)"
                                }
                                OnOutage::Local => {
                                    "Redis cannot be reached: limits are counted in this gate only"
                                }
                            },
                            hearth_audit::Outcome::Failure,
                        );
                    }
                }
                match self.on_outage {
                    OnOutage::Refuse => Err(Denial::retry_later(
                        DenyReason::Unavailable,
                        RetryAfter::new(Duration::from_secs(1)),
                    )),
                    OnOutage::Local => rule
                        .local
                        .check(&client)
                        .map_err(|wait| Denial::retry_later(DenyReason::RateLimited, wait)),
                }
            }
        }
    }
}

/// Who a limit counts: the key, the JWT subject or the session holder; anyone else by
/// their address (an IPv6 one by its /64), in a table of its own.
fn client_key(caller: &Caller, peer: SocketAddr) -> String {
    match caller {
        Caller::Key(p) => format!("k:{}", p.key_id),
        Caller::Jwt { sub, .. } => format!("j:{}", digest(sub)),
        Caller::Session => "s".into(),
        _ => format!("p:{}", PeerKey::of(peer.ip())),
    }
}

/// 128 bits of SHA-256 of `text`, in hex: a Redis key part of fixed length whatever the
/// text holds (a JWT subject, a rule).
fn digest(text: &str) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, text.as_bytes());
    hash.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_told_apart_by_kind() {
        let peer = "192.0.2.7:5000".parse().unwrap();
        assert_eq!(client_key(&Caller::Session, peer), "s");
        assert_eq!(client_key(&Caller::Exempt, peer), "p:192.0.2.7");
        let jwt = Caller::Jwt {
            sub: "s".into(),
            permissions: hearth_token_guard::apikey::PermissionSet::parse(["a:read"]).unwrap(),
        };
        assert_eq!(client_key(&jwt, peer).len(), 2 + 32);
        let long = Caller::Jwt {
            sub: "x".repeat(10_000),
            permissions: hearth_token_guard::apikey::PermissionSet::parse(["a:read"]).unwrap(),
        };
        assert_eq!(
            client_key(&long, peer).len(),
            2 + 32,
            "a subject cannot grow the key"
        );
    }
}
