//! Trust on first use, done right: pins are kept per host **and port**, a first contact is
//! a decision for the app (with the certificate shown), and a changed key is an error that
//! names both keys, never a silent re-trust.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::net::TcpStream;

use crate::{CertInfo, Error, Pin, Timeouts};

/// Where first-use pins are remembered, keyed by host and port.
pub trait PinStore: Send + Sync {
    /// The pin remembered for `host:port`.
    fn get(&self, host: &str, port: u16) -> Result<Option<Pin>, Error>;
    /// Remembers `pin` for `host:port` (after the user accepted it).
    fn put(&self, host: &str, port: u16, pin: Pin) -> Result<(), Error>;
    /// Forgets `host:port`; returns whether it was known.
    fn remove(&self, host: &str, port: u16) -> Result<bool, Error>;
}

/// Pins in memory, for tests and one-shot tools.
#[derive(Debug, Default)]
pub struct MemoryPinStore {
    pins: Mutex<BTreeMap<(String, u16), Pin>>,
}

impl MemoryPinStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl PinStore for MemoryPinStore {
    fn get(&self, host: &str, port: u16) -> Result<Option<Pin>, Error> {
        let pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(pins.get(&(host.to_ascii_lowercase(), port)).copied())
    }

    fn put(&self, host: &str, port: u16, pin: Pin) -> Result<(), Error> {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        pins.insert((host.to_ascii_lowercase(), port), pin);
        Ok(())
    }

    fn remove(&self, host: &str, port: u16) -> Result<bool, Error> {
        let mut pins = self.pins.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(pins.remove(&(host.to_ascii_lowercase(), port)).is_some())
    }
}

/// Pins in an owner-only file, one `host port sha256/…` line each, written atomically.
#[derive(Debug, Clone)]
pub struct FilePinStore {
    path: PathBuf,
}

impl FilePinStore {
    /// A store in `path` (created on the first `put`, 0600 in a 0700 directory).
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    fn load(&self) -> Result<BTreeMap<(String, u16), Pin>, Error> {
        let bytes = match hearth_token_guard::private_file::read(&self.path, 1 << 20) {
            Ok(b) => b,
            Err(hearth_token_guard::Error::NotFound { .. }) => return Ok(BTreeMap::new()),
            Err(e) => return Err(Error::PinStore(e.to_string())),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| Error::PinStore("not UTF-8".into()))?;
        let mut pins = BTreeMap::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let bad = || Error::PinStore(format!("line {}: expected 'host port sha256/…'", n + 1));
            let mut fields = line.split_whitespace();
            let (Some(host), Some(port), Some(pin), None) =
                (fields.next(), fields.next(), fields.next(), fields.next())
            else {
                return Err(bad());
            };
            let port: u16 = port.parse().map_err(|_| bad())?;
            pins.insert(
                (host.to_ascii_lowercase(), port),
                pin.parse().map_err(|_| bad())?,
            );
        }
        Ok(pins)
    }

    fn save(
        &self,
        lock: &hearth_token_guard::private_file::DirLock,
        pins: &BTreeMap<(String, u16), Pin>,
    ) -> Result<(), Error> {
        let text: String = pins
            .iter()
            .map(|((h, p), pin)| format!("{h} {p} {pin}\n"))
            .collect();
        hearth_token_guard::private_file::write_locked(
            lock,
            &self.path,
            text.as_bytes(),
            hearth_token_guard::private_file::WriteMode::Replace,
        )
        .map_err(|e| Error::PinStore(e.to_string()))
    }

    fn update<T>(
        &self,
        f: impl FnOnce(&mut BTreeMap<(String, u16), Pin>) -> T,
    ) -> Result<T, Error> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let lock = hearth_token_guard::private_file::DirLock::acquire(
            &dir,
            hearth_token_guard::private_file::LOCK_TIMEOUT,
        )
        .map_err(|e| Error::PinStore(e.to_string()))?;
        let mut pins = self.load()?;
        let out = f(&mut pins);
        self.save(&lock, &pins)?;
        Ok(out)
    }
}

impl PinStore for FilePinStore {
    fn get(&self, host: &str, port: u16) -> Result<Option<Pin>, Error> {
        Ok(self
            .load()?
            .get(&(host.to_ascii_lowercase(), port))
            .copied())
    }

    fn put(&self, host: &str, port: u16, pin: Pin) -> Result<(), Error> {
        self.update(|pins| {
            pins.insert((host.to_ascii_lowercase(), port), pin);
        })
    }

    fn remove(&self, host: &str, port: u16) -> Result<bool, Error> {
        self.update(|pins| pins.remove(&(host.to_ascii_lowercase(), port)).is_some())
    }
}

/// What [`trust_on_first_use`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrustDecision {
    /// The server presents the remembered key: connect with a pinned-only rule for it.
    Known {
        /// The remembered pin.
        pin: Pin,
    },
    /// Nothing remembered: show `chain` to the user; if they accept, store `chain[0].pin`.
    FirstContact {
        /// The chain the server presented, leaf first.
        chain: Vec<CertInfo>,
    },
}

/// Connects to `host:port`, reads the certificate chain without trusting it (nothing is
/// sent after the handshake's first flight; the connection is aborted), and compares the
/// leaf's key with `store`. A different key is [`Error::PinChanged`] with both pins and the
/// new chain, so the app can show "this server's key changed" instead of "trust anyway".
pub async fn trust_on_first_use(
    store: &dyn PinStore,
    host: &str,
    port: u16,
    timeouts: Timeouts,
) -> Result<TrustDecision, Error> {
    let chain = fetch_chain(host, port, timeouts).await?;
    let leaf = chain.first().ok_or_else(|| Error::BadCertificate {
        reason: "the server sent no certificate".into(),
    })?;
    match store.get(host, port)? {
        Some(pin) if pin == leaf.pin => Ok(TrustDecision::Known { pin }),
        Some(old) => Err(Error::PinChanged {
            host: format!("{host}:{port}"),
            old,
            new: leaf.pin,
            chain,
        }),
        None => Ok(TrustDecision::FirstContact { chain }),
    }
}

/// The certificate chain `host:port` presents, described, without trusting it.
pub async fn fetch_chain(
    host: &str,
    port: u16,
    timeouts: Timeouts,
) -> Result<Vec<CertInfo>, Error> {
    let captured: Arc<Mutex<Vec<CertificateDer<'static>>>> = Arc::default();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Capture {
        chain: Arc::clone(&captured),
        schemes: provider
            .signature_verification_algorithms
            .supported_schemes(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let name = ServerName::try_from(bare.clone()).map_err(|_| Error::InvalidUrl {
        reason: "not a valid TLS server name",
    })?;
    let tcp = tokio::time::timeout(timeouts.connect, TcpStream::connect((bare.as_str(), port)))
        .await
        .map_err(|_| Error::Timeout {
            stage: "connect",
            after: timeouts.connect,
        })?
        .map_err(|e| Error::Connect {
            host: host.to_owned(),
            source: e,
        })?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    // The capture verifier always refuses, so this handshake always fails, on purpose;
    // when no chain arrived, how it failed is the answer.
    let handshake = tokio::time::timeout(timeouts.handshake, connector.connect(name, tcp)).await;
    let chain = std::mem::take(&mut *captured.lock().unwrap_or_else(PoisonError::into_inner));
    if chain.is_empty() {
        return Err(match handshake {
            Err(_) => Error::Timeout {
                stage: "TLS handshake",
                after: timeouts.handshake,
            },
            Ok(Err(e)) => crate::client::handshake_error(e, &format!("{host}:{port}")),
            Ok(Ok(_)) => Error::BadCertificate {
                reason: format!("no certificate received from {host}:{port}"),
            },
        });
    }
    chain.iter().map(|c| CertInfo::from_der(c)).collect()
}

/// Records the presented chain, then refuses it.
#[derive(Debug)]
struct Capture {
    chain: Arc<Mutex<Vec<CertificateDer<'static>>>>,
    schemes: Vec<SignatureScheme>,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = self.chain.lock().unwrap_or_else(PoisonError::into_inner);
        chain.push(end_entity.clone().into_owned());
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        Err(rustls::Error::General("chain captured; not trusted".into()))
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not trusted".into()))
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &CertificateDer<'_>,
        _: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("not trusted".into()))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}
