//! [`Recorder`]: the gate's per-request audit records (denials always, admissions when
//! configured), handed to the audit log's writer without waiting on the disk.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use hearth_audit::{AuditLog, Entry, Event, Outcome};
use hearth_guard::{Caller, DeniedRequest, DenyReason};

/// Writes the gate's records to an [`AuditLog`].
pub(crate) struct Recorder {
    log: Arc<AuditLog>,
    admissions: bool,
    /// Records the writer's full queue turned away since the last count was written.
    dropped: AtomicU64,
}

impl Recorder {
    pub(crate) fn new(log: Arc<AuditLog>, admissions: bool) -> Self {
        Self {
            log,
            admissions,
            dropped: AtomicU64::new(0),
        }
    }

    /// A refusal: `FAILED_AUTH_ATTEMPT` for a credential that was refused,
    /// `SUSPICIOUS_ACTIVITY` for what looks like an attack (another Host or Origin, a
    /// cross-site request, a path spelled to slip past rules, a flood of bad
    /// credentials), `REQUEST` for the rest; the actor is unknown (`-`).
    pub(crate) fn denied(&self, denied: &DeniedRequest<'_>) {
        let reason = denied.denial.reason();
        let event = match reason {
            DenyReason::InvalidCredentials
            | DenyReason::InvalidToken
            | DenyReason::RevokedKey
            | DenyReason::ExpiredKey => Event::FailedAuthAttempt,
            DenyReason::HostNotAllowed
            | DenyReason::OriginNotAllowed
            | DenyReason::CrossSite
            | DenyReason::NonCanonicalPath
            | DenyReason::TooManyFailedAttempts => Event::SuspiciousActivity,
            _ => Event::Request,
        };
        let action = format!("{} {}", denied.method, reason_name(reason));
        self.record(
            event,
            "-",
            denied.path,
            &action,
            Outcome::Denied,
            denied.peer,
        );
    }

    /// An admitted request, when admissions are recorded.
    pub(crate) fn admitted(
        &self,
        caller: &Caller,
        method: &http::Method,
        path: &str,
        peer: SocketAddr,
    ) {
        if self.admissions {
            let actor = crate::caller::actor(caller);
            self.record(
                Event::Request,
                &actor,
                path,
                method.as_str(),
                Outcome::Success,
                peer,
            );
        }
    }

    fn record(
        &self,
        event: Event,
        actor: &str,
        resource: &str,
        action: &str,
        outcome: Outcome,
        peer: SocketAddr,
    ) {
        let entry = Entry::new(event, actor, resource, action, outcome)
            .and_then(|e| e.peer(&peer.ip().to_string()));
        let entry = match entry {
            Ok(entry) => entry,
            // A path too long or with control characters to record as it is.
            Err(_) => match Entry::new(
                Event::Request,
                actor,
                "(unrecordable path)",
                action,
                outcome,
            ) {
                Ok(entry) => entry,
                Err(_) => return,
            },
        };
        let dropped = self.dropped.swap(0, Ordering::AcqRel);
        if dropped > 0 {
            let note = Entry::new(
                Event::SuspiciousActivity,
                "hearth-gate",
                "audit",
                &format!("{dropped} records dropped: the audit writer's queue was full"),
                Outcome::Failure,
            );
            if let Ok(note) = note
                && !matches!(self.log.submit(note), Ok(true))
            {
                self.dropped.fetch_add(dropped, Ordering::AcqRel);
            }
        }
        match self.log.submit(entry) {
            Ok(true) => {}
            Ok(false) => {
                self.dropped.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => eprintln!("hearth gate: the audit log: {e}"),
        }
    }
}

/// The record's name for a refusal's reason.
fn reason_name(reason: DenyReason) -> &'static str {
    match reason {
        DenyReason::PeerNotAllowed => "peer_not_allowed",
        DenyReason::HostNotAllowed => "host_not_allowed",
        DenyReason::OriginNotAllowed => "origin_not_allowed",
        DenyReason::CrossSite => "cross_site",
        DenyReason::MissingCredentials => "missing_credentials",
        DenyReason::InvalidCredentials => "invalid_credentials",
        DenyReason::InvalidToken => "invalid_token",
        DenyReason::RevokedKey => "revoked_key",
        DenyReason::ExpiredKey => "expired_key",
        DenyReason::Forbidden => "forbidden",
        DenyReason::BodyTooLarge => "body_too_large",
        DenyReason::RateLimited => "rate_limited",
        DenyReason::TooManyFailedAttempts => "too_many_failed_attempts",
        DenyReason::Unavailable => "unavailable",
        DenyReason::NonCanonicalPath => "non_canonical_path",
        _ => "refused",
    }
}
