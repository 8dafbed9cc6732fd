//! [`CertificateProblem`]: why a server's certificate was not trusted, as a sentence a
//! person can act on, with the facts (dates, names, pins) a program can use.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Pin;

/// Why a certificate is not trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UntrustedReason {
    /// Self-signed (or a CA certificate used as the server's own, as `openssl req -x509`
    /// makes): no authority vouches for it. Pin it to trust it.
    SelfSigned,
    /// Issued by an authority this client does not trust.
    UnknownIssuer,
    /// Past its `notAfter`.
    Expired {
        /// When it expired.
        not_after: SystemTime,
        /// The time of the check.
        now: SystemTime,
    },
    /// Before its `notBefore`.
    NotYetValid {
        /// When it becomes valid.
        not_before: SystemTime,
        /// The time of the check.
        now: SystemTime,
    },
    /// Not issued for the name connected to.
    NotValidForName {
        /// The DNS names it is for.
        presented: Vec<String>,
    },
    /// A signature in the chain does not verify.
    BadSignature,
    /// Not a certificate for a TLS server (its key usage says otherwise).
    NotForServers,
    /// Not a well-formed certificate.
    Malformed,
    /// Any other failure, as a sentence.
    Other(String),
}

/// A server certificate that was refused, carried inside rustls's error and surfaced as
/// [`Error::UntrustedCertificate`](crate::Error::UntrustedCertificate).
///
/// ```
/// use hearth_net_policy::{CertificateProblem, UntrustedReason};
///
/// let p = CertificateProblem { host: "nas.home.arpa".into(), reason: UntrustedReason::SelfSigned, chain: vec![] };
/// assert_eq!(
///     p.to_string(),
///     "the certificate of nas.home.arpa is self-signed: no trusted authority vouches for it"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateProblem {
    /// The server name connected to.
    pub host: String,
    /// Why it was refused.
    pub reason: UntrustedReason,
    /// The pins of the certificates the server presented, leaf first.
    pub chain: Vec<Pin>,
}

impl CertificateProblem {
    /// The leaf's pin, what `--pin` needs to trust this server.
    #[must_use]
    pub fn leaf_pin(&self) -> Option<&Pin> {
        self.chain.first()
    }
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = &self.host;
        match &self.reason {
            UntrustedReason::SelfSigned => write!(
                f,
                "the certificate of {host} is self-signed: no trusted authority vouches for it"
            ),
            UntrustedReason::UnknownIssuer => write!(
                f,
                "the certificate of {host} was issued by an authority this client does not trust"
            ),
            UntrustedReason::Expired { not_after, now } => write!(
                f,
                "the certificate of {host} expired at {} (it is now {})",
                utc(*not_after),
                utc(*now)
            ),
            UntrustedReason::NotYetValid { not_before, now } => write!(
                f,
                "the certificate of {host} is not valid before {} (it is now {})",
                utc(*not_before),
                utc(*now)
            ),
            UntrustedReason::NotValidForName { presented } if presented.is_empty() => write!(
                f,
                "the certificate of {host} is not for {host}: it names no DNS name"
            ),
            UntrustedReason::NotValidForName { presented } => write!(
                f,
                "the certificate of {host} is not for {host}: it is for {}",
                presented.join(", ")
            ),
            UntrustedReason::BadSignature => write!(
                f,
                "the certificate chain of {host} has a signature that does not verify"
            ),
            UntrustedReason::NotForServers => write!(
                f,
                "the certificate of {host} is not a certificate for a TLS server"
            ),
            UntrustedReason::Malformed => {
                write!(
                    f,
                    "the certificate of {host} is not a well-formed certificate"
                )
            }
            UntrustedReason::Other(why) => {
                write!(f, "the certificate of {host} was refused: {why}")
            }
        }
    }
}

impl std::error::Error for CertificateProblem {}

/// `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // The civil date of a day count (the inverse of days-from-civil).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_print_in_utc() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_174_467);
        assert_eq!(utc(t), "2026-12-02 01:21:07 UTC");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc(leap), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn every_reason_is_a_sentence_without_debug_text() {
        let now = UNIX_EPOCH + Duration::from_secs(1_796_174_467);
        for reason in [
            UntrustedReason::SelfSigned,
            UntrustedReason::UnknownIssuer,
            UntrustedReason::Expired {
                not_after: UNIX_EPOCH,
                now,
            },
            UntrustedReason::NotYetValid {
                not_before: now,
                now: UNIX_EPOCH,
            },
            UntrustedReason::NotValidForName {
                presented: vec!["a.test".into(), "b.test".into()],
            },
            UntrustedReason::NotValidForName { presented: vec![] },
            UntrustedReason::BadSignature,
            UntrustedReason::NotForServers,
            UntrustedReason::Malformed,
            UntrustedReason::Other("revoked".into()),
        ] {
            let text = CertificateProblem {
                host: "h.test".into(),
                reason,
                chain: vec![],
            }
            .to_string();
            assert!(text.starts_with("the certificate"), "{text}");
            assert!(
                !text.contains('{') && !text.contains("Some(") && !text.contains("::"),
                "{text}"
            );
        }
    }
}
