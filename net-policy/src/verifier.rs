//! [`PinningVerifier`]: rustls certificate verification with pins checked against the
//! verified path.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{CertificateError, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::{CertInfo, CertificateProblem, Pin, PinFailure, PinMode, PinPolicy, UntrustedReason};

/// Without expected pins no path is refused for its pins.
fn unreachable_pins() -> rustls::Error {
    rustls::Error::General("no pins were asked for".into())
}

/// Verifies server certificates like rustls's WebPKI verifier, plus [`PinPolicy`]:
///
/// - hosts without pins: the chain must be valid for the name under the roots;
/// - [`PinMode::CaAndPinned`]: the same, and a pin must match a certificate of the path
///   webpki built and verified (never merely a certificate the server sent);
/// - [`PinMode::PinnedOnly`]: the leaf's public key must match a pin (no CA involved), and
///   the leaf's validity dates must hold unless the policy opts out
///   ([`PinPolicy::ignore_validity_dates`]); names are not checked: the pin is the
///   identity.
///
/// Pins are checked inside path building: webpki tries every path the server's
/// certificates allow until one carries a pin, so with cross-signed intermediates a pin on
/// either root is honoured. A report-only policy reports a failure and then lets the
/// trusted roots decide: it never accepts a certificate that CA validation refuses. In
/// every mode rustls then checks the handshake signature with the leaf's key.
#[derive(Debug)]
pub struct PinningVerifier {
    roots: Arc<RootCertStore>,
    pins: PinPolicy,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinningVerifier {
    /// A verifier trusting `roots` with `pins`, using `provider`'s signature algorithms.
    #[must_use]
    pub fn new(roots: Arc<RootCertStore>, pins: PinPolicy, provider: &CryptoProvider) -> Self {
        Self {
            roots,
            pins,
            algorithms: provider.signature_verification_algorithms,
        }
    }

    /// A pin failure: an error, or with report-only, reported — and then the trusted roots
    /// decide (a report-only policy never accepts what CA validation would refuse).
    fn refuse(
        &self,
        failure: PinFailure,
        ca_valid: impl FnOnce() -> Result<(), rustls::Error>,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(report) = self.pins.report_only_callback() {
            report(&failure);
            ca_valid()?;
            return Ok(ServerCertVerified::assertion());
        }
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(
            OtherError(Arc::new(failure)),
        )))
    }

    /// Checks the name, then builds and verifies a path; with `expected` pins, a path is
    /// accepted only if one of its certificates (leaf, intermediates, anchor) carries one,
    /// and webpki goes on to other paths until one does (so a backup pin on the other root
    /// of a cross-signed pair is honoured). `Ok(Err(pins))`: valid paths exist, none pinned;
    /// `pins` are theirs.
    fn verify_path(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
        expected: Option<&[Pin]>,
    ) -> Result<Result<(), Vec<Pin>>, rustls::Error> {
        let problem = |e| problem(e, end_entity, intermediates, server_name);
        let ee = webpki::EndEntityCert::try_from(end_entity).map_err(problem)?;
        ee.verify_is_valid_for_subject_name(server_name)
            .map_err(problem)?;
        let seen: RefCell<Vec<Pin>> = RefCell::new(Vec::new());
        let pinned = |path: &webpki::VerifiedPath<'_>| -> Result<(), webpki::Error> {
            let Some(expected) = expected else {
                return Ok(());
            };
            let leaf = std::iter::once(Pin::of_spki(
                path.end_entity().subject_public_key_info().as_ref(),
            ));
            let middle = path
                .intermediate_certificates()
                .map(|c| Pin::of_spki(c.subject_public_key_info().as_ref()));
            let anchor = std::iter::once_with(|| {
                Pin::of_spki(&wrap_sequence(
                    path.anchor().subject_public_key_info.as_ref(),
                ))
            });
            let mut seen = seen.borrow_mut();
            for pin in leaf.chain(middle).chain(anchor) {
                if expected.contains(&pin) {
                    return Ok(());
                }
                if !seen.contains(&pin) {
                    seen.push(pin);
                }
            }
            // Not this path: let webpki try the others.
            Err(webpki::Error::UnknownIssuer)
        };
        let built = ee.verify_for_usage(
            self.algorithms.all,
            &self.roots.roots,
            intermediates,
            now,
            webpki::KeyUsage::server_auth(),
            None,
            Some(&pinned),
        );
        match built {
            Ok(_) => Ok(Ok(())),
            Err(e) => {
                let seen = seen.into_inner();
                if seen.is_empty() {
                    Err(problem(e))
                } else {
                    Ok(Err(seen))
                }
            }
        }
    }
}

/// The validity dates of a pinned-only leaf (no CA checks them).
fn check_dates(
    end_entity: &CertificateDer<'_>,
    server_name: &ServerName<'_>,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let refuse = |reason| refused(server_name, std::slice::from_ref(end_entity), reason);
    let info =
        CertInfo::from_der(end_entity.as_ref()).map_err(|_| refuse(UntrustedReason::Malformed))?;
    let (not_before, not_after) = info
        .validity_unix()
        .ok_or_else(|| refuse(UntrustedReason::Malformed))?;
    let at = |secs: u64| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs);
    let time = now.as_secs();
    if time > not_after {
        return Err(refuse(UntrustedReason::Expired {
            not_after: at(not_after),
            now: at(time),
        }));
    }
    if time < not_before {
        return Err(refuse(UntrustedReason::NotYetValid {
            not_before: at(not_before),
            now: at(time),
        }));
    }
    Ok(())
}

/// A refused certificate as rustls carries it: our [`CertificateProblem`] inside
/// `CertificateError::Other`, with the presented chain's pins.
fn refused(
    server_name: &ServerName<'_>,
    presented: &[CertificateDer<'_>],
    reason: UntrustedReason,
) -> rustls::Error {
    let problem = CertificateProblem {
        host: server_name.to_str().into_owned(),
        reason,
        chain: presented
            .iter()
            .filter_map(|c| Pin::of_certificate(c).ok())
            .collect(),
    };
    rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(problem))))
}

/// A webpki failure as a [`CertificateProblem`] a person can act on.
fn problem(
    e: webpki::Error,
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    server_name: &ServerName<'_>,
) -> rustls::Error {
    use webpki::Error as W;
    let at = |t: UnixTime| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs());
    let self_issued = CertInfo::from_der(end_entity.as_ref())
        .is_ok_and(|i| i.subject == i.issuer && intermediates.is_empty());
    let reason = match e {
        W::UnknownIssuer | W::CaUsedAsEndEntity if self_issued => UntrustedReason::SelfSigned,
        W::UnknownIssuer => UntrustedReason::UnknownIssuer,
        W::CertExpired { time, not_after } => UntrustedReason::Expired {
            not_after: at(not_after),
            now: at(time),
        },
        W::CertNotValidYet { time, not_before } => UntrustedReason::NotYetValid {
            not_before: at(not_before),
            now: at(time),
        },
        W::CertNotValidForName(_) => UntrustedReason::NotValidForName {
            presented: webpki::EndEntityCert::try_from(end_entity)
                .map(|ee| ee.valid_dns_names().map(str::to_owned).collect())
                .unwrap_or_default(),
        },
        W::InvalidSignatureForPublicKey
        | W::UnsupportedSignatureAlgorithmContext(_)
        | W::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => UntrustedReason::BadSignature,
        W::CaUsedAsEndEntity | W::EndEntityUsedAsCa => UntrustedReason::NotForServers,
        #[allow(deprecated, reason = "webpki still returns the old variant")]
        W::RequiredEkuNotFound => UntrustedReason::NotForServers,
        W::RequiredEkuNotFoundContext(_) => UntrustedReason::NotForServers,
        W::BadDer | W::BadDerTime | W::TrailingData(_) => UntrustedReason::Malformed,
        W::CertRevoked => UntrustedReason::Other("it was revoked".into()),
        W::CertDistrusted => UntrustedReason::Other("its key is distrusted".into()),
        W::NameConstraintViolation => {
            UntrustedReason::Other("it breaks a name constraint of its issuer".into())
        }
        W::PathLenConstraintViolated => {
            UntrustedReason::Other("its chain is longer than an issuer allows".into())
        }
        W::MaximumPathBuildCallsExceeded
        | W::MaximumSignatureChecksExceeded
        | W::MaximumPathDepthExceeded => {
            UntrustedReason::Other("its chain could not be verified within the limits".into())
        }
        _ => UntrustedReason::Other("its chain does not verify".into()),
    };
    let presented: Vec<CertificateDer<'_>> = std::iter::once(end_entity)
        .chain(intermediates)
        .cloned()
        .collect();
    refused(server_name, &presented, reason)
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let host = server_name.to_str().into_owned();
        let pinned = self.pins.lookup(&host);
        let expired = self.pins.expired_to_ca_only(SystemTime::now());
        match pinned {
            Some((expected, PinMode::PinnedOnly)) if !expired => {
                let leaf = Pin::of_certificate(end_entity)
                    .map_err(|_| refused(server_name, &[], UntrustedReason::Malformed))?;
                if !expected.contains(&leaf) {
                    let presented: Vec<Pin> = std::iter::once(end_entity)
                        .chain(intermediates)
                        .filter_map(|c| Pin::of_certificate(c).ok())
                        .collect();
                    let failure = PinFailure {
                        host,
                        presented,
                        expected,
                    };
                    return self.refuse(failure, || {
                        self.verify_path(end_entity, intermediates, server_name, now, None)?
                            .map_err(|_| unreachable_pins())
                    });
                }
                if self.pins.checks_validity_dates() {
                    check_dates(end_entity, server_name, now)?;
                }
                Ok(ServerCertVerified::assertion())
            }
            Some((expected, PinMode::CaAndPinned)) if !expired => {
                match self.verify_path(
                    end_entity,
                    intermediates,
                    server_name,
                    now,
                    Some(&expected),
                )? {
                    Ok(()) => Ok(ServerCertVerified::assertion()),
                    // A CA-valid path exists (the pins were read off one), so with
                    // report-only the roots have already accepted it.
                    Err(presented) => self.refuse(
                        PinFailure {
                            host,
                            presented,
                            expected,
                        },
                        || Ok(()),
                    ),
                }
            }
            _ => {
                // Unpinned host, or pins expired with `AfterExpiry::CaOnly`.
                let _ = self.verify_path(end_entity, intermediates, server_name, now, None)?;
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// DER SEQUENCE around `contents` (webpki keeps a trust anchor's SPKI without it).
fn wrap_sequence(contents: &[u8]) -> Vec<u8> {
    let len = contents.len();
    let mut out = Vec::with_capacity(len + 4);
    out.push(0x30);
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(contents);
    out
}

#[cfg(test)]
mod tests {
    use super::wrap_sequence;

    #[test]
    fn der_lengths() {
        assert_eq!(wrap_sequence(&[1, 2]), [0x30, 2, 1, 2]);
        assert_eq!(&wrap_sequence(&[0; 200])[..3], &[0x30, 0x81, 200]);
        assert_eq!(&wrap_sequence(&[0; 300])[..4], &[0x30, 0x82, 1, 44]);
    }
}
