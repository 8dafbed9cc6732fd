//! [`TokenClient`]: the token request (RFC 6749 §4.1.3, RFC 7636 §4.5) and refresh (§6)
//! over hearth-net-policy's HTTPS client.

use std::sync::Arc;

use bytes::Bytes;
use hearth_net_policy::HttpsClient;
use hearth_token_guard::{ClientSecret, RefreshToken};
use http::header::{ACCEPT, CONTENT_TYPE};

use crate::{AuthorizationCodeGrant, Error, TokenSet, form};

/// Talks to a token endpoint for one client.
///
/// ```no_run
/// use hearth_net_policy::{HttpsClient, TlsPolicy};
/// use hearth_pkce::TokenClient;
///
/// let http = HttpsClient::new(&TlsPolicy::new().native_roots().build()?);
/// let tokens = TokenClient::new(http, "https://accounts.example/token", "my-client");
/// # Ok::<(), hearth_net_policy::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TokenClient {
    http: HttpsClient,
    endpoint: String,
    client_id: String,
    client_secret: Option<ClientSecret>,
    #[cfg(feature = "oidc")]
    dpop: Option<Arc<DpopBinding>>,
}

/// A DPoP key and the last nonce the server gave (RFC 9449 §8).
#[cfg(feature = "oidc")]
#[derive(Debug)]
struct DpopBinding {
    key: Arc<crate::DpopKey>,
    nonce: std::sync::Mutex<Option<String>>,
}

impl TokenClient {
    /// A public client (no secret), as native apps are (RFC 8252 §8.4).
    #[must_use]
    pub fn new(http: HttpsClient, token_endpoint: &str, client_id: &str) -> Self {
        Self {
            // A token response is small: a larger body is refused while it is read.
            http: http.with_max_body(crate::token_response::MAX_RESPONSE + 1),
            endpoint: token_endpoint.to_owned(),
            client_id: client_id.to_owned(),
            client_secret: None,
            #[cfg(feature = "oidc")]
            dpop: None,
        }
    }

    /// Sends a DPoP proof made with `key` on every token request (RFC 9449 §5), so that
    /// the server binds the tokens it issues to the key (`token_type` `dpop`); a
    /// `use_dpop_nonce` answer is retried once with the server's nonce. Feature `oidc`.
    #[cfg(feature = "oidc")]
    #[must_use]
    pub fn with_dpop(mut self, key: Arc<crate::DpopKey>) -> Self {
        self.dpop = Some(Arc::new(DpopBinding {
            key,
            nonce: std::sync::Mutex::new(None),
        }));
        self
    }

    /// The client id.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    /// The HTTPS client it sends with.
    pub fn http(&self) -> &HttpsClient {
        &self.http
    }

    /// A confidential client: the secret is sent in the request body.
    #[must_use]
    pub fn with_client_secret(mut self, secret: ClientSecret) -> Self {
        self.client_secret = Some(secret);
        self
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange(&self, grant: AuthorizationCodeGrant) -> Result<TokenSet, Error> {
        let mut body = String::new();
        form::append(&mut body, "grant_type", "authorization_code");
        form::append(&mut body, "code", grant.code.expose_secret());
        form::append(&mut body, "redirect_uri", &grant.redirect_uri);
        form::append(&mut body, "code_verifier", grant.verifier.expose_secret());
        self.post(body).await
    }

    /// Uses `refresh` for new tokens. If the server does not rotate the refresh token,
    /// the returned set keeps the one used; if it does, the old one is spent (RFC 9700
    /// §4.14): store the new set before anything else. A refusal with `invalid_grant`
    /// is [`Error::SignInRevoked`].
    pub async fn refresh(&self, refresh: &RefreshToken) -> Result<TokenSet, Error> {
        self.refresh_with_scope(refresh, None).await
    }

    /// Like [`refresh`](Self::refresh), asking for `scope` (at most what was granted,
    /// RFC 6749 §6) when given.
    pub async fn refresh_with_scope(
        &self,
        refresh: &RefreshToken,
        scope: Option<&str>,
    ) -> Result<TokenSet, Error> {
        let mut body = String::new();
        form::append(&mut body, "grant_type", "refresh_token");
        form::append(&mut body, "refresh_token", refresh.expose_secret());
        if let Some(scope) = scope {
            form::append(&mut body, "scope", scope);
        }
        let mut set = self.post(body).await.map_err(|e| match e {
            Error::TokenRequest {
                error, description, ..
            } if error == "invalid_grant" => Error::SignInRevoked { description },
            e => e,
        })?;
        if set.refresh_token.is_none() {
            set.refresh_token = Some(refresh.clone());
        }
        Ok(set)
    }

    /// Sends a grant (any `grant_type`, e.g. the device grant's) to the token endpoint
    /// with this client's credentials and, with DPoP, a proof.
    pub(crate) async fn post(&self, body: String) -> Result<TokenSet, Error> {
        let endpoint = self.endpoint.clone();
        let response = self.post_form(&endpoint, body, true).await?;
        crate::token_response::parse(response.status.as_u16(), &response.body, self.sends_dpop())
    }

    fn sends_dpop(&self) -> bool {
        #[cfg(feature = "oidc")]
        return self.dpop.is_some();
        #[cfg(not(feature = "oidc"))]
        false
    }

    /// POSTs a form to `endpoint` with `client_id` (and the secret, if any) added; with
    /// `proof` and a DPoP key, a proof too, retried once on `use_dpop_nonce`.
    pub(crate) async fn post_form(
        &self,
        endpoint: &str,
        mut body: String,
        proof: bool,
    ) -> Result<hearth_net_policy::Response, Error> {
        form::append(&mut body, "client_id", &self.client_id);
        if let Some(secret) = &self.client_secret {
            form::append(&mut body, "client_secret", secret.expose_secret());
        }
        let body = zeroize::Zeroizing::new(body);
        #[cfg(feature = "oidc")]
        let sent = self.dpop_nonce();
        let response = self.send_form(endpoint, &body, proof).await?;
        // RFC 9449 §8: the server wants a nonce it has just given; once, and only when it
        // did give one (the same again, or an unusable one, would only be refused again).
        #[cfg(feature = "oidc")]
        if proof && self.dpop.is_some() && response.status == 400 && asks_for_nonce(&response.body)
        {
            let fresh = self.dpop_nonce();
            if fresh.is_some() && fresh != sent {
                return self.send_form(endpoint, &body, proof).await;
            }
        }
        Ok(response)
    }

    /// The last DPoP nonce the server gave, if any.
    #[cfg(feature = "oidc")]
    fn dpop_nonce(&self) -> Option<String> {
        self.dpop.as_ref().and_then(|dpop| {
            dpop.nonce
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        })
    }

    /// One POST of `body`, with a DPoP proof (and the last nonce) when `proof`; a
    /// `DPoP-Nonce` in the answer is kept for the next proof.
    async fn send_form(
        &self,
        endpoint: &str,
        body: &str,
        proof: bool,
    ) -> Result<hearth_net_policy::Response, Error> {
        #[cfg_attr(
            not(feature = "oidc"),
            allow(unused_mut, reason = "only DPoP adds a header")
        )]
        let mut req = http::Request::post(endpoint)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json");
        #[cfg(feature = "oidc")]
        let dpop = self.dpop.as_ref().filter(|_| proof);
        #[cfg(not(feature = "oidc"))]
        let _ = proof;
        #[cfg(feature = "oidc")]
        if let Some(dpop) = dpop {
            let nonce = self.dpop_nonce();
            req = req.header(
                "dpop",
                dpop.key.proof("POST", endpoint, nonce.as_deref(), None)?,
            );
        }
        let req = req
            .body(Bytes::from(body.as_bytes().to_vec()))
            .map_err(|_| Error::InvalidUrl {
                reason: "the endpoint is not a URL",
            })?;
        let response = self
            .http
            .send(req)
            .await
            .map_err(|e| Error::Network(Arc::new(e)))?;
        #[cfg(feature = "oidc")]
        if let Some(dpop) = dpop
            && let Some(nonce) = response
                .headers
                .get("dpop-nonce")
                .and_then(|v| v.to_str().ok())
                .filter(|n| !n.is_empty() && n.len() <= 256)
        {
            *dpop
                .nonce
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(nonce.to_owned());
        }
        Ok(response)
    }
}

/// Whether an error body is RFC 9449 §8's `use_dpop_nonce`.
#[cfg(feature = "oidc")]
fn asks_for_nonce(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v.get("error")
                .and_then(|e| e.as_str())
                .map(|e| e == "use_dpop_nonce")
        })
        .unwrap_or(false)
}
