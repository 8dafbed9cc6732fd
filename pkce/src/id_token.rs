//! [`validate_id_token`]: an OpenID Connect ID token checked as OIDC Core §3.1.3.7 asks,
//! before any claim in it is believed (feature `oidc`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hearth_token_guard::jose::{Algorithm, ClaimChecks, JwksCache, check_claims};
use hearth_token_guard::{AccessToken, IdToken};
use ring::digest;
use serde_json::{Map, Value};

use crate::{Error, Nonce};

/// What an ID token must match: the issuer and client, the pending sign-in's nonce, and
/// (when the token carries their hashes) the access token and code it came with.
///
/// ```
/// use std::time::Duration;
/// use hearth_pkce::IdTokenCheck;
///
/// let check = IdTokenCheck::new("https://id.example", "my-app").max_age(Duration::from_secs(3600));
/// assert_eq!(check.client_id(), "my-app");
/// ```
#[derive(Clone)]
#[must_use]
pub struct IdTokenCheck<'a> {
    issuer: &'a str,
    client_id: &'a str,
    nonce: Option<&'a Nonce>,
    max_age: Option<Duration>,
    leeway: Duration,
    algorithms: &'a [Algorithm],
    access_token: Option<&'a AccessToken>,
    code: Option<&'a str>,
    now: Option<SystemTime>,
}

impl std::fmt::Debug for IdTokenCheck<'_> {
    /// The nonce, access token and code are never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenCheck")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("nonce", &self.nonce.map(|_| "[REDACTED]"))
            .field("max_age", &self.max_age)
            .field("leeway", &self.leeway)
            .field("algorithms", &self.algorithms)
            .field("access_token", &self.access_token.map(|_| "[REDACTED]"))
            .field("code", &self.code.map(|_| "[REDACTED]"))
            .field("now", &self.now)
            .finish()
    }
}

impl<'a> IdTokenCheck<'a> {
    /// Tokens from `issuer` (compared exactly) for `client_id`; one minute of leeway, the
    /// algorithms of [`Algorithm::ALL`], no nonce (set it for a sign-in: [`nonce`](Self::nonce)).
    pub fn new(issuer: &'a str, client_id: &'a str) -> Self {
        Self {
            issuer,
            client_id,
            nonce: None,
            max_age: None,
            leeway: Duration::from_secs(60),
            algorithms: &Algorithm::ALL,
            access_token: None,
            code: None,
            now: None,
        }
    }

    /// The client id the token must be for.
    pub fn client_id(&self) -> &str {
        self.client_id
    }

    /// The nonce the authorization request sent: the token's `nonce` must equal it
    /// (compared in constant time), and a token without one is refused.
    pub fn nonce(mut self, nonce: &'a Nonce) -> Self {
        self.nonce = Some(nonce);
        self
    }

    /// The `max_age` the request asked for: `auth_time` is then required, and no older.
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Clock skew tolerated on `exp`, `iat` and `auth_time` (default one minute).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The signature algorithms accepted (default all of [`Algorithm::ALL`]).
    pub fn algorithms(mut self, algorithms: &'a [Algorithm]) -> Self {
        self.algorithms = algorithms;
        self
    }

    /// The access token issued with the ID token: its `at_hash`, when present, must match.
    pub fn access_token(mut self, token: &'a AccessToken) -> Self {
        self.access_token = Some(token);
        self
    }

    /// The authorization code it was issued for: its `c_hash`, when present, must match.
    pub fn code(mut self, code: &'a str) -> Self {
        self.code = Some(code);
        self
    }

    /// The time to check against (default now): for tests and replays.
    pub fn at(mut self, now: SystemTime) -> Self {
        self.now = Some(now);
        self
    }
}

/// An ID token's claims, after [`validate_id_token`]: nothing here was believed before
/// the signature, issuer, audience, times and nonce were checked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct IdTokenClaims {
    /// `iss`: the issuer.
    pub iss: String,
    /// `sub`: the user, as the issuer identifies them.
    pub sub: String,
    /// `aud`: the clients it was issued for (this one among them).
    pub aud: Vec<String>,
    /// `azp`: the party it was issued to, when several audiences are named.
    pub azp: Option<String>,
    /// `exp`: when it expires.
    pub exp: SystemTime,
    /// `iat`: when it was issued.
    pub iat: SystemTime,
    /// `auth_time`: when the user last authenticated, if the issuer said.
    pub auth_time: Option<SystemTime>,
    /// `acr`, if any.
    pub acr: Option<String>,
    /// `email`, if any (see [`email_verified`](Self::email_verified)).
    pub email: Option<String>,
    /// `email_verified`, if any.
    pub email_verified: Option<bool>,
    /// `name`, if any.
    pub name: Option<String>,
    /// `preferred_username`, if any.
    pub preferred_username: Option<String>,
    /// Every other claim, as JSON (without `nonce`, `at_hash` and `c_hash`).
    pub other: Map<String, Value>,
}

fn bad(reason: &'static str) -> Error {
    Error::InvalidIdToken { reason }
}

/// Validates an ID token (OpenID Connect Core §3.1.3.7 and §3.1.3.8):
///
/// 1. the JWS signature against the issuer's keys ([`JwksCache`]: an unknown `kid`
///    refetches once per interval), an algorithm from the allowlist (`none` and HMAC
///    never);
/// 2. `iss` exactly; `aud` containing the client id; with several audiences, `azp`
///    present; `azp`, when present, the client id;
/// 3. `exp` in the future and `iat` present and not in the future (with leeway);
/// 4. `nonce` equal to the request's, when one was sent (constant time);
/// 5. `auth_time` present and recent enough when `max_age` was asked for;
/// 6. `at_hash` and `c_hash`, when present, the left half of the token's or code's hash
///    under the signature's hash function.
///
/// Every refusal is [`Error::InvalidIdToken`] with the check named; nothing is returned
/// from a token that fails one.
///
/// ```
/// use hearth_pkce::{IdTokenCheck, validate_id_token};
/// use hearth_token_guard::IdToken;
/// use hearth_token_guard::jose::{JwksCache, JwksDocument, JwksSource};
///
/// struct NoKeys;
/// impl JwksSource for NoKeys {
///     fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
///         Ok(JwksDocument::new(br#"{"keys":[]}"#.to_vec()))
///     }
/// }
/// let keys = JwksCache::new(NoKeys);
/// // alg "none": refused before any claim is read.
/// let forged = IdToken::new("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.");
/// let check = IdTokenCheck::new("https://id.example", "my-app");
/// assert!(validate_id_token(&forged, &keys, &check).is_err());
/// ```
pub fn validate_id_token(
    token: &IdToken,
    keys: &JwksCache,
    check: &IdTokenCheck<'_>,
) -> Result<IdTokenClaims, Error> {
    let verified = keys
        .verify(token.expose_secret(), check.algorithms)
        .map_err(|e| match e {
            hearth_token_guard::Error::InvalidJose { reason } => bad(reason),
            hearth_token_guard::Error::UnknownSigningKey => {
                bad("it is signed by a key the issuer does not publish")
            }
            _ => bad("its signature could not be checked"),
        })?;
    // An access token (RFC 9068) or a DPoP proof from the same issuer is not an ID token,
    // whatever its claims say (RFC 8725 §3.11).
    if verified.header.typ.as_deref().is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        let t = t.strip_prefix("application/").unwrap_or(&t);
        t != "jwt"
    }) {
        return Err(bad("its typ says it is not an ID token"));
    }
    let now = check.now.unwrap_or_else(SystemTime::now);
    let mut claims = check_claims(
        &verified.payload,
        &ClaimChecks {
            issuer: check.issuer,
            audience: check.client_id,
            leeway: check.leeway,
            now,
        },
    )
    .map_err(|e| match e {
        hearth_token_guard::Error::InvalidJose { reason } => bad(reason),
        _ => bad("its claims could not be read"),
    })?;
    let aud: Vec<String> = match claims.remove("aud") {
        Some(Value::String(a)) => vec![a],
        Some(Value::Array(items)) => items
            .into_iter()
            .map(|v| match v {
                Value::String(s) => Ok(s),
                _ => Err(bad("an aud value is not a string")),
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(bad("the token has no aud")),
    };
    let azp = optional_string(&mut claims, "azp")?;
    if aud.len() > 1 && azp.is_none() {
        return Err(bad("it names several audiences and no azp"));
    }
    if azp.as_deref().is_some_and(|azp| azp != check.client_id) {
        return Err(bad("its azp is another client"));
    }
    let exp = time(&claims, "exp")?.ok_or(bad("the token has no exp"))?;
    let iat = time(&claims, "iat")?.ok_or(bad("it has no iat"))?;
    // Nonce: present and equal when the request sent one (replay of another sign-in's
    // token), compared in constant time.
    let nonce = optional_string(&mut claims, "nonce")?;
    if let Some(expected) = check.nonce {
        match nonce {
            Some(n)
                if hearth_token_guard::constant_time_eq(
                    n.as_bytes(),
                    expected.expose_secret().as_bytes(),
                ) => {}
            Some(_) => return Err(bad("its nonce is not this sign-in's")),
            None => return Err(bad("it has no nonce, and this sign-in sent one")),
        }
    }
    let auth_time = time(&claims, "auth_time")?;
    if let Some(max_age) = check.max_age {
        let at = auth_time.ok_or(bad("max_age was asked for and it has no auth_time"))?;
        // Saturating: a max_age of Duration::MAX means "any", never a panic.
        let latest = at
            .checked_add(max_age)
            .and_then(|t| t.checked_add(check.leeway));
        if latest.is_some_and(|t| t < now) {
            return Err(bad("the user authenticated longer ago than max_age"));
        }
    }
    let hash = match verified.header.alg {
        Algorithm::EdDSA => &digest::SHA512,
        _ => &digest::SHA256,
    };
    if let Some(at_hash) = optional_string(&mut claims, "at_hash")? {
        let token = check
            .access_token
            .ok_or(bad("it has an at_hash and no access token came with it"))?;
        if !half_hash_matches(hash, token.expose_secret(), &at_hash) {
            return Err(bad("its at_hash does not match the access token"));
        }
    }
    if let Some(c_hash) = optional_string(&mut claims, "c_hash")? {
        let code = check
            .code
            .ok_or(bad("it has a c_hash and no code came with it"))?;
        if !half_hash_matches(hash, code, &c_hash) {
            return Err(bad("its c_hash does not match the code"));
        }
    }
    let iss = optional_string(&mut claims, "iss")?.ok_or(bad("the token has no iss"))?;
    let sub = optional_string(&mut claims, "sub")?
        .filter(|s| !s.is_empty())
        .ok_or(bad("it has no sub"))?;
    let email_verified = match claims.remove("email_verified") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(b),
        // Some providers send it as a string.
        Some(Value::String(s)) if s == "true" || s == "false" => Some(s == "true"),
        Some(_) => return Err(bad("its email_verified is not true or false")),
    };
    claims.remove("exp");
    claims.remove("iat");
    claims.remove("auth_time");
    Ok(IdTokenClaims {
        iss,
        sub,
        aud,
        azp,
        exp,
        iat,
        auth_time,
        acr: optional_string(&mut claims, "acr")?,
        email: optional_string(&mut claims, "email")?,
        email_verified,
        name: optional_string(&mut claims, "name")?,
        preferred_username: optional_string(&mut claims, "preferred_username")?,
        other: claims,
    })
}

/// A string claim, taken out of the set; another type is a refusal.
fn optional_string(
    claims: &mut Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, Error> {
    match claims.remove(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(match name {
            "azp" => "its azp is not a string",
            "nonce" => "its nonce is not a string",
            "at_hash" => "its at_hash is not a string",
            "c_hash" => "its c_hash is not a string",
            "sub" => "its sub is not a string",
            _ => "a string claim (iss, acr, email, name, preferred_username) is not a string",
        })),
    }
}

/// A time claim (seconds since the epoch), already checked to be a number by
/// `check_claims` for `exp` and `iat`.
fn time(claims: &Map<String, Value>, name: &'static str) -> Result<Option<SystemTime>, Error> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite() && *f >= 0.0)
                    .map(|f| f as u64)
            })
            .map(|s| Some(UNIX_EPOCH + Duration::from_secs(s.min(1 << 40))))
            .ok_or(bad(match name {
                "auth_time" => "its auth_time is not a number of seconds",
                _ => "a time claim is not a number of seconds",
            })),
    }
}

/// `at_hash` / `c_hash`: base64url of the left half of the hash of the ASCII value.
fn half_hash_matches(alg: &'static digest::Algorithm, value: &str, claimed: &str) -> bool {
    let full = digest::digest(alg, value.as_bytes());
    let half = &full.as_ref()[..full.as_ref().len() / 2];
    hearth_token_guard::constant_time_eq(
        URL_SAFE_NO_PAD.encode(half).as_bytes(),
        claimed.as_bytes(),
    )
}
