//! [`Recorder`]: the gate's per-request audit records (denials always, admissions when
//! configured), handed to the audit log's writer without waiting on the disk.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hearth_audit::{AuditLog, Entry, Event, Outcome};
use hearth_guard::{Caller, Denial, DeniedRequest, DenyReason};

/// Writes the gate's records to an [`AuditLog`].
pub(crate) struct Recorder {
    log: Arc<AuditLog>,
    admissions: bool,
    /// Records the writer's full queue turned away since the last count was written.
    dropped: AtomicU64,
    /// Whether the log has stopped taking records (said once on stderr).
    failing: AtomicBool,
}

impl Recorder {
    pub(crate) fn new(log: Arc<AuditLog>, admissions: bool) -> Self {
        Self {
            log,
            admissions,
            dropped: AtomicU64::new(0),
            failing: AtomicBool::new(false),
        }
    }

    /// A refusal: `FAILED_AUTH_ATTEMPT` for a credential that was refused,
    /// `SUSPICIOUS_ACTIVITY` for what looks like an attack (another Host or Origin, a
    /// cross-site request, a path spelled to slip past rules, a flood of bad
    /// credentials), `REQUEST` for the rest; the actor is unknown (`-`).
    pub(crate) fn denied(&self, denied: &DeniedRequest<'_>) {
        self.refused(denied.method, denied.path, denied.peer, denied.denial);
    }

    /// A refusal decided by the gate itself (a shared limit, a shared revocation).
    pub(crate) fn refused(
        &self,
        method: &http::Method,
        path: &str,
        peer: SocketAddr,
        denial: &Denial,
    ) {
        let reason = denial.reason();
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
        let action = format!("{method} {}", reason_name(reason));
        self.record(event, "-", path, &action, Outcome::Denied, peer);
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

    /// A change of the gate's own state (Redis out of reach, and back), as
    /// `GATE_STATE` by `hearth-gate`: written with a wait for the disk (off the request's
    /// thread), not dropped with a full queue as a request record may be.
    #[cfg(feature = "redis")]
    pub(crate) fn note(&self, what: &str, outcome: Outcome) {
        let Ok(entry) = Entry::new(
            Event::Other("GATE_STATE".into()),
            "hearth-gate",
            "state",
            what,
            outcome,
        ) else {
            return;
        };
        let log = Arc::clone(&self.log);
        let append = move || {
            if let Err(e) = log.append(entry) {
                eprintln!("hearth gate: the audit log: {e}");
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(append)),
            Err(_) => append(),
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
        // Attacker-chosen text (a path, a method) is cut to fit and its control
        // characters shown, so that the record keeps its event and peer whatever came in.
        let entry = Entry::new(event, &fit(actor), &fit(resource), &fit(action), outcome)
            .and_then(|e| e.peer(&peer.ip().to_string()));
        match entry {
            Ok(entry) => self.submit(entry),
            Err(_) => {
                self.dropped.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// Hands `entry` to the writer; counts it when the writer cannot take it, and records
    /// the count with the next entry that goes through.
    fn submit(&self, entry: Entry) {
        let dropped = self.dropped.swap(0, Ordering::AcqRel);
        if dropped > 0 {
            let note = Entry::new(
                Event::SuspiciousActivity,
                "hearth-gate",
                "audit",
                &format!("{dropped} records dropped: the audit writer could not take them"),
                Outcome::Failure,
            );
            if let Ok(note) = note
                && !matches!(self.log.submit(note), Ok(true))
            {
                self.dropped.fetch_add(dropped, Ordering::AcqRel);
            }
        }
        match self.log.submit(entry) {
            Ok(true) => {
                self.failing.store(false, Ordering::Release);
            }
            Ok(false) => {
                self.dropped.fetch_add(1, Ordering::AcqRel);
            }
            Err(e) => {
                self.dropped.fetch_add(1, Ordering::AcqRel);
                // Said once, not once per request: the log stopped (a write failed).
                if !self.failing.swap(true, Ordering::AcqRel) {
                    eprintln!("hearth gate: the audit log stopped recording: {e}");
                }
            }
        }
    }
}

/// `text` within an audit field: control characters shown as `\u{..}`, and cut (on a
/// character boundary) to leave room under the field limit.
fn fit(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_TEXT));
    for c in text.chars() {
        if out.len() >= MAX_TEXT {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.push_str(&c.escape_unicode().to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// How much of a field the gate fills (under hearth-audit's 1024-byte limit, leaving room
/// for redaction's masks).
const MAX_TEXT: usize = 512;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_is_cut_and_shown_not_obeyed() {
        let long = "/".repeat(5000);
        let cut = fit(&long);
        assert!(cut.len() <= MAX_TEXT + 3, "{}", cut.len());
        assert_eq!(fit("/a\nb\u{1b}"), "/a\\u{a}b\\u{1b}");
        let method = "X".repeat(2000) + " missing_credentials";
        assert!(
            Entry::new(
                Event::Request,
                "-",
                &fit(&long),
                &fit(&method),
                Outcome::Denied
            )
            .is_ok()
        );
    }
}
