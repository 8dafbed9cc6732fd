//! [`Entry`]: what an app records, before the log numbers, times and chains it.

use std::borrow::Cow;

use crate::Error;

/// The longest a field may be, in bytes, after redaction.
pub const MAX_FIELD_LEN: usize = 1024;

/// The security events an app records (seed 003's list), plus the gate's per-request
/// event. Any other name in `UPPER_SNAKE_CASE` is [`Event::Other`].
///
/// ```
/// use hearth_audit::Event;
///
/// assert_eq!(Event::FailedAuthAttempt.name(), "FAILED_AUTH_ATTEMPT");
/// assert_eq!(Event::parse("TOKEN_REVOKED"), Some(Event::TokenRevoked));
/// assert_eq!(Event::parse("BACKUP_MADE"), Some(Event::Other("BACKUP_MADE".into())));
/// assert_eq!(Event::parse("lower"), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A user signed in.
    Login,
    /// A user signed out.
    Logout,
    /// A token or API key was issued.
    TokenGenerated,
    /// A token or API key was revoked.
    TokenRevoked,
    /// A permission or role was granted.
    PermissionGranted,
    /// A permission or role was taken away.
    PermissionRevoked,
    /// A credential was refused.
    FailedAuthAttempt,
    /// An administrator changed the configuration.
    AdminConfigChanged,
    /// Something that looks like an attack (a flood, a rebinding attempt).
    SuspiciousActivity,
    /// A request the gate admitted or denied.
    Request,
    /// Another event, `UPPER_SNAKE_CASE`, at most 64 bytes.
    Other(String),
}

impl Event {
    const NAMED: [(&'static str, Event); 10] = [
        ("LOGIN", Event::Login),
        ("LOGOUT", Event::Logout),
        ("TOKEN_GENERATED", Event::TokenGenerated),
        ("TOKEN_REVOKED", Event::TokenRevoked),
        ("PERMISSION_GRANTED", Event::PermissionGranted),
        ("PERMISSION_REVOKED", Event::PermissionRevoked),
        ("FAILED_AUTH_ATTEMPT", Event::FailedAuthAttempt),
        ("ADMIN_CONFIG_CHANGED", Event::AdminConfigChanged),
        ("SUSPICIOUS_ACTIVITY", Event::SuspiciousActivity),
        ("REQUEST", Event::Request),
    ];

    /// The name written in the log.
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Other(name) => name,
            known => Self::NAMED
                .iter()
                .find(|(_, e)| e == known)
                .map_or("", |(n, _)| n),
        }
    }

    /// The event a log name stands for; `None` unless it is `UPPER_SNAKE_CASE` of 1 to 64
    /// bytes.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        let valid = (1..=64).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_uppercase())
            && name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return None;
        }
        Some(
            Self::NAMED
                .iter()
                .find(|(n, _)| *n == name)
                .map_or_else(|| Self::Other(name.to_owned()), |(_, e)| e.clone()),
        )
    }
}

/// How the recorded action ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and failed.
    Failure,
    /// A policy refused it.
    Denied,
}

impl Outcome {
    /// The name written in the log.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Self> {
        [Self::Success, Self::Failure, Self::Denied]
            .into_iter()
            .find(|o| o.name() == name)
    }
}

/// One thing to record: who did what to which resource, and how it ended.
///
/// Text fields are passed through token-guard's [`redact`](hearth_token_guard::redact)
/// when the entry is built, so a token, key or password that slipped into a label or a
/// path is masked before it can reach the file; they are at most [`MAX_FIELD_LEN`] bytes
/// after that.
///
/// ```
/// use hearth_audit::{Entry, Event, Outcome};
///
/// let entry = Entry::new(Event::TokenRevoked, "admin", "api-key:k7", "revoke", Outcome::Success)?
///     .peer("127.0.0.1")?
///     .request_id("req-42")?;
/// assert_eq!(entry.actor(), "admin");
/// let leaky = Entry::new(Event::Login, "alice", "session", "Authorization: Bearer abcdef0123456789abcdef", Outcome::Success)?;
/// assert!(!leaky.action().contains("abcdef0123456789"));
/// # Ok::<(), hearth_audit::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub(crate) event: Event,
    pub(crate) actor: String,
    pub(crate) resource: String,
    pub(crate) action: String,
    pub(crate) result: Outcome,
    pub(crate) peer: Option<String>,
    pub(crate) request_id: Option<String>,
}

impl Entry {
    /// An entry; the text fields are redacted and checked (at most [`MAX_FIELD_LEN`]
    /// bytes, no control characters).
    pub fn new(
        event: Event,
        actor: &str,
        resource: &str,
        action: &str,
        result: Outcome,
    ) -> Result<Self, Error> {
        if let Event::Other(name) = &event
            && Event::parse(name).is_none()
        {
            return Err(Error::InvalidEntry {
                reason: "the event name is not UPPER_SNAKE_CASE of at most 64 bytes",
            });
        }
        Ok(Self {
            event,
            actor: field(actor)?,
            resource: field(resource)?,
            action: field(action)?,
            result,
            peer: None,
            request_id: None,
        })
    }

    /// The peer address, as text.
    pub fn peer(mut self, peer: &str) -> Result<Self, Error> {
        self.peer = Some(field(peer)?);
        Ok(self)
    }

    /// The request id that ties the record to the server's other logs.
    pub fn request_id(mut self, id: &str) -> Result<Self, Error> {
        self.request_id = Some(field(id)?);
        Ok(self)
    }

    /// The event.
    #[must_use]
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Who acted (a user, a key id, a JWT `sub`), redacted.
    #[must_use]
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// What was acted on, redacted.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// What was done, redacted.
    #[must_use]
    pub fn action(&self) -> &str {
        &self.action
    }

    /// How it ended.
    #[must_use]
    pub fn result(&self) -> Outcome {
        self.result
    }
}

/// A text field: redacted, bounded, printable.
fn field(text: &str) -> Result<String, Error> {
    let text = match hearth_token_guard::redact(text) {
        Cow::Borrowed(t) => t.to_owned(),
        Cow::Owned(t) => t,
    };
    if text.len() > MAX_FIELD_LEN {
        return Err(Error::InvalidEntry {
            reason: "a field is longer than 1024 bytes",
        });
    }
    if text.chars().any(char::is_control) {
        return Err(Error::InvalidEntry {
            reason: "a field holds a control character",
        });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_event_round_trips() {
        for (name, event) in Event::NAMED {
            assert_eq!(event.name(), name);
            assert_eq!(Event::parse(name), Some(event));
        }
        for bad in ["", "login", "_X", "A-B", &"A".repeat(65)] {
            assert_eq!(Event::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn fields_are_redacted_bounded_and_printable() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlc2lnbmF0dXJl";
        let e = Entry::new(Event::Login, jwt, "r", "a", Outcome::Success).unwrap();
        assert!(!e.actor().contains("c2lnbmF0dXJl"), "{}", e.actor());
        assert!(Entry::new(Event::Login, "a\nb", "r", "a", Outcome::Success).is_err());
        let long = "x".repeat(MAX_FIELD_LEN + 1);
        assert!(Entry::new(Event::Login, &long, "r", "a", Outcome::Success).is_err());
        let odd = Event::Other("lower".into());
        assert!(Entry::new(odd, "a", "r", "a", Outcome::Success).is_err());
    }
}
