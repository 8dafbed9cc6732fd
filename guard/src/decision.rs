//! What [`LocalGuard::check`](super::LocalGuard::check) decides, and the HTTP answer to a
//! refusal.

use std::fmt;

use hearth_token_guard::apikey::Principal;
use http::{HeaderValue, Response, StatusCode, header};

use super::RetryAfter;

/// The guard's verdict on one request.
#[derive(Debug)]
#[non_exhaustive]
#[must_use = "a refused request must not reach the handler"]
pub enum Decision {
    /// Let the request through; who is calling.
    Allow(Caller),
    /// A CORS preflight from an allowed origin: answer it with
    /// [`Preflight::to_response`] instead of calling the handler.
    Preflight(Preflight),
    /// Answer with the refusal instead of calling the handler.
    Deny(Denial),
}

/// The answer to a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) from an
/// allowed origin: `204` allowing that origin, the usual methods, and the headers Hearth
/// reads credentials from, cached by the browser for ten minutes.
///
/// ```
/// use hearth_guard::{Decision, LocalGuard};
///
/// let guard = LocalGuard::new().allow_origin("tauri://localhost")?;
/// let preflight = http::Request::options("/api/items")
///     .header("host", "127.0.0.1:8096")
///     .header("origin", "tauri://localhost")
///     .header("access-control-request-method", "POST")
///     .header("access-control-request-headers", "x-api-key")
///     .body(())?;
/// let Decision::Preflight(p) = guard.check_request(&preflight, "127.0.0.1:5000".parse()?)
/// else { panic!() };
/// let response: http::Response<String> = p.to_response();
/// assert_eq!(response.status(), 204);
/// assert_eq!(response.headers()["access-control-allow-origin"], "tauri://localhost");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preflight {
    origin: HeaderValue,
}

impl Preflight {
    pub(super) fn new(origin: HeaderValue) -> Self {
        Self { origin }
    }

    /// The allowed origin being answered.
    pub fn origin(&self) -> &HeaderValue {
        &self.origin
    }

    /// The `204` answer with the CORS headers.
    pub fn to_response<B: From<String>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(String::new()));
        *response.status_mut() = StatusCode::NO_CONTENT;
        let headers = response.headers_mut();
        allow_origin(headers, self.origin.clone());
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, PUT, PATCH, DELETE, OPTIONS"),
        );
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, x-api-key, content-type"),
        );
        headers.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        response
    }
}

/// Adds `Access-Control-Allow-Origin: origin` and `Vary: Origin` (the answer depends on
/// the request's origin, so caches must not share it).
pub(super) fn allow_origin(headers: &mut http::HeaderMap, origin: HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("origin"));
}

/// Who an admitted request comes from. Handlers get it as a request extension from the
/// tower layer and the `serve` helper.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Caller {
    /// A path exempt from credentials (for example a health check).
    Exempt,
    /// A loopback peer admitted without credentials by the opt-in localhost bypass.
    LocalBypass,
    /// The holder of the server's session token (the app's own UI).
    Session,
    /// An API key from the registry, with its role.
    Key(Principal),
    /// A JWT access token from the configured issuer: its `sub` and the permissions its
    /// claims grant (feature `jwt`).
    #[cfg(feature = "jwt")]
    Jwt {
        /// The token's subject.
        sub: String,
        /// What it may do.
        permissions: hearth_token_guard::apikey::PermissionSet,
    },
}

impl Caller {
    /// Whether the caller presented a credential that was checked (a session token, an
    /// API key, a JWT), as opposed to an exempt path or the localhost bypass.
    ///
    /// ```
    /// use hearth_guard::Caller;
    ///
    /// assert!(Caller::Session.holds_credential());
    /// assert!(!Caller::Exempt.holds_credential());
    /// ```
    #[must_use]
    pub fn holds_credential(&self) -> bool {
        match self {
            Self::Session | Self::Key(_) => true,
            #[cfg(feature = "jwt")]
            Self::Jwt { .. } => true,
            Self::Exempt | Self::LocalBypass => false,
        }
    }
}

/// A refused request, as [`LocalGuard::on_denial`](crate::LocalGuard::on_denial) sees it:
/// nothing in it is a credential.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct DeniedRequest<'a> {
    /// The request's method.
    pub method: &'a http::Method,
    /// Its path, without the query.
    pub path: &'a str,
    /// The peer's address.
    pub peer: std::net::SocketAddr,
    /// The refusal.
    pub denial: &'a Denial,
}

/// Why a request was refused. None of these carries the credential presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// The peer address is not loopback (or, in LAN mode, not a private address).
    PeerNotAllowed,
    /// The `Host` header is missing, malformed or not on the allowlist (DNS rebinding).
    HostNotAllowed,
    /// The `Origin` header is not on the allowlist.
    OriginNotAllowed,
    /// A browser says the request comes from another site and sent no `Origin` to check.
    CrossSite,
    /// No credential, or none configured that could admit it.
    MissingCredentials,
    /// A credential that is malformed or matches nothing.
    InvalidCredentials,
    /// An API key that was revoked.
    RevokedKey,
    /// An API key past its expiry.
    ExpiredKey,
    /// The caller's role lacks the permission this path requires.
    Forbidden,
    /// `Content-Length` (or the streamed body) exceeds the cap.
    BodyTooLarge,
    /// The client's rate limit for this path is spent.
    RateLimited,
    /// A bearer JWT that is malformed, expired, for another issuer or audience, or fails
    /// its signature: 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
    InvalidToken,
    /// The peer presented too many failed credentials; its next ones are not even looked
    /// up until its budget recovers ([`LocalGuard::failed_auth_limit`](crate::LocalGuard::failed_auth_limit)).
    TooManyFailedAttempts,
    /// The key registry could not be read: refused, not admitted.
    Unavailable,
    /// The path has more than one spelling (`//`, a dot segment, `%2F`, an escaped
    /// letter, a backslash, NUL): refused so that no path rule can be escaped (see
    /// [`check_canonical_path`](crate::check_canonical_path)).
    NonCanonicalPath,
}

impl DenyReason {
    /// The HTTP status for this refusal.
    pub fn status(self) -> StatusCode {
        match self {
            DenyReason::PeerNotAllowed
            | DenyReason::HostNotAllowed
            | DenyReason::OriginNotAllowed
            | DenyReason::CrossSite
            | DenyReason::Forbidden => StatusCode::FORBIDDEN,
            DenyReason::MissingCredentials
            | DenyReason::InvalidCredentials
            | DenyReason::InvalidToken
            | DenyReason::RevokedKey
            | DenyReason::ExpiredKey => StatusCode::UNAUTHORIZED,
            DenyReason::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            DenyReason::RateLimited | DenyReason::TooManyFailedAttempts => {
                StatusCode::TOO_MANY_REQUESTS
            }
            DenyReason::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            DenyReason::NonCanonicalPath => StatusCode::BAD_REQUEST,
        }
    }
}

impl fmt::Display for DenyReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DenyReason::PeerNotAllowed => "this server accepts local connections only",
            DenyReason::HostNotAllowed => "Host header not allowed",
            DenyReason::OriginNotAllowed => "Origin not allowed",
            DenyReason::CrossSite => "cross-site request refused",
            DenyReason::MissingCredentials => "credentials required",
            DenyReason::InvalidCredentials => "invalid credentials",
            DenyReason::InvalidToken => "invalid bearer token",
            DenyReason::RevokedKey => "API key revoked",
            DenyReason::ExpiredKey => "API key expired",
            DenyReason::Forbidden => "the key's role does not allow this",
            DenyReason::BodyTooLarge => "request body too large",
            DenyReason::RateLimited => "too many requests",
            DenyReason::TooManyFailedAttempts => "too many failed credentials: wait and retry",
            DenyReason::Unavailable => "credentials cannot be checked right now",
            DenyReason::NonCanonicalPath => {
                "the request path is not in canonical form (no //, dot segments, %2F, \
                 escaped letters or digits, backslashes or NUL)"
            }
        })
    }
}

/// A refusal: the reason, and for [`DenyReason::RateLimited`] when to retry.
///
/// ```
/// use hearth_guard::{Denial, DenyReason};
///
/// let denial = Denial::new(DenyReason::HostNotAllowed);
/// let response: http::Response<String> = denial.to_response();
/// assert_eq!(response.status(), 403);
/// assert_eq!(response.body(), "Host header not allowed\n");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Denial {
    reason: DenyReason,
    retry_after: Option<RetryAfter>,
}

impl Denial {
    /// A refusal for `reason`.
    pub fn new(reason: DenyReason) -> Self {
        Self {
            reason,
            retry_after: None,
        }
    }

    /// A refusal for `reason` that says when to try again (`Retry-After`): a rate limit
    /// spent, or a shared store out of reach (hearth-gate's Redis).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hearth_guard::{Denial, DenyReason, RetryAfter};
    ///
    /// let busy = Denial::retry_later(DenyReason::Unavailable, RetryAfter::new(Duration::from_secs(1)));
    /// let response: http::Response<String> = busy.to_response();
    /// assert_eq!(response.status(), 503);
    /// assert_eq!(response.headers()["retry-after"], "1");
    /// ```
    pub fn retry_later(reason: DenyReason, wait: RetryAfter) -> Self {
        Self {
            reason,
            retry_after: Some(wait),
        }
    }

    pub(super) fn rate_limited(wait: RetryAfter) -> Self {
        Self::retry_later(DenyReason::RateLimited, wait)
    }

    pub(super) fn too_many_failures(wait: RetryAfter) -> Self {
        Self {
            reason: DenyReason::TooManyFailedAttempts,
            retry_after: Some(wait),
        }
    }

    /// Why.
    pub fn reason(&self) -> DenyReason {
        self.reason
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.reason.status()
    }

    /// When a rate-limited client may retry.
    pub fn retry_after(&self) -> Option<RetryAfter> {
        self.retry_after
    }

    /// The HTTP answer: the status, a one-line text body, `Retry-After` on 429,
    /// `WWW-Authenticate: Bearer` on 401, and `Connection: close` on 413 (the unread body
    /// makes the connection unusable).
    pub fn to_response<B: From<String>>(&self) -> Response<B> {
        let mut response = Response::new(B::from(format!("{}\n", self.reason)));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if let Some(wait) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&wait.header_value())
        {
            headers.insert(header::RETRY_AFTER, v);
        }
        match self.status() {
            StatusCode::UNAUTHORIZED => {
                let challenge = if self.reason == DenyReason::InvalidToken {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            StatusCode::PAYLOAD_TOO_LARGE => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.reason, self.status())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_rate_limited_answer_says_when_to_retry() {
        let d = Denial::rate_limited(RetryAfter::new(Duration::from_millis(250)));
        let r: Response<String> = d.to_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    }

    #[test]
    fn unauthorized_answers_name_the_scheme() {
        let r: Response<String> = Denial::new(DenyReason::RevokedKey).to_response();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
    }
}
