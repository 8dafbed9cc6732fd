//! [`Jwk`] and [`JwkSet`]: public keys as an issuer publishes them (RFC 7517, RFC 7518 §6,
//! RFC 8037 for Ed25519).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::bad;
use super::jws::Algorithm;
use crate::Error;

/// One public key from a JWKS.
#[derive(Clone, PartialEq, Eq)]
pub struct Jwk {
    pub(super) kid: Option<String>,
    pub(super) alg: Option<Algorithm>,
    pub(super) key: PublicKey,
}

#[derive(Clone, PartialEq, Eq)]
pub(super) enum PublicKey {
    /// Modulus and exponent, big-endian.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// An uncompressed P-256 point: `04 || x || y`.
    P256(Vec<u8>),
    /// 32 bytes.
    Ed25519(Vec<u8>),
}

impl Jwk {
    /// The key id, if the issuer gave one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Whether this key may verify a token signed with `alg`: its type fits, and its own
    /// `alg`, if it declares one, is `alg`.
    pub(super) fn fits(&self, alg: Algorithm) -> bool {
        let kind = matches!(
            (&self.key, alg),
            (PublicKey::Rsa { .. }, Algorithm::RS256 | Algorithm::PS256)
                | (PublicKey::P256(_), Algorithm::ES256)
                | (PublicKey::Ed25519(_), Algorithm::EdDSA)
        );
        kind && self.alg.is_none_or(|a| a == alg)
    }
}

impl std::fmt::Debug for Jwk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kty = match self.key {
            PublicKey::Rsa { .. } => "RSA",
            PublicKey::P256(_) => "EC P-256",
            PublicKey::Ed25519(_) => "OKP Ed25519",
        };
        f.debug_struct("Jwk")
            .field("kid", &self.kid)
            .field("kty", &kty)
            .field("alg", &self.alg)
            .finish()
    }
}

/// A JSON Web Key Set: the signature keys among an issuer's `{"keys": [...]}`.
///
/// Keys this crate cannot use are skipped, not refused (an issuer may publish encryption
/// keys, or key types we do not verify with): `use` other than `sig`, `kty`/`crv` other
/// than RSA, EC P-256 and OKP Ed25519, RSA moduli under 2048 bits. A member that a usable
/// key type requires but that is malformed makes the whole set an error: a damaged JWKS
/// must not silently lose a key.
///
/// ```
/// use hearth_token_guard::jose::JwkSet;
///
/// let jwks = br#"{"keys":[
///   {"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
///   {"kty":"oct","k":"c2VjcmV0"}
/// ]}"#;
/// let set = JwkSet::from_json(jwks)?;
/// assert_eq!(set.keys().len(), 1, "the symmetric key is skipped");
/// assert_eq!(set.keys()[0].kid(), Some("k1"));
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwkSet {
    keys: Vec<Jwk>,
}

/// Largest JWKS document accepted.
pub const MAX_JWKS_LEN: usize = 256 << 10;

impl JwkSet {
    /// Parses a JWKS document.
    pub fn from_json(json: &[u8]) -> Result<Self, Error> {
        if json.len() > MAX_JWKS_LEN {
            return Err(bad("the JWKS is larger than 256 KiB"));
        }
        let doc: Value = serde_json::from_slice(json).map_err(|_| bad("the JWKS is not JSON"))?;
        let Some(keys) = doc.get("keys").and_then(Value::as_array) else {
            return Err(bad("the JWKS has no \"keys\" array"));
        };
        let mut out = Vec::new();
        for key in keys {
            if let Some(jwk) = parse_key(key)? {
                out.push(jwk);
            }
        }
        Ok(Self { keys: out })
    }

    /// A set of the given keys.
    pub fn new(keys: Vec<Jwk>) -> Self {
        Self { keys }
    }

    /// The usable keys, in the document's order.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The key for a token with this `kid` (or, without one, the only key that fits
    /// `alg`); `Err(UnknownSigningKey)` if there is none, so that a cache can refetch.
    pub(super) fn select(&self, kid: Option<&str>, alg: Algorithm) -> Result<&Jwk, Error> {
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .find(|k| k.kid.as_deref() == Some(kid))
                .ok_or(Error::UnknownSigningKey),
            None => {
                let mut fitting = self.keys.iter().filter(|k| k.fits(alg));
                match (fitting.next(), fitting.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(Error::UnknownSigningKey),
                    (Some(_), Some(_)) => Err(bad(
                        "the token names no key id and the JWKS holds several that fit",
                    )),
                }
            }
        }
    }
}

/// One key, or `None` for a key this crate does not use.
fn parse_key(key: &Value) -> Result<Option<Jwk>, Error> {
    let text = |name: &str| key.get(name).and_then(Value::as_str);
    if text("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    let b64 = |name: &str| -> Result<Vec<u8>, Error> {
        let value = text(name).ok_or(bad("a JWK lacks a member its key type needs"))?;
        URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| bad("a JWK member is not base64url"))
    };
    let alg = match text("alg") {
        None => None,
        Some(name) => match Algorithm::parse(name) {
            Ok(alg) => Some(alg),
            // A key for an algorithm we never accept is a key we never use.
            Err(_) => return Ok(None),
        },
    };
    let public = match (text("kty"), text("crv")) {
        (Some("RSA"), _) => {
            let n = strip_zeros(b64("n")?);
            let e = strip_zeros(b64("e")?);
            if n.len() < 256 {
                return Ok(None); // under 2048 bits: ring refuses it, so do we
            }
            if e.is_empty() || e.len() > 4 {
                return Err(bad("an RSA JWK's exponent is out of range"));
            }
            PublicKey::Rsa { n, e }
        }
        (Some("EC"), Some("P-256")) => {
            let (x, y) = (b64("x")?, b64("y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(bad("a P-256 JWK's coordinates are not 32 bytes"));
            }
            PublicKey::P256([&[4u8][..], &x, &y].concat())
        }
        (Some("OKP"), Some("Ed25519")) => {
            let x = b64("x")?;
            if x.len() != 32 {
                return Err(bad("an Ed25519 JWK is not 32 bytes"));
            }
            PublicKey::Ed25519(x)
        }
        _ => return Ok(None),
    };
    Ok(Some(Jwk {
        kid: text("kid").map(str::to_owned),
        alg,
        key: public,
    }))
}

/// Big-endian integers may carry leading zero bytes; ring wants none.
fn strip_zeros(mut v: Vec<u8>) -> Vec<u8> {
    let zeros = v.iter().take_while(|&&b| b == 0).count();
    v.drain(..zeros);
    v
}
