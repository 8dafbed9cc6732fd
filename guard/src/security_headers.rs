//! [`SecurityHeaders`]: the response headers every local server should send (seed 003's
//! set), as a tower layer.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use http::{HeaderMap, HeaderValue, Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use crate::Error;

/// The default `Content-Security-Policy`: nothing may be loaded, framed, or submitted, for
/// an API that serves no pages. Replace it with
/// [`content_security_policy`](SecurityHeaders::content_security_policy) for one that does.
pub const DEFAULT_CSP: &str =
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/// Adds security headers to every response that does not set them itself:
///
/// - `X-Content-Type-Options: nosniff`;
/// - `X-Frame-Options: DENY`;
/// - `Referrer-Policy: no-referrer`;
/// - `Content-Security-Policy: `[`DEFAULT_CSP`] (overridable);
/// - `Strict-Transport-Security` only when enabled with [`hsts`](Self::hsts), which a
///   server does on its TLS listeners only (on plain HTTP browsers ignore it, and on
///   loopback it would pin a name to HTTPS for every other local server).
///
/// A handler that sets one of these headers keeps its own value. [`serve`](crate::serve)
/// applies the defaults.
///
/// ```
/// use hearth_guard::SecurityHeaders;
///
/// let headers = SecurityHeaders::new()
///     .content_security_policy("default-src 'self'")?
///     .hsts(std::time::Duration::from_secs(31_536_000));
/// let mut response = http::Response::new(());
/// headers.apply(response.headers_mut());
/// assert_eq!(response.headers()["x-content-type-options"], "nosniff");
/// assert_eq!(response.headers()["content-security-policy"], "default-src 'self'");
/// assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000");
/// # Ok::<(), hearth_guard::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    csp: HeaderValue,
    hsts: Option<HeaderValue>,
}

impl Default for SecurityHeaders {
    fn default() -> Self {
        Self::new()
    }
}

impl SecurityHeaders {
    /// The defaults above, without HSTS.
    pub fn new() -> Self {
        Self {
            csp: HeaderValue::from_static(DEFAULT_CSP),
            hsts: None,
        }
    }

    /// Replaces the `Content-Security-Policy`.
    pub fn content_security_policy(mut self, policy: &str) -> Result<Self, Error> {
        self.csp = HeaderValue::from_str(policy).map_err(|_| Error::InvalidConfig {
            reason: "a Content-Security-Policy must be visible ASCII",
        })?;
        Ok(self)
    }

    /// Sends `Strict-Transport-Security: max-age=…` (for TLS listeners only).
    pub fn hsts(mut self, max_age: Duration) -> Self {
        self.hsts = HeaderValue::from_str(&format!("max-age={}", max_age.as_secs())).ok();
        self
    }

    /// Adds the headers that `headers` lacks.
    pub fn apply(&self, headers: &mut HeaderMap) {
        let mut set = |name, value: &HeaderValue| {
            headers.entry(name).or_insert_with(|| value.clone());
        };
        set(X_CONTENT_TYPE_OPTIONS, &HeaderValue::from_static("nosniff"));
        set(X_FRAME_OPTIONS, &HeaderValue::from_static("DENY"));
        set(REFERRER_POLICY, &HeaderValue::from_static("no-referrer"));
        set(CONTENT_SECURITY_POLICY, &self.csp);
        if let Some(hsts) = &self.hsts {
            set(STRICT_TRANSPORT_SECURITY, hsts);
        }
    }
}

impl<S> Layer<S> for SecurityHeaders {
    type Service = SecurityHeadersService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SecurityHeadersService {
            inner,
            headers: self.clone(),
        }
    }
}

/// The service [`SecurityHeaders`] produces.
#[derive(Debug, Clone)]
pub struct SecurityHeadersService<S> {
    inner: S,
    headers: SecurityHeaders,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for SecurityHeadersService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let response = self.inner.call(request);
        let headers = self.headers.clone();
        Box::pin(async move {
            let mut response = response.await?;
            headers.apply(response.headers_mut());
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_handlers_own_value_is_kept_and_hsts_is_off_by_default() {
        let mut headers = HeaderMap::new();
        headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("SAMEORIGIN"));
        SecurityHeaders::new().apply(&mut headers);
        assert_eq!(headers[X_FRAME_OPTIONS], "SAMEORIGIN");
        assert_eq!(headers[REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[CONTENT_SECURITY_POLICY], DEFAULT_CSP);
        assert!(!headers.contains_key(STRICT_TRANSPORT_SECURITY));
        assert!(
            SecurityHeaders::new()
                .content_security_policy("bad\nvalue")
                .is_err()
        );
    }
}
