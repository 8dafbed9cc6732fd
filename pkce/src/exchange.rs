//! The token request (RFC 6749 §4.1.3, RFC 7636 §4.5), refresh (§6), and typed parsing of
//! token and error responses (§5) into a [`TokenSet`].

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hearth_net_policy::HttpsClient;
use hearth_token_guard::{AccessToken, ClientSecret, IdToken, RefreshToken};
use http::header::{ACCEPT, CONTENT_TYPE};

use crate::{AuthorizationCodeGrant, Error, form};

/// Largest token response read: 64 KiB.
const MAX_RESPONSE: usize = 64 << 10;

/// The tokens a sign-in or refresh yields, as token-guard secret types.
#[derive(Debug)]
#[non_exhaustive]
pub struct TokenSet {
    /// The access token.
    pub access_token: AccessToken,
    /// `token_type`, lowercased (`bearer`).
    pub token_type: String,
    /// When the access token expires (from `expires_in`), if the server said.
    pub expires_at: Option<SystemTime>,
    /// The refresh token: the new one if the server rotated it, else the one used.
    pub refresh_token: Option<RefreshToken>,
    /// The OpenID Connect ID token.
    pub id_token: Option<IdToken>,
    /// The granted scope, if the server said.
    pub scope: Option<String>,
}

/// Parses a token endpoint response (status and body): a success into a [`TokenSet`], an
/// error response into [`Error::TokenRequest`], anything else into
/// [`Error::MalformedTokenResponse`]. No message contains a token.
///
/// ```
/// use hearth_pkce::parse_token_response;
///
/// let set = parse_token_response(200, br#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#)?;
/// assert_eq!(set.access_token.expose_secret(), "at");
/// let err = parse_token_response(400, br#"{"error":"invalid_grant"}"#).unwrap_err();
/// assert!(matches!(err, hearth_pkce::Error::TokenRequest { .. }));
/// # Ok::<(), hearth_pkce::Error>(())
/// ```
pub fn parse_token_response(status: u16, body: &[u8]) -> Result<TokenSet, Error> {
    let malformed = |reason| Error::MalformedTokenResponse { reason };
    if body.len() > MAX_RESPONSE {
        return Err(malformed("larger than 64 KiB"));
    }
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| malformed("not JSON"))?;
    let obj = json.as_object().ok_or(malformed("not a JSON object"))?;
    let text = |k: &str| obj.get(k).and_then(serde_json::Value::as_str);
    if !(200..300).contains(&status) || obj.contains_key("error") {
        let error = text("error").ok_or(malformed("an error response without 'error'"))?;
        return Err(Error::TokenRequest {
            status,
            error: error
                .chars()
                .filter(|c| c.is_ascii_graphic())
                .take(64)
                .collect(),
            description: text("error_description")
                .map(|d| d.chars().filter(|c| !c.is_control()).take(256).collect()),
        });
    }
    let access = text("access_token")
        .filter(|t| !t.is_empty())
        .ok_or(malformed("no access_token"))?;
    let token_type = text("token_type")
        .ok_or(malformed("no token_type"))?
        .to_ascii_lowercase();
    let expires_at = match obj.get("expires_in") {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let secs = v
                .as_u64()
                .ok_or(malformed("expires_in is not a non-negative integer"))?;
            Some(SystemTime::now() + Duration::from_secs(secs.min(10 * 365 * 86_400)))
        }
    };
    Ok(TokenSet {
        access_token: AccessToken::new(access),
        token_type,
        expires_at,
        refresh_token: text("refresh_token").map(RefreshToken::new),
        id_token: text("id_token").map(IdToken::new),
        scope: text("scope").map(str::to_owned),
    })
}

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
            http,
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
        let mut body = String::new();
        form::append(&mut body, "grant_type", "refresh_token");
        form::append(&mut body, "refresh_token", refresh.expose_secret());
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
        let response = self.http.send(req).await.map_err(Error::Network)?;
        parse_token_response(response.status.as_u16(), &response.body)
    }
}

/// One session's tokens, refreshed at most once at a time: when several tasks find the
/// access token expired together, one refresh request is made and the others get its
/// result, so a rotating refresh token is never spent twice.
#[derive(Debug)]
pub struct Session {
    client: TokenClient,
    tokens: tokio::sync::Mutex<TokenSet>,
}

impl Session {
    /// A session starting from `tokens`.
    #[must_use]
    pub fn new(client: TokenClient, tokens: TokenSet) -> Self {
        Self {
            client,
            tokens: tokio::sync::Mutex::new(tokens),
        }
    }

    /// The current access token.
    pub async fn access_token(&self) -> AccessToken {
        self.tokens.lock().await.access_token.clone()
    }

    /// Refreshes unless another task already replaced `stale` (the access token the caller
    /// found expired), and returns the current access token.
    pub async fn refresh(&self, stale: &AccessToken) -> Result<AccessToken, Error> {
        let mut tokens = self.tokens.lock().await;
        if tokens.access_token != *stale {
            return Ok(tokens.access_token.clone());
        }
        let refresh = tokens
            .refresh_token
            .clone()
            .ok_or(Error::MalformedTokenResponse {
                reason: "no refresh token to refresh with",
            })?;
        let next = self.client.refresh(&refresh).await?;
        let access = next.access_token.clone();
        *tokens = next;
        Ok(access)
    }
}
