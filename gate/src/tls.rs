//! The TLS listener's certificate and key, from PEM files.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::PrivateKeyDer;
use rustls_pki_types::pem::PemObject as _;

use crate::Error;

/// A TLS acceptor for `cert` (a PEM chain, leaf first) and `key` (PKCS#8, PKCS#1 or SEC1
/// PEM), HTTP/1.1 only.
pub(crate) fn acceptor(cert: &Path, key: &Path) -> Result<tokio_rustls::TlsAcceptor, Error> {
    let chain = crate::policy::read_certificates(cert)?
        .into_iter()
        .map(rustls_pki_types::CertificateDer::from)
        .collect();
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| Error::Tls(format!("{}: {}", key.display(), pem_problem(&e))))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| Error::Tls(format!("the certificate and key do not go together: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// A PEM file's problem as a sentence (the error's own text prints bytes as a list).
pub(crate) fn pem_problem(e: &rustls_pki_types::pem::Error) -> String {
    use rustls_pki_types::pem::Error as Pem;
    match e {
        Pem::MissingSectionEnd { .. } => "a PEM section has no END line".into(),
        Pem::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed".into(),
        Pem::Base64Decode(_) => "a PEM section is not valid base64".into(),
        Pem::Io(e) => e.to_string(),
        Pem::NoItemsFound => {
            "no PEM section of the expected kind (certificate or private key)".into()
        }
        _ => "the PEM file cannot be read".into(),
    }
}
