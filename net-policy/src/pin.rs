//! [`Pin`]: a SHA-256 hash of a SubjectPublicKeyInfo, in OkHttp's `sha256/…` format.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::digest::{SHA256, digest};

use crate::Error;

const PREFIX: &str = "sha256/";

/// A public-key pin: SHA-256 of a certificate's DER SubjectPublicKeyInfo, written as
/// `sha256/` and standard, padded base64, exactly as OkHttp, Android's Network Security
/// Config, iOS ATS and TrustKit write it. Compute one with
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`.
///
/// ```
/// use hearth_net_policy::Pin;
///
/// let pin: Pin = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=".parse()?;
/// assert_eq!(pin, Pin::of_spki(b""));
/// assert_eq!(pin.to_string(), "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Pin([u8; 32]);

impl Pin {
    /// The pin of a DER SubjectPublicKeyInfo.
    ///
    /// ```
    /// let pin = hearth_net_policy::Pin::of_spki(&[0x30, 0x00]);
    /// assert!(pin.to_string().starts_with("sha256/"));
    /// ```
    #[must_use]
    pub fn of_spki(spki_der: &[u8]) -> Self {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest(&SHA256, spki_der).as_ref());
        Self(out)
    }

    /// The pin of a DER certificate's public key.
    ///
    /// ```
    /// let err = hearth_net_policy::Pin::of_certificate(b"not DER").unwrap_err();
    /// assert!(matches!(err, hearth_net_policy::Error::BadCertificate { .. }));
    /// ```
    pub fn of_certificate(cert_der: &[u8]) -> Result<Self, Error> {
        let der = rustls_pki_types::CertificateDer::from(cert_der);
        let cert = webpki::EndEntityCert::try_from(&der).map_err(|e| Error::BadCertificate {
            reason: format!("{e:?}"),
        })?;
        Ok(Self::of_spki(cert.subject_public_key_info().as_ref()))
    }

    /// The 32-byte hash.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl FromStr for Pin {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let invalid = |reason| Error::InvalidPin { reason };
        let Some(b64) = s.strip_prefix(PREFIX) else {
            return Err(invalid(
                "a pin starts with 'sha256/' (sha1 pins are not accepted)",
            ));
        };
        if b64.len() != 44 {
            return Err(invalid("expected 44 base64 characters after 'sha256/'"));
        }
        let mut out = [0u8; 32];
        match STANDARD.decode_slice(b64, &mut out) {
            Ok(32) => Ok(Self(out)),
            _ => Err(invalid("not the standard base64 of 32 bytes")),
        }
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD.encode(self.0))
    }
}

impl fmt::Debug for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pin({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_okhttp_pins() {
        let text = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
        let pin: Pin = text.parse().unwrap();
        assert_eq!(pin.as_bytes(), &[0; 32]);
        assert_eq!(pin.to_string(), text);
    }

    #[test]
    fn rejects_malformed_pins() {
        for bad in [
            "",
            "sha256/",
            "sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "SHA256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
            "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA-=",
            "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
            " sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(bad.parse::<Pin>().is_err(), "{bad:?}");
        }
    }
}
