//! [`DpopKey`]: a DPoP key pair (RFC 9449) and the proofs it signs (feature `oidc`).

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use hearth_token_guard::AccessToken;
use ring::rand::{SecureRandom as _, SystemRandom};
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use zeroize::Zeroizing;

use crate::Error;

/// An ES256 key pair whose public half binds tokens to this client (RFC 9449): the
/// authorization server issues DPoP tokens only usable with proofs it signs.
///
/// Made from the OS random generator; [`to_pkcs8`](Self::to_pkcs8) and
/// [`from_pkcs8`](Self::from_pkcs8) keep it across restarts (in a secure store:
/// [`load_or_create`](Self::load_or_create), feature `storage`). `Debug` shows only its
/// thumbprint.
///
/// ```
/// use hearth_pkce::DpopKey;
///
/// let key = DpopKey::generate()?;
/// let proof = key.proof("POST", "https://id.example/token?x=1", None, None)?;
/// assert_eq!(proof.split('.').count(), 3);
/// assert_eq!(key.thumbprint().len(), 43); // base64url of SHA-256
/// # Ok::<(), hearth_pkce::Error>(())
/// ```
pub struct DpopKey {
    pair: EcdsaKeyPair,
    pkcs8: Zeroizing<Vec<u8>>,
    /// The protected header, base64url: `typ`, `alg` and the public JWK.
    header: String,
    thumbprint: String,
}

impl std::fmt::Debug for DpopKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopKey")
            .field("jkt", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl DpopKey {
    /// A new key pair from the OS random generator.
    pub fn generate() -> Result<Self, Error> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| Error::Rng)?;
        Self::from_pkcs8(pkcs8.as_ref())
    }

    /// A key pair saved with [`to_pkcs8`](Self::to_pkcs8).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<Self, Error> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|_| Error::MalformedSaved)?;
        let point = pair.public_key().as_ref();
        let (x, y) = (B64.encode(&point[1..33]), B64.encode(&point[33..65]));
        let thumbprint = thumbprint(&x, &y);
        let header = B64.encode(format!(
            r#"{{"typ":"dpop+jwt","alg":"ES256","jwk":{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}}}"#
        ));
        Ok(Self {
            pair,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            header,
            thumbprint,
        })
    }

    /// The private key as PKCS#8, to store (wiped when dropped).
    pub fn to_pkcs8(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// The JWK SHA-256 thumbprint (RFC 7638), the authorization request's `dpop_jkt`.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A proof for one request: `htm` (`method`), `htu` (`url` without query and
    /// fragment), `iat`, a random `jti`, the server's `nonce` when it asked for one, and
    /// `ath` (the access token's hash) for a resource request.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        nonce: Option<&str>,
        access_token: Option<&AccessToken>,
    ) -> Result<String, Error> {
        let rng = SystemRandom::new();
        let mut jti = [0u8; 16];
        rng.fill(&mut jti).map_err(|_| Error::Rng)?;
        let htu = url.split(['?', '#']).next().unwrap_or_default();
        let iat = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut claims = serde_json::json!({
            "jti": B64.encode(jti),
            "htm": method,
            "htu": htu,
            "iat": iat,
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(token) = access_token {
            let hash =
                ring::digest::digest(&ring::digest::SHA256, token.expose_secret().as_bytes());
            claims["ath"] = B64.encode(hash).into();
        }
        let input = format!("{}.{}", self.header, B64.encode(claims.to_string()));
        let signature = self
            .pair
            .sign(&rng, input.as_bytes())
            .map_err(|_| Error::Rng)?;
        Ok(format!("{input}.{}", B64.encode(signature.as_ref())))
    }

    /// The key stored under `key` in `store`, or a new one stored there first. When two
    /// processes create one at once, both end up using the one stored last.
    #[cfg(feature = "storage")]
    pub async fn load_or_create(
        store: &dyn hearth_secure_storage::AsyncSecureStorage,
        key: &hearth_secure_storage::Key,
    ) -> Result<Self, Error> {
        let storage = |e| Error::Storage(std::sync::Arc::new(e));
        if let Some(saved) = store.retrieve(key).await.map_err(storage)? {
            return Self::from_pkcs8(saved.expose_secret());
        }
        let fresh = Self::generate()?;
        let bytes = hearth_token_guard::SecretBytes::new(fresh.to_pkcs8().to_vec());
        store.store(key, &bytes).await.map_err(storage)?;
        match store.retrieve(key).await.map_err(storage)? {
            Some(saved) => Self::from_pkcs8(saved.expose_secret()),
            None => Ok(fresh),
        }
    }
}

/// RFC 7638 for a P-256 key: SHA-256 of the required members in lexicographic order,
/// without white space.
fn thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hearth_token_guard::jose::{Algorithm, JwkSet, verify_jws};

    #[test]
    fn a_proof_verifies_under_its_own_jwk_and_carries_the_claims() {
        let key = DpopKey::generate().unwrap();
        let token = AccessToken::new("at-1");
        let proof = key
            .proof(
                "GET",
                "https://api.example/items?page=2#x",
                Some("n-1"),
                Some(&token),
            )
            .unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&B64.decode(proof.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["typ"], "dpop+jwt");
        let jwks = format!(r#"{{"keys":[{}]}}"#, header["jwk"]);
        let keys = JwkSet::from_json(jwks.as_bytes()).unwrap();
        // The header has no kid: the set's one key is the one.
        let verified = verify_jws(&proof, &keys, &[Algorithm::ES256]).unwrap();
        let claims: serde_json::Value = serde_json::from_slice(&verified.payload).unwrap();
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://api.example/items");
        assert_eq!(claims["nonce"], "n-1");
        let ath = B64.encode(ring::digest::digest(&ring::digest::SHA256, b"at-1"));
        assert_eq!(claims["ath"], ath.as_str());
        let again = key
            .proof("GET", "https://api.example/items", None, None)
            .unwrap();
        let jti = |p: &str| {
            let v: serde_json::Value =
                serde_json::from_slice(&B64.decode(p.split('.').nth(1).unwrap()).unwrap()).unwrap();
            v["jti"].clone()
        };
        assert_ne!(jti(&proof), jti(&again), "every proof has its own jti");
    }

    #[test]
    fn a_saved_key_is_the_same_key() {
        let key = DpopKey::generate().unwrap();
        let back = DpopKey::from_pkcs8(&key.to_pkcs8()).unwrap();
        assert_eq!(key.thumbprint(), back.thumbprint());
        assert!(matches!(
            DpopKey::from_pkcs8(b"junk"),
            Err(Error::MalformedSaved)
        ));
        assert!(!format!("{key:?}").contains("pkcs8"));
    }

    #[test]
    fn the_thumbprint_follows_rfc7638() {
        // RFC 7517 appendix A.1's EC key; the value computed independently with
        // `printf '{"crv":…}' | openssl dgst -sha256 -binary | base64url`.
        assert_eq!(
            thumbprint(
                "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
                "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
            ),
            "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s"
        );
    }
}
