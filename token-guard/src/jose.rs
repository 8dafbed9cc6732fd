//! JOSE, as far as a relying party needs it (feature `jose`): JSON Web Keys
//! ([`JwkSet`], RFC 7517) and verification of compact JWS signatures ([`verify_jws`], RFC
//! 7515) with RS256, PS256, ES256 and EdDSA (Ed25519) through ring. Written once here for
//! hearth-guard's JWT bearer tokens and hearth-pkce's ID tokens.
//!
//! What is refused, always: `alg: none`, every HMAC algorithm (`HS256` keyed with a
//! public key is the classic confusion), algorithms not in the caller's allowlist, a key
//! whose type or declared `alg` does not fit the token's, any `crit` header, and any part
//! that is not strict base64url. Claims are the caller's to check (issuer, audience,
//! times): [`verify_jws`] returns the verified payload, nothing about it is trusted before.

mod claims;
mod jwk;
mod jwks_cache;
mod jws;

pub use claims::{ClaimChecks, check_claims};
pub use jwk::{Jwk, JwkSet, MAX_JWKS_LEN};
pub use jwks_cache::{JwksCache, JwksDocument, JwksSource};
pub use jws::{Algorithm, JwsHeader, MAX_JWS_LEN, Verified, verify_jws};

/// A refusal: [`Error::InvalidJose`](crate::Error::InvalidJose) with its reason.
fn bad(reason: &'static str) -> crate::Error {
    crate::Error::InvalidJose { reason }
}
