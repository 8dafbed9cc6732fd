//! [`CodeVerifier`] and its S256 [`CodeChallenge`] (RFC 7636 §4.1–4.2).

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_token_guard::{Secret, secret_kind};
use ring::digest::{SHA256, digest};

use crate::Error;

secret_kind!(
    /// The raw secret inside a [`CodeVerifier`].
    pub VerifierSecret, VerifierKind
);

/// Smallest verifier length in bytes of randomness (43 characters).
pub const MIN_VERIFIER_BYTES: usize = 32;
/// Largest verifier length in bytes of randomness (128 characters).
pub const MAX_VERIFIER_BYTES: usize = 96;

/// A PKCE code verifier: random from the OS CSPRNG, 32 bytes (43 characters) by default.
/// Only S256 is offered: there is no `plain` method in this API (RFC 9700 §2.1.1).
///
/// ```
/// use hearth_pkce::CodeVerifier;
///
/// // RFC 7636 Appendix B.
/// let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")?;
/// assert_eq!(v.challenge().as_str(), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
/// assert_eq!(format!("{v:?}"), "CodeVerifier([REDACTED])");
/// # Ok::<(), hearth_pkce::Error>(())
/// ```
pub struct CodeVerifier(Secret<VerifierKind>);

impl CodeVerifier {
    /// A fresh verifier of 32 random bytes (43 characters).
    pub fn generate() -> Result<Self, Error> {
        Self::generate_with_len(MIN_VERIFIER_BYTES)
    }

    /// A fresh verifier of `bytes` random bytes, 32 to 96 (43 to 128 characters).
    ///
    /// ```
    /// let v = hearth_pkce::CodeVerifier::generate_with_len(96)?;
    /// assert_eq!(v.expose_secret().len(), 128);
    /// assert!(hearth_pkce::CodeVerifier::generate_with_len(31).is_err());
    /// # Ok::<(), hearth_pkce::Error>(())
    /// ```
    pub fn generate_with_len(bytes: usize) -> Result<Self, Error> {
        if !(MIN_VERIFIER_BYTES..=MAX_VERIFIER_BYTES).contains(&bytes) {
            return Err(Error::InvalidVerifier {
                reason: "length must be 32 to 96 bytes of randomness (43 to 128 characters)",
            });
        }
        Ok(Self(Secret::generate_with_len(bytes)?))
    }

    /// Checks a verifier received from elsewhere: 43–128 characters of `[A-Za-z0-9-._~]`.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if !(43..=128).contains(&text.len()) {
            return Err(Error::InvalidVerifier {
                reason: "length must be 43 to 128 characters",
            });
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
        {
            return Err(Error::InvalidVerifier {
                reason: "characters must be A-Z a-z 0-9 - . _ ~",
            });
        }
        Ok(Self(Secret::new(text)))
    }

    /// The S256 challenge: BASE64URL(SHA-256(verifier)), unpadded.
    #[must_use]
    pub fn challenge(&self) -> CodeChallenge {
        let hash = digest(&SHA256, self.0.expose_secret().as_bytes());
        // 43 characters, plus room for the NUL a C caller needs (the FFI appends it
        // without reallocating).
        let mut text = String::with_capacity(44);
        URL_SAFE_NO_PAD.encode_string(hash.as_ref(), &mut text);
        CodeChallenge(text)
    }

    /// The verifier text, for the token request.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for CodeVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeVerifier([REDACTED])")
    }
}

/// An S256 code challenge (public: it is sent in the authorization URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeChallenge(String);

impl CodeChallenge {
    /// The challenge text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The challenge text, owned.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }

    /// Always `"S256"`.
    #[must_use]
    pub fn method(&self) -> &'static str {
        "S256"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b() {
        let v = CodeVerifier::parse("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk").unwrap();
        assert_eq!(
            v.challenge().as_str(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn generated_verifiers_parse_and_differ() {
        let a = CodeVerifier::generate().unwrap();
        let b = CodeVerifier::generate().unwrap();
        assert_eq!(a.expose_secret().len(), 43);
        assert!(CodeVerifier::parse(a.expose_secret()).is_ok());
        assert_ne!(a.expose_secret(), b.expose_secret());
    }

    #[test]
    fn parse_rejects_bad_verifiers() {
        let ok = "a".repeat(43);
        for bad in [
            &"a".repeat(42)[..],
            &"a".repeat(129),
            &format!("{} ", &ok[..42]),
            &format!("{}+", &ok[..42]),
            &format!("{}é", &ok[..41]),
        ] {
            assert!(CodeVerifier::parse(bad).is_err(), "{bad:?}");
        }
        assert!(CodeVerifier::parse(&"~".repeat(128)).is_ok());
    }
}
