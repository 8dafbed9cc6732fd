//! [`TokenClient`]: the token request (RFC 6749 §4.1.3, RFC 7636 §4.5) and refresh (§6)
//! over hearth-net-policy's HTTPS client.

use std::sync::Arc;

use bytes::Bytes;
use hearth_net_policy::HttpsClient;
use hearth_token_guard::{ClientSecret, RefreshToken};
use http::header::{ACCEPT, CONTENT_TYPE};

use crate::{AuthorizationCodeGrant, Error, TokenSet, form, parse_token_response};

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
        }
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
    /// §4.14): store the new set before anything else.
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
        let mut set = self.post(body).await?;
        if set.refresh_token.is_none() {
            set.refresh_token = Some(refresh.clone());
        }
        Ok(set)
    }

    async fn post(&self, mut body: String) -> Result<TokenSet, Error> {
        form::append(&mut body, "client_id", &self.client_id);
        if let Some(secret) = &self.client_secret {
            form::append(&mut body, "client_secret", secret.expose_secret());
        }
        let req = http::Request::post(self.endpoint.as_str())
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(ACCEPT, "application/json")
            .body(Bytes::from(
                zeroize::Zeroizing::new(body).as_bytes().to_vec(),
            ))
            .map_err(|_| Error::InvalidUrl {
                reason: "the token endpoint is not a URL",
            })?;
        let response = self
            .http
            .send(req)
            .await
            .map_err(|e| Error::Network(Arc::new(e)))?;
        parse_token_response(response.status.as_u16(), &response.body)
    }
}
