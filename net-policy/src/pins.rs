//! [`PinPolicy`]: which public keys each host may present.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use crate::{Error, HostPattern, Pin};

/// How a host's pins combine with CA validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinMode {
    /// The chain must be valid for the name under the trusted roots, **and** a pin must
    /// match a certificate of the verified path (leaf, intermediate or root); a certificate
    /// the server merely sent alongside does not count.
    CaAndPinned,
    /// For a self-signed server: the leaf's public key must match a pin; no CA is needed.
    /// The TLS handshake signature is still verified with that key, so only the holder of
    /// the private key can pass.
    PinnedOnly,
}

/// What happens once a [`PinPolicy`]'s expiry date has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AfterExpiry {
    /// Keep enforcing the pins (fail closed): an app that is never updated keeps refusing
    /// other keys.
    KeepEnforcing,
    /// Stop checking pins; certificates are then checked against the trusted roots only
    /// (fail open to CA validation, never to "accept anything"). Pinned-only hosts then
    /// need a CA-valid certificate.
    CaOnly,
}

/// A host's pin failure, as given to a report-only callback and put in the error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinFailure {
    /// The server name the connection was for.
    pub host: String,
    /// The pins of the certificates the check looked at (the verified path, leaf first,
    /// or for pinned-only hosts the certificates presented).
    pub presented: Vec<Pin>,
    /// The pins configured for the host.
    pub expected: Vec<Pin>,
}

impl fmt::Display for PinFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |pins: &[Pin]| {
            pins.iter()
                .map(Pin::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        write!(
            f,
            "certificate pinning failure for {}: the chain's pins are [{}]; expected one of [{}]",
            self.host,
            list(&self.presented),
            list(&self.expected)
        )
    }
}

impl std::error::Error for PinFailure {}

#[derive(Debug, Clone)]
struct Rule {
    pattern: HostPattern,
    pins: Vec<Pin>,
    mode: PinMode,
}

/// A report-only callback.
pub type ReportFn = Arc<dyn Fn(&PinFailure) + Send + Sync>;

/// Pins per host pattern, in OkHttp's format, with an optional expiry and report-only mode.
///
/// Hosts with no matching rule are not pinned (CA validation only). When several rules
/// match a host, their pins are combined, and the host is pinned-only if any of them is.
///
/// ```
/// use hearth_net_policy::{PinPolicy, PinMode};
///
/// let pins = PinPolicy::new()
///     .pin("api.spotify.com", ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
///                              "sha256/BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBA="])? // a backup pin
///     .self_signed("jellyfin.home.arpa", ["sha256/CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="])?;
/// assert_eq!(pins.lookup("jellyfin.home.arpa").unwrap().1, PinMode::PinnedOnly);
/// assert!(pins.lookup("example.com").is_none());
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct PinPolicy {
    rules: Vec<Rule>,
    expiry: Option<(SystemTime, AfterExpiry)>,
    report_only: Option<ReportFn>,
    ignore_dates: bool,
}

impl fmt::Debug for PinPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinPolicy")
            .field("rules", &self.rules)
            .field("expiry", &self.expiry)
            .field("report_only", &self.report_only.is_some())
            .field("ignore_dates", &self.ignore_dates)
            .finish()
    }
}

impl PinPolicy {
    /// No pins.
    pub fn new() -> Self {
        Self::default()
    }

    /// CA-valid and pinned ([`PinMode::CaAndPinned`]) for hosts matching `pattern`.
    pub fn pin<I, S>(self, pattern: &str, pins: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rule(pattern, pins, PinMode::CaAndPinned)
    }

    /// Pinned only ([`PinMode::PinnedOnly`]), for a self-signed server.
    pub fn self_signed<I, S>(self, pattern: &str, pins: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.rule(pattern, pins, PinMode::PinnedOnly)
    }

    /// A rule with already-parsed pins.
    pub fn rule<I, S>(mut self, pattern: &str, pins: I, mode: PinMode) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let pins = pins
            .into_iter()
            .map(|p| p.as_ref().parse())
            .collect::<Result<Vec<Pin>, _>>()?;
        if pins.is_empty() {
            return Err(Error::InvalidPin {
                reason: "a rule needs at least one pin",
            });
        }
        self.rules.push(Rule {
            pattern: pattern.parse()?,
            pins,
            mode,
        });
        Ok(self)
    }

    /// After `at`, do what `then` says.
    pub fn expires(mut self, at: SystemTime, then: AfterExpiry) -> Self {
        self.expiry = Some((at, then));
        self
    }

    /// Report failures to `callback` instead of failing the connection (to roll pins out
    /// safely); the trusted roots then decide, so a pinned-only (self-signed) host whose
    /// pin fails is still refused unless its certificate is CA-valid. Nothing is sent
    /// anywhere: the callback is the app's own.
    pub fn report_only(mut self, callback: impl Fn(&PinFailure) + Send + Sync + 'static) -> Self {
        self.report_only = Some(Arc::new(callback));
        self
    }

    /// Accept pinned-only ([`PinMode::PinnedOnly`]) certificates outside their validity
    /// dates: for a home server whose self-signed certificate expired and cannot be
    /// renewed today. The pin still decides who the server is; CA-validated hosts keep
    /// their date checks.
    ///
    /// ```
    /// use hearth_net_policy::PinPolicy;
    ///
    /// let pins = PinPolicy::new()
    ///     .self_signed("nas.home.arpa", ["sha256/CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="])?
    ///     .ignore_validity_dates();
    /// # Ok::<(), hearth_net_policy::Error>(())
    /// ```
    pub fn ignore_validity_dates(mut self) -> Self {
        self.ignore_dates = true;
        self
    }

    /// Whether pinned-only certificates must be within their validity dates (the
    /// default).
    #[must_use]
    pub fn checks_validity_dates(&self) -> bool {
        !self.ignore_dates
    }

    /// The pins and mode for `host`, if any rule matches.
    #[must_use]
    pub fn lookup(&self, host: &str) -> Option<(Vec<Pin>, PinMode)> {
        let mut pins = Vec::new();
        let mut mode = PinMode::CaAndPinned;
        for rule in self.rules.iter().filter(|r| r.pattern.matches(host)) {
            pins.extend_from_slice(&rule.pins);
            if rule.mode == PinMode::PinnedOnly {
                mode = PinMode::PinnedOnly;
            }
        }
        (!pins.is_empty()).then_some((pins, mode))
    }

    /// Whether the pins no longer apply at `now`.
    pub(crate) fn expired_to_ca_only(&self, now: SystemTime) -> bool {
        matches!(self.expiry, Some((at, AfterExpiry::CaOnly)) if now > at)
    }

    pub(crate) fn report_only_callback(&self) -> Option<&ReportFn> {
        self.report_only.as_ref()
    }

    pub(crate) fn has_pinned_only(&self) -> bool {
        self.rules.iter().any(|r| r.mode == PinMode::PinnedOnly)
    }
}
