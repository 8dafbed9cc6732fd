//! [`JwtBearer`]: JWT access tokens (RFC 9068) from an issuer, checked against its JWKS and
//! mapped to permissions (feature `jwt`).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use hearth_token_guard::apikey::{Permission, PermissionSet, Role, Roles};
use hearth_token_guard::jose::{Algorithm, ClaimChecks, JwksCache, check_claims};
use serde_json::Value;

/// Validates bearer JWTs: the signature against the issuer's keys ([`JwksCache`]), `iss`
/// exactly, `aud` containing the audience, `exp`/`nbf`/`iat` with a leeway, the header's
/// `typ` (`at+jwt`, RFC 9068 §2.1, unless turned off), and an algorithm allowlist; a
/// sender-constrained token (a `cnf` claim: DPoP, mTLS) is refused, as no proof of its key
/// is checked here. The
/// caller is [`Caller::Jwt`](crate::Caller::Jwt) with the token's `sub` and the
/// permissions its claims grant:
///
/// - every string in the configured claims (default `scope`, space-separated, and
///   `permissions`) that reads `resource:action` is that permission;
/// - any other string that names a role of the guard's [`Roles`] grants the role's
///   permissions (Keycloak's `realm_access.roles`: see [`keycloak`](Self::keycloak)).
///
/// ```
/// use hearth_guard::{JwtBearer, LocalGuard};
/// use hearth_token_guard::jose::{JwksCache, JwksDocument, JwksSource};
///
/// // In an app: hearth-net-policy's `IssuerKeys` (feature `issuer`), the issuer's
/// // `jwks_uri` fetched over HTTPS and kept fresh.
/// struct Issuer;
/// impl JwksSource for Issuer {
///     fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
///         Ok(JwksDocument::new(br#"{"keys":[]}"#.to_vec()))
///     }
/// }
/// let jwt = JwtBearer::keycloak(JwksCache::new(Issuer), "https://id.example/realms/jan", "jan-api");
/// let guard = LocalGuard::new().jwt_bearer(jwt).require("/admin", "admin:*")?;
/// # Ok::<(), hearth_guard::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct JwtBearer {
    keys: Arc<JwksCache>,
    issuer: String,
    audience: String,
    leeway: Duration,
    algorithms: Vec<Algorithm>,
    require_at_jwt: bool,
    claims: Vec<String>,
}

impl JwtBearer {
    /// RFC 9068 access tokens from `issuer` for `audience`: `typ: at+jwt` required, one
    /// minute of leeway, every supported algorithm, permissions from `scope` and
    /// `permissions`.
    pub fn new(keys: JwksCache, issuer: &str, audience: &str) -> Self {
        Self {
            keys: Arc::new(keys),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            leeway: Duration::from_secs(60),
            algorithms: Algorithm::ALL.to_vec(),
            require_at_jwt: true,
            claims: vec!["scope".into(), "permissions".into()],
        }
    }

    /// Keycloak's access tokens: `typ` is `JWT` there, and roles are in
    /// `realm_access.roles` (mapped through the guard's [`Roles`]) as well as `scope`.
    pub fn keycloak(keys: JwksCache, issuer: &str, audience: &str) -> Self {
        Self {
            require_at_jwt: false,
            claims: vec!["realm_access.roles".into(), "scope".into()],
            ..Self::new(keys, issuer, audience)
        }
    }

    /// The claims read for permissions (dotted paths into objects, such as
    /// `realm_access.roles`), replacing the default.
    #[must_use]
    pub fn permission_claims(mut self, claims: &[&str]) -> Self {
        self.claims = claims.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// The clock skew tolerated on `exp`, `nbf` and `iat` (default one minute).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// The algorithms accepted (default all of [`Algorithm::ALL`]).
    #[must_use]
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.algorithms = algorithms.to_vec();
        self
    }

    /// Whether the header's `typ` must be `at+jwt` (default true; off for Keycloak).
    #[must_use]
    pub fn require_at_jwt(mut self, required: bool) -> Self {
        self.require_at_jwt = required;
        self
    }

    /// The token's `sub` and permissions, or why it is refused.
    pub(crate) fn validate(
        &self,
        token: &str,
        roles: &Roles,
    ) -> Result<(String, PermissionSet), hearth_token_guard::Error> {
        let bad = |reason| hearth_token_guard::Error::InvalidJose { reason };
        let verified = self.keys.verify(token, &self.algorithms)?;
        if self.require_at_jwt {
            let typ = verified.header.typ.as_deref().map(str::to_ascii_lowercase);
            if !matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
                return Err(bad("the token is not an access token (typ at+jwt)"));
            }
        }
        let claims = check_claims(
            &verified.payload,
            &ClaimChecks {
                issuer: &self.issuer,
                audience: &self.audience,
                leeway: self.leeway,
                now: SystemTime::now(),
            },
        )?;
        // A sender-constrained token (RFC 9449 DPoP `cnf.jkt`, RFC 8705 `cnf.x5t#S256`) is
        // good only with a proof of its key; presented as a plain bearer token it may be a
        // stolen copy, and this guard checks no proofs.
        if claims.contains_key("cnf") {
            return Err(bad(
                "the token is bound to a key (cnf) and was presented without a proof of it",
            ));
        }
        let sub = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(bad("the token has no sub")),
        };
        let mut granted: Vec<String> = Vec::new();
        for path in &self.claims {
            let mut value = Some(&Value::Object(claims.clone()));
            for part in path.split('.') {
                value = value.and_then(|v| v.get(part));
            }
            let strings: Vec<&str> = match value {
                Some(Value::String(s)) => s.split(' ').collect(),
                Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            for s in strings.into_iter().filter(|s| !s.is_empty()) {
                if Permission::parse(s).is_ok() {
                    granted.push(s.to_owned());
                } else if let Ok(role) = Role::parse(s)
                    && let Some(set) = roles.permissions(&role)
                {
                    granted.extend(set.iter().map(ToString::to_string));
                }
            }
        }
        let permissions = PermissionSet::parse(granted.iter().map(String::as_str))?;
        Ok((sub, permissions))
    }
}
