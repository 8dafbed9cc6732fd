//! [`TlsPolicy`]: the builder of a `rustls::ClientConfig` that enforces Hearth's policy.

use std::sync::Arc;

use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

use crate::{Error, PinPolicy, PinningVerifier, UrlPolicy};

/// What loading the trusted roots found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RootsReport {
    /// Certificates added as trust anchors.
    pub loaded: usize,
    /// One line per certificate or store that could not be loaded (not fatal unless no
    /// root loaded at all).
    pub failures: Vec<String>,
}

/// Builds the TLS side of Hearth's client: TLS 1.2+ (or 1.3 only), trust in the OS roots
/// and/or extra PEM roots and/or pins, HTTPS only.
///
/// ```
/// use hearth_net_policy::{PinPolicy, TlsPolicy};
///
/// let pins = PinPolicy::new().self_signed("jellyfin.home.arpa", ["sha256/CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCA="])?;
/// let built = TlsPolicy::new().pins(pins).tls13_only().allow_loopback_http().build()?;
/// assert!(built.url_policy().check(&"http://127.0.0.1:8096/".parse().unwrap()).is_ok());
/// assert_eq!(built.config().alpn_protocols, Vec::<Vec<u8>>::new());
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct TlsPolicy {
    native_roots: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    pins: PinPolicy,
    tls13_only: bool,
    url: UrlPolicy,
}

/// The result of [`TlsPolicy::build`].
#[derive(Debug, Clone)]
pub struct BuiltPolicy {
    config: Arc<ClientConfig>,
    url: UrlPolicy,
    roots: RootsReport,
}

impl BuiltPolicy {
    /// The rustls configuration, for any client (hyper, tokio-rustls, ureq, ...).
    #[must_use]
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }

    /// The URL policy to check every request and redirect with.
    pub fn url_policy(&self) -> UrlPolicy {
        self.url
    }

    /// What loading the roots found.
    #[must_use]
    pub fn roots_report(&self) -> &RootsReport {
        &self.roots
    }
}

impl TlsPolicy {
    /// Nothing trusted yet, TLS 1.2 minimum, HTTPS only. Add the OS roots, extra roots or
    /// pins before building.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust the operating system's roots (rustls-native-certs; `SSL_CERT_FILE` and
    /// `SSL_CERT_DIR` override the OS store, as OpenSSL does).
    pub fn native_roots(mut self) -> Self {
        self.native_roots = true;
        self
    }

    /// Also trust the certificates in a PEM file's contents (a private CA).
    pub fn add_root_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| Error::BadCertificate {
                reason: format!("PEM: {e}"),
            })?;
            self.extra_roots.push(cert);
            added += 1;
        }
        if added == 0 {
            return Err(Error::BadCertificate {
                reason: "no CERTIFICATE block in the PEM data".into(),
            });
        }
        Ok(self)
    }

    /// Also trust a DER certificate.
    pub fn add_root_der(mut self, der: Vec<u8>) -> Self {
        self.extra_roots.push(CertificateDer::from(der));
        self
    }

    /// Pins per host.
    pub fn pins(mut self, pins: PinPolicy) -> Self {
        self.pins = pins;
        self
    }

    /// Refuse TLS 1.2: TLS 1.3 only.
    pub fn tls13_only(mut self) -> Self {
        self.tls13_only = true;
        self
    }

    /// Allow `http://` to loopback IP literals (see [`UrlPolicy`]).
    pub fn allow_loopback_http(mut self) -> Self {
        self.url = self.url.allow_loopback_http();
        self
    }

    /// Allow `http://localhost` too.
    pub fn allow_localhost_http(mut self) -> Self {
        self.url = self.url.allow_localhost_http();
        self
    }

    /// Loads the roots and builds the configuration. Fails with [`Error::NoRoots`] if no
    /// root loaded and no host is pinned-only (nothing could ever be trusted).
    pub fn build(self) -> Result<BuiltPolicy, Error> {
        let mut roots = RootCertStore::empty();
        let mut report = RootsReport::default();
        if self.native_roots {
            let found = rustls_native_certs::load_native_certs();
            report
                .failures
                .extend(found.errors.iter().map(|e| e.to_string()));
            for cert in found.certs {
                match roots.add(cert) {
                    Ok(()) => report.loaded += 1,
                    Err(e) => report
                        .failures
                        .push(format!("an OS root was rejected: {e}")),
                }
            }
        }
        for cert in self.extra_roots {
            match roots.add(cert) {
                Ok(()) => report.loaded += 1,
                Err(e) => {
                    return Err(Error::BadCertificate {
                        reason: format!("extra root rejected: {e}"),
                    });
                }
            }
        }
        if report.loaded == 0 && !self.pins.has_pinned_only() {
            return Err(Error::NoRoots {
                failures: report.failures.len(),
            });
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls13_only {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS13, &rustls::version::TLS12]
        };
        let verifier = PinningVerifier::new(Arc::new(roots), self.pins, &provider);
        let config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(BuiltPolicy {
            config: Arc::new(config),
            url: self.url,
            roots: report,
        })
    }
}
