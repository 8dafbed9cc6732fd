//! [`verify_jws`]: compact JWS signatures (RFC 7515 §7.1), checked before anything in
//! them is believed.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value;

use super::bad;
use super::jwk::{JwkSet, PublicKey};
use crate::Error;

/// The signature algorithms verified (RFC 7518 §3, RFC 8037 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(clippy::upper_case_acronyms, reason = "the JOSE names")]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PSS with SHA-256 and MGF1 with SHA-256.
    PS256,
    /// ECDSA with P-256 and SHA-256.
    ES256,
    /// EdDSA with Ed25519.
    EdDSA,
}

impl Algorithm {
    /// Every algorithm this crate verifies.
    pub const ALL: [Algorithm; 4] = [
        Algorithm::RS256,
        Algorithm::PS256,
        Algorithm::ES256,
        Algorithm::EdDSA,
    ];

    /// The algorithm named `name` in a JOSE header; `none` and HMAC are refused with a
    /// reason, anything else as unsupported.
    pub fn parse(name: &str) -> Result<Self, Error> {
        match name {
            "RS256" => Ok(Self::RS256),
            "PS256" => Ok(Self::PS256),
            "ES256" => Ok(Self::ES256),
            "EdDSA" => Ok(Self::EdDSA),
            "none" => Err(bad("alg \"none\" (an unsigned token) is never accepted")),
            n if n.starts_with("HS") => Err(bad(
                "HMAC algorithms are refused: a relying party verifies with public keys",
            )),
            _ => Err(bad("the token's algorithm is not supported")),
        }
    }

    /// The name in a JOSE header.
    pub fn name(self) -> &'static str {
        match self {
            Self::RS256 => "RS256",
            Self::PS256 => "PS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }
}

/// The protected header of a verified token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwsHeader {
    /// `alg`.
    pub alg: Algorithm,
    /// `kid`, if any.
    pub kid: Option<String>,
    /// `typ`, if any (`at+jwt` for RFC 9068 access tokens).
    pub typ: Option<String>,
}

/// A token whose signature verified: its header and its payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The protected header.
    pub header: JwsHeader,
    /// The payload, as signed (for a JWT, the claims' JSON).
    pub payload: Vec<u8>,
}

/// Longest compact JWS accepted (bearer tokens travel in headers; 16 KiB is generous).
pub const MAX_JWS_LEN: usize = 16 << 10;

/// Verifies a compact JWS (`header.payload.signature`) against `keys`, accepting only the
/// algorithms in `allowed`.
///
/// Errors: [`Error::InvalidJose`] for anything malformed, refused or failing its
/// signature; [`Error::UnknownSigningKey`] when no key in `keys` has the token's `kid`
/// (a JWKS cache refetches then, at most once per interval).
///
/// ```
/// use base64::Engine as _;
/// use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
/// use hearth_token_guard::jose::{Algorithm, JwkSet, verify_jws};
/// use ring::signature::{Ed25519KeyPair, KeyPair as _};
///
/// let pkcs8 = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
/// let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
/// let jwks = format!(
///     r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"{}"}}]}}"#,
///     B64.encode(pair.public_key().as_ref())
/// );
/// let keys = JwkSet::from_json(jwks.as_bytes())?;
/// let signing_input = format!(
///     "{}.{}",
///     B64.encode(br#"{"alg":"EdDSA","kid":"k1"}"#),
///     B64.encode(br#"{"sub":"alice"}"#)
/// );
/// let token = format!("{signing_input}.{}", B64.encode(pair.sign(signing_input.as_bytes())));
/// let verified = verify_jws(&token, &keys, &[Algorithm::EdDSA])?;
/// assert_eq!(verified.payload, br#"{"sub":"alice"}"#);
/// assert!(verify_jws(&token, &keys, &[Algorithm::RS256]).is_err(), "not on the allowlist");
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub fn verify_jws(token: &str, keys: &JwkSet, allowed: &[Algorithm]) -> Result<Verified, Error> {
    if token.len() > MAX_JWS_LEN {
        return Err(bad("the token is longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("a compact JWS has exactly three parts"));
    };
    let header_json = decode(header_b64)?;
    let header = parse_header(&header_json)?;
    if !allowed.contains(&header.alg) {
        return Err(bad("the token's algorithm is not allowed here"));
    }
    let key = keys.select(header.kid.as_deref(), header.alg)?;
    if !key.fits(header.alg) {
        return Err(bad("the key named by the token is not for its algorithm"));
    }
    let signature = decode(signature_b64)?;
    let message = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    let ok = match (&key.key, header.alg) {
        (PublicKey::Rsa { n, e }, Algorithm::RS256) => RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, &signature)
            .is_ok(),
        (PublicKey::Rsa { n, e }, Algorithm::PS256) => RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PSS_2048_8192_SHA256, message, &signature)
            .is_ok(),
        (PublicKey::P256(point), Algorithm::ES256) => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, &signature)
                .is_ok()
        }
        (PublicKey::Ed25519(x), Algorithm::EdDSA) => UnparsedPublicKey::new(&signature::ED25519, x)
            .verify(message, &signature)
            .is_ok(),
        _ => false,
    };
    if !ok {
        return Err(bad("the token's signature does not verify"));
    }
    Ok(Verified {
        header,
        payload: decode(payload_b64)?,
    })
}

/// Strict base64url without padding (RFC 7515 §2): no `=`, no `+` or `/`, no whitespace,
/// and no stray bits in the last character.
fn decode(part: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| bad("a part of the token is not base64url"))
}

fn parse_header(json: &[u8]) -> Result<JwsHeader, Error> {
    let value: Value =
        serde_json::from_slice(json).map_err(|_| bad("the token's header is not JSON"))?;
    let Value::Object(fields) = value else {
        return Err(bad("the token's header is not a JSON object"));
    };
    if fields.contains_key("crit") {
        return Err(bad(
            "the token has critical header extensions, none of which is known",
        ));
    }
    let text = |name: &str| -> Result<Option<String>, Error> {
        match fields.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(bad("a header member that must be a string is not one")),
        }
    };
    let alg = text("alg")?.ok_or(bad("the token's header has no alg"))?;
    Ok(JwsHeader {
        alg: Algorithm::parse(&alg)?,
        kid: text("kid")?,
        typ: text("typ")?,
    })
}
