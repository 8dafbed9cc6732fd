//! [`DpopClient`]: requests to a resource server with a DPoP-bound access token
//! (RFC 9449 §7), feature `oidc`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use hearth_net_policy::{HttpsClient, Response};
use hearth_token_guard::AccessToken;
use http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use http::{HeaderValue, Request};

use crate::{DpopKey, Error};

/// Nonces kept, one per origin; past this many the oldest origins are forgotten (a
/// forgotten nonce costs one retried request).
const MAX_ORIGINS: usize = 64;

/// Longest `DPoP-Nonce` kept: a nonce is an opaque short string (RFC 9449 §8).
const MAX_NONCE: usize = 256;

/// Calls resource servers with a DPoP-bound access token: `Authorization: DPoP <token>`
/// (sensitive: never indexed by HPACK, hidden in `Debug`) and a `DPoP` proof for this
/// request's method and URL with `ath`, the token's hash (RFC 9449 §7.1).
///
/// A server that answers `401` with `WWW-Authenticate: DPoP error="use_dpop_nonce"` and a
/// `DPoP-Nonce` gets the request once more with that nonce (§9); the last nonce each origin
/// gave is used in the next proof to it. Requests go through [`HttpsClient::send`]: the
/// URL policy, pins and timeouts apply, and redirects are not followed (a proof names one
/// URL).
///
/// ```no_run
/// use std::sync::Arc;
/// use hearth_net_policy::{HttpsClient, TlsPolicy};
/// use hearth_pkce::{DpopClient, DpopKey};
/// use hearth_token_guard::AccessToken;
///
/// # async fn demo(token: AccessToken) -> Result<(), Box<dyn std::error::Error>> {
/// let http = HttpsClient::new(&TlsPolicy::new().native_roots().build()?);
/// let api = DpopClient::new(http, Arc::new(DpopKey::generate()?));
/// let req = http::Request::get("https://api.example/me").body(bytes::Bytes::new())?;
/// let response = api.send(req, &token).await?;
/// println!("{}", response.status);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DpopClient {
    http: HttpsClient,
    key: Arc<DpopKey>,
    nonces: Arc<Mutex<Nonces>>,
}

/// The last nonce per origin, oldest first out.
#[derive(Debug, Default)]
struct Nonces {
    by_origin: HashMap<String, (u64, String)>,
    next: u64,
}

impl Nonces {
    fn get(&self, origin: &str) -> Option<String> {
        self.by_origin.get(origin).map(|(_, n)| n.clone())
    }

    fn put(&mut self, origin: &str, nonce: &str) {
        if !self.by_origin.contains_key(origin) && self.by_origin.len() >= MAX_ORIGINS {
            let oldest = self
                .by_origin
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(o, _)| o.clone());
            if let Some(oldest) = oldest {
                self.by_origin.remove(&oldest);
            }
        }
        self.next += 1;
        self.by_origin
            .insert(origin.to_owned(), (self.next, nonce.to_owned()));
    }
}

impl DpopClient {
    /// Sends with `http`, proving possession of `key` (the key the tokens are bound to:
    /// [`Provider::dpop_client`](crate::Provider::dpop_client) gives one that shares it).
    #[must_use]
    pub fn new(http: HttpsClient, key: Arc<DpopKey>) -> Self {
        Self {
            http,
            key,
            nonces: Arc::default(),
        }
    }

    /// The key proofs are signed with.
    pub fn key(&self) -> &DpopKey {
        &self.key
    }

    /// Sends `req` with `token` and a proof; retried once when the server asks for a
    /// nonce. An `Authorization` or `DPoP` header already on `req` is replaced.
    ///
    /// Errors: [`Error::Network`] (the policy refused the URL, the connection failed,
    /// a timeout), [`Error::MalformedTokenResponse`] when `token` cannot be sent in a
    /// header (not RFC 6750 token68), [`Error::Rng`].
    pub async fn send(&self, req: Request<Bytes>, token: &AccessToken) -> Result<Response, Error> {
        let authorization = token
            .dpop_header()
            .map_err(|_| Error::MalformedTokenResponse {
                reason: "the access token cannot be sent in an Authorization header",
            })?;
        let (parts, body) = req.into_parts();
        let url = parts.uri.to_string();
        let origin = origin_of(&parts.uri);
        let attempt = |nonce: Option<String>| {
            let proof =
                self.key
                    .proof(parts.method.as_str(), &url, nonce.as_deref(), Some(token))?;
            let mut req = Request::from_parts(parts.clone(), body.clone());
            let headers = req.headers_mut();
            headers.insert(AUTHORIZATION, authorization.clone());
            let proof = HeaderValue::from_str(&proof).map_err(|_| Error::Rng)?;
            headers.insert("dpop", proof);
            Ok::<_, Error>(req)
        };
        let sent = self.lock().get(&origin);
        let response = self.send_one(attempt(sent.clone())?, &origin).await?;
        if response.status == http::StatusCode::UNAUTHORIZED && asks_for_nonce(&response) {
            // Retried once, and only with a nonce the server has just given (one that was
            // unusable, or the same again, would only be refused again).
            let fresh = self.lock().get(&origin);
            if fresh.is_some() && fresh != sent {
                return self.send_one(attempt(fresh)?, &origin).await;
            }
        }
        Ok(response)
    }

    async fn send_one(&self, req: Request<Bytes>, origin: &str) -> Result<Response, Error> {
        let response = self
            .http
            .send(req)
            .await
            .map_err(|e| Error::Network(Arc::new(e)))?;
        if let Some(nonce) = response
            .headers
            .get("dpop-nonce")
            .and_then(|v| v.to_str().ok())
            .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE)
        {
            self.lock().put(origin, nonce);
        }
        Ok(response)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Nonces> {
        self.nonces.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// `scheme://authority`, lowercased: where a nonce is valid.
fn origin_of(uri: &http::Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or_default(),
        uri.authority().map(|a| a.as_str()).unwrap_or_default()
    )
    .to_ascii_lowercase()
}

/// Whether a `401` carries RFC 9449 §9's `WWW-Authenticate: DPoP error="use_dpop_nonce"`.
fn asks_for_nonce(response: &Response) -> bool {
    response
        .headers
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(challenge_asks_for_nonce)
}

/// Whether one `WWW-Authenticate` value is a DPoP challenge whose `error` parameter is
/// `use_dpop_nonce` (RFC 9110 §11.6.1 auth-params; the word elsewhere, e.g. in an
/// `error_description`, does not count).
fn challenge_asks_for_nonce(value: &str) -> bool {
    let value = value.trim_start();
    let Some(params) = value
        .get(..4)
        .filter(|scheme| scheme.eq_ignore_ascii_case("dpop"))
        .and_then(|_| value.get(4..))
        .filter(|rest| rest.starts_with([' ', '\t']))
    else {
        return false;
    };
    auth_param(params, "error") == Some("use_dpop_nonce")
}

/// The value of the auth-param `name` in `params` (`a=b, c="d"`), unquoted (escapes left
/// as they are); one pass over the text.
fn auth_param<'a>(params: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = params;
    loop {
        rest = rest.trim_start_matches([' ', '\t', ',']);
        let eq = rest.find('=')?;
        let key = rest[..eq].trim();
        let after = rest[eq + 1..].trim_start_matches([' ', '\t']);
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => {
                let mut escaped = false;
                let end = quoted.char_indices().find_map(|(i, c)| {
                    let closes = c == '"' && !escaped;
                    escaped = c == '\\' && !escaped;
                    closes.then_some(i)
                })?;
                (&quoted[..end], &quoted[end + 1..])
            }
            None => {
                let end = after.find(',').unwrap_or(after.len());
                (after[..end].trim_end(), &after[end..])
            }
        };
        if key.eq_ignore_ascii_case(name) {
            return Some(value);
        }
        rest = tail;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_kept_per_origin_and_bounded() {
        let mut nonces = Nonces::default();
        for i in 0..(MAX_ORIGINS + 10) {
            nonces.put(&format!("https://h{i}"), &format!("n{i}"));
        }
        assert_eq!(nonces.by_origin.len(), MAX_ORIGINS);
        assert_eq!(nonces.get("https://h0"), None, "the oldest is forgotten");
        let last = MAX_ORIGINS + 9;
        assert_eq!(
            nonces.get(&format!("https://h{last}")),
            Some(format!("n{last}"))
        );
        nonces.put("https://h70", "again");
        assert_eq!(nonces.get("https://h70").as_deref(), Some("again"));
        assert_eq!(nonces.by_origin.len(), MAX_ORIGINS);
    }

    #[test]
    fn only_the_error_parameter_asks_for_a_nonce() {
        for (value, asks) in [
            (
                r#"DPoP error="use_dpop_nonce", error_description="x""#,
                true,
            ),
            (r#"dpop algs="ES256", error=use_dpop_nonce"#, true),
            (r#"DPoP  error = "use_dpop_nonce""#, true),
            (
                r#"DPoP error_description="use_dpop_nonce", error="invalid_token""#,
                false,
            ),
            (
                r#"DPoP error="invalid_token", error_description="send use_dpop_nonce""#,
                false,
            ),
            (
                r#"DPoP realm="a \"error=use_dpop_nonce\"", error="invalid_token""#,
                false,
            ),
            (
                r#"DPoP error_description="x, error=use_dpop_nonce", error="invalid_token""#,
                false,
            ),
            (r#"DPoP realm="\\", error="use_dpop_nonce""#, true),
            (r#"DPoP realm="\"", error="use_dpop_nonce""#, true),
            (r#"DPoP realm="\", error=\"use_dpop_nonce""#, false),
            (r#"Bearer error="use_dpop_nonce""#, false),
            (r#"DPoPx error="use_dpop_nonce""#, false),
            (r#"DPoP error="use_dpop_nonce"#, false),
            ("DPoP", false),
            ("", false),
        ] {
            assert_eq!(challenge_asks_for_nonce(value), asks, "{value}");
        }
    }

    #[test]
    fn origin_ignores_path_and_case() {
        let uri: http::Uri = "HTTPS://API.Example:8443/me?x=1".parse().unwrap();
        assert_eq!(origin_of(&uri), "https://api.example:8443");
    }
}
