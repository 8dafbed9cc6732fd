//! [`Provider`]: an OpenID Connect provider (or OAuth 2.0 authorization server) found by
//! discovery, with every step of a sign-in checked against what it published (feature
//! `oidc`).

use std::sync::Arc;

use hearth_net_policy::{HttpsClient, IssuerKeys, IssuerMetadata, KeyRefresh};
use hearth_token_guard::jose::{Algorithm, JwksCache};
use hearth_token_guard::{AccessToken, IdToken, RefreshToken};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::{
    AuthorizationCodeGrant, AuthorizationRequest, DpopKey, Error, IdTokenCheck, IdTokenClaims,
    PendingAuthorization, TokenClient, TokenSet, form, validate_id_token,
};

/// The outcome of a sign-in or refresh: the tokens, and the ID token's claims once
/// validated (when the provider sent one).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SignIn {
    /// The tokens (secret types: `Debug` shows none).
    pub tokens: TokenSet,
    /// The ID token's validated claims.
    pub claims: Option<IdTokenClaims>,
}

/// A provider found from its issuer URL ([`IssuerMetadata::discover`]) for one public
/// client: the authorization request, PAR (RFC 9126) when the provider has it, the code
/// exchange with the ID token validated ([`validate_id_token`]: nonce, `c_hash`,
/// `at_hash`), refresh, revocation (RFC 7009) and logout, DPoP (RFC 9449) when given a
/// key, and the device grant (RFC 8628).
///
/// The issuer's keys come from its `jwks_uri` over the same client, kept fresh in the
/// background and refetched once per minute at most for an unknown `kid`
/// ([`IssuerKeys`]).
///
/// ```no_run
/// use hearth_net_policy::{HttpsClient, TlsPolicy};
/// use hearth_pkce::{LoopbackReceiver, Provider};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let http = HttpsClient::new(&TlsPolicy::new().native_roots().build()?);
/// let provider = Provider::discover(&http, "https://accounts.example", "my-app").await?;
/// let receiver = LoopbackReceiver::bind("/callback").await?;
/// let request = provider.authorization_request(&receiver.redirect_uri())?.scope("email");
/// let (url, pending) = provider.start(request).await?; // pushed (PAR) when offered
/// // ... open `url` in the system browser ...
/// let grant = receiver.wait(pending, std::time::Duration::from_secs(300)).await?;
/// let sign_in = provider.exchange(grant).await?;
/// println!("signed in as {}", sign_in.claims.map(|c| c.sub).unwrap_or_default());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Provider {
    metadata: Arc<IssuerMetadata>,
    tokens: TokenClient,
    keys: Option<Arc<JwksCache>>,
    dpop: Option<Arc<DpopKey>>,
    /// The ID token algorithms accepted: those the provider says it signs with
    /// (`id_token_signing_alg_values_supported`) that Hearth verifies.
    algorithms: Arc<[Algorithm]>,
}

impl Provider {
    /// Discovers `issuer` and fetches its keys (when it has a `jwks_uri`).
    pub async fn discover(
        http: &HttpsClient,
        issuer: &str,
        client_id: &str,
    ) -> Result<Self, Error> {
        let network = |e| Error::Network(Arc::new(e));
        let metadata = IssuerMetadata::discover(http, issuer)
            .await
            .map_err(network)?;
        let keys = match metadata.jwks_uri() {
            Some(uri) => {
                let keys = IssuerKeys::start_with(http, uri, KeyRefresh::default())
                    .await
                    .map_err(network)?;
                Some(Arc::new(JwksCache::new(keys)))
            }
            None => None,
        };
        Self::from_metadata(http, metadata, client_id, keys)
    }

    /// Discovers `issuer` without fetching its keys: enough to revoke and log out
    /// ([`revoke`](Self::revoke), [`logout`](Self::logout)) when the keys may be out of
    /// reach, not to sign in (an ID token cannot be validated: every
    /// [`exchange`](Self::exchange) that brings one is [`Error::InvalidIdToken`]).
    pub async fn discover_without_keys(
        http: &HttpsClient,
        issuer: &str,
        client_id: &str,
    ) -> Result<Self, Error> {
        let metadata = IssuerMetadata::discover(http, issuer)
            .await
            .map_err(|e| Error::Network(Arc::new(e)))?;
        Self::from_metadata(http, metadata, client_id, None)
    }

    fn from_metadata(
        http: &HttpsClient,
        metadata: IssuerMetadata,
        client_id: &str,
        keys: Option<Arc<JwksCache>>,
    ) -> Result<Self, Error> {
        let token_endpoint = metadata.token_endpoint().ok_or(Error::InvalidUrl {
            reason: "the provider's metadata has no token_endpoint",
        })?;
        // A provider that names none is taken to use any of them (RS256 at least, OpenID
        // Connect Discovery §3); one that names only algorithms Hearth refuses (HS256,
        // none) gets an empty list, and every ID token is refused.
        let published = metadata.supported("id_token_signing_alg_values_supported");
        let algorithms: Arc<[Algorithm]> = if published.is_empty() {
            Algorithm::ALL.into()
        } else {
            Algorithm::ALL
                .into_iter()
                .filter(|a| {
                    published
                        .iter()
                        .any(|p| Algorithm::parse(p).is_ok_and(|p| p == *a))
                })
                .collect()
        };
        Ok(Self {
            tokens: TokenClient::new(http.clone(), token_endpoint, client_id),
            metadata: Arc::new(metadata),
            keys,
            dpop: None,
            algorithms,
        })
    }

    /// Binds the tokens to `key` (RFC 9449): `dpop_jkt` on the authorization request, a
    /// proof on every token request (code, refresh, device), `token_type` `dpop`. Keep
    /// the key with the tokens ([`DpopKey::load_or_create`]).
    #[must_use]
    pub fn with_dpop(mut self, key: DpopKey) -> Self {
        let key = Arc::new(key);
        self.tokens = self.tokens.with_dpop(Arc::clone(&key));
        self.dpop = Some(key);
        self
    }

    /// A client for resource servers (the provider's `userinfo_endpoint`, an API) that
    /// sends this provider's DPoP-bound access tokens with proofs of the same key, over
    /// `http`; `None` without a DPoP key (send Bearer tokens with
    /// [`with_bearer`](hearth_net_policy::with_bearer)).
    pub fn dpop_client(&self, http: &HttpsClient) -> Option<crate::DpopClient> {
        self.dpop
            .as_ref()
            .map(|key| crate::DpopClient::new(http.clone(), Arc::clone(key)))
    }

    /// The provider's validated metadata.
    pub fn metadata(&self) -> &IssuerMetadata {
        &self.metadata
    }

    /// The token client (for [`Session`](crate::Session)).
    pub fn token_client(&self) -> &TokenClient {
        &self.tokens
    }

    /// The DPoP key, if the tokens are bound to one.
    pub fn dpop_key(&self) -> Option<&DpopKey> {
        self.dpop.as_deref()
    }

    /// An authorization request to this provider: its endpoint, `openid` scope and a
    /// nonce when it is an OpenID provider (it has a `jwks_uri`), the callback's `iss`
    /// required when the metadata says `authorization_response_iss_parameter_supported`
    /// (checked if present otherwise), `dpop_jkt` with a DPoP key.
    pub fn authorization_request(&self, redirect_uri: &str) -> Result<AuthorizationRequest, Error> {
        let endpoint = self
            .metadata
            .authorization_endpoint()
            .ok_or(Error::InvalidUrl {
                reason: "the provider's metadata has no authorization_endpoint",
            })?;
        let mut request =
            AuthorizationRequest::new(endpoint, self.tokens.client_id(), redirect_uri);
        let iss_supported = self
            .metadata
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        request = if iss_supported {
            request.expected_issuer(self.metadata.issuer())
        } else {
            request.expected_issuer_if_present(self.metadata.issuer())
        };
        if self.keys.is_some() {
            request = request.scope("openid").oidc_nonce();
        }
        if let Some(key) = &self.dpop {
            request = request.dpop_jkt(key.thumbprint());
        }
        Ok(request)
    }

    /// Builds `request` and, when the provider has a `pushed_authorization_request_endpoint`,
    /// pushes its parameters there (RFC 9126): the URL to open then carries only the
    /// authorization endpoint's own query (if it has one), `client_id` and `request_uri`.
    /// A provider that requires PAR and has no such endpoint, or a request built for
    /// another endpoint than this provider's, is an error.
    pub async fn start(
        &self,
        request: AuthorizationRequest,
    ) -> Result<(String, PendingAuthorization), Error> {
        let (url, pending) = request.build()?;
        let Some(par) = self.metadata.pushed_authorization_request_endpoint() else {
            if self.metadata.require_pushed_authorization_requests() {
                return Err(Error::InvalidUrl {
                    reason: "the provider requires pushed authorization requests and has no endpoint for them",
                });
            }
            return Ok((url, pending));
        };
        let (base, query) = url.split_once('?').unwrap_or((&url, ""));
        let endpoint = self.metadata.authorization_endpoint().unwrap_or_default();
        let (endpoint_base, endpoint_query) = endpoint.split_once('?').unwrap_or((endpoint, ""));
        let endpoint_query = endpoint_query
            .split('#')
            .next()
            .unwrap_or_default()
            .to_owned();
        // The request's parameters are told from the endpoint's own by the endpoint's
        // query, which it starts with: a request for another endpoint cannot be pushed.
        if base != endpoint_base.split('#').next().unwrap_or_default()
            || !query.starts_with(endpoint_query.as_str())
        {
            return Err(Error::InvalidUrl {
                reason: "the request is not for this provider's authorization endpoint",
            });
        }
        // The endpoint's own parameters (which come first) stay in the URL and are not
        // pushed; the request's go by POST (client_id is added by the token client).
        let own = form::pairs(&endpoint_query).count();
        let params: String = form::pairs(query)
            .skip(own)
            .filter(|(name, _)| *name != "client_id")
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&");
        let response = self.tokens.post_form(par, params, true).await?;
        if !(200..300).contains(&response.status.as_u16()) {
            return Err(oauth_error(response.status.as_u16(), &response.body));
        }
        let json: Value =
            serde_json::from_slice(&response.body).map_err(|_| Error::MalformedTokenResponse {
                reason: "the pushed authorization response is not JSON",
            })?;
        let request_uri = json
            .get("request_uri")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty() && !u.contains(char::is_control))
            .ok_or(Error::MalformedTokenResponse {
                reason: "the pushed authorization response has no request_uri",
            })?;
        // RFC 9126 §2.2: the request_uri is good for `expires_in` seconds (required).
        if json
            .get("expires_in")
            .and_then(Value::as_u64)
            .is_none_or(|s| s == 0)
        {
            return Err(Error::MalformedTokenResponse {
                reason: "the pushed authorization response has no positive expires_in",
            });
        }
        let mut query = endpoint_query;
        form::append(&mut query, "client_id", self.tokens.client_id());
        form::append(&mut query, "request_uri", request_uri);
        Ok((format!("{base}?{query}"), pending))
    }

    /// Exchanges the code and validates the ID token against this sign-in's nonce and
    /// `max_age` (`auth_time`), the code (`c_hash`) and the access token (`at_hash`). An
    /// OpenID sign-in (a nonce was sent) without an ID token, or with one that fails a
    /// check, is [`Error::InvalidIdToken`] and yields no tokens.
    pub async fn exchange(&self, mut grant: AuthorizationCodeGrant) -> Result<SignIn, Error> {
        let code = Zeroizing::new(grant.code.expose_secret().to_owned());
        let nonce = grant.nonce.take();
        let max_age = grant.max_age;
        let tokens = self.tokens.exchange(grant).await?;
        let claims = match (&tokens.id_token, &nonce) {
            (Some(id), _) => {
                let mut check = self.check().code(&code).access_token(&tokens.access_token);
                if let Some(nonce) = &nonce {
                    check = check.nonce(nonce);
                }
                if let Some(max_age) = max_age {
                    check = check.max_age(max_age);
                }
                Some(self.validate(id, &check)?)
            }
            (None, Some(_)) => {
                return Err(Error::InvalidIdToken {
                    reason: "the provider answered an OpenID sign-in without an ID token",
                });
            }
            (None, None) => None,
        };
        Ok(SignIn { tokens, claims })
    }

    /// [`exchange`](Self::exchange), then `persist.save` of the tokens, only once every
    /// check has passed: a refused ID token stores nothing.
    pub async fn exchange_and_store(
        &self,
        grant: AuthorizationCodeGrant,
        persist: &dyn crate::PersistTokens,
    ) -> Result<SignIn, Error> {
        let sign_in = self.exchange(grant).await?;
        persist.save(&sign_in.tokens).await?;
        Ok(sign_in)
    }

    /// The tokens of a grant without a nonce (the device grant): the ID token, if any,
    /// validated against the access token.
    pub(crate) fn signed_in(&self, tokens: TokenSet) -> Result<SignIn, Error> {
        let claims = match &tokens.id_token {
            Some(id) => Some(self.validate(id, &self.check().access_token(&tokens.access_token))?),
            None => None,
        };
        Ok(SignIn { tokens, claims })
    }

    /// Refreshes; a new ID token, if the provider sends one, is validated too and must
    /// be the same sign-in's as `previous` (the sign-in's claims; OpenID Connect Core
    /// §12.2: the same `iss`, `sub`, `aud`, `azp` and `auth_time`), else
    /// [`Error::IdTokenChanged`]. Without `previous` nothing ties it to a sign-in: it is
    /// dropped (no `id_token`, no claims) and the rest of the set returned.
    pub async fn refresh(
        &self,
        refresh: &RefreshToken,
        previous: Option<&IdTokenClaims>,
    ) -> Result<SignIn, Error> {
        let mut tokens = self.tokens.refresh(refresh).await?;
        let Some(previous) = previous else {
            tokens.id_token = None;
            return Ok(SignIn {
                tokens,
                claims: None,
            });
        };
        let claims = self.validate_refreshed(&tokens, previous)?;
        Ok(SignIn { tokens, claims })
    }

    /// The refreshed ID token's claims, if `tokens` has one: checked for this client and
    /// its access token, and against the sign-in's claims `p` (§12.2).
    pub(crate) fn validate_refreshed(
        &self,
        tokens: &TokenSet,
        p: &IdTokenClaims,
    ) -> Result<Option<IdTokenClaims>, Error> {
        let Some(id) = &tokens.id_token else {
            return Ok(None);
        };
        let claims = self.validate(id, &self.check().access_token(&tokens.access_token))?;
        if p.sub != claims.sub || p.iss != claims.iss {
            return Err(Error::IdTokenChanged {
                reason: "it names another user",
            });
        }
        let mut aud = (p.aud.clone(), claims.aud.clone());
        aud.0.sort();
        aud.1.sort();
        // A first `auth_time` has nothing to be compared with.
        let auth_time_moved = p.auth_time.is_some() && p.auth_time != claims.auth_time;
        if p.azp != claims.azp || aud.0 != aud.1 || auth_time_moved {
            return Err(Error::IdTokenChanged {
                reason: "its audience, authorized party or authentication time differs",
            });
        }
        Ok(Some(claims))
    }

    /// Validates an ID token from this provider for this client (no nonce: for a
    /// sign-in use [`exchange`](Self::exchange), which checks it).
    pub fn validate_id_token(&self, token: &IdToken) -> Result<IdTokenClaims, Error> {
        self.validate(token, &self.check())
    }

    fn check(&self) -> IdTokenCheck<'_> {
        IdTokenCheck::new(self.metadata.issuer(), self.tokens.client_id())
            .algorithms(&self.algorithms)
    }

    fn validate(&self, token: &IdToken, check: &IdTokenCheck<'_>) -> Result<IdTokenClaims, Error> {
        let keys = self.keys.as_ref().ok_or(Error::InvalidIdToken {
            reason: "the provider publishes no keys (jwks_uri) to check it with",
        })?;
        validate_id_token(token, keys, check)
    }

    /// Revokes `token` (RFC 7009) with its type as the hint. `Ok(false)` when the
    /// provider has no `revocation_endpoint`.
    pub async fn revoke(&self, token: Revocable<'_>) -> Result<bool, Error> {
        let Some(endpoint) = self.metadata.revocation_endpoint() else {
            return Ok(false);
        };
        let (value, hint) = match token {
            Revocable::Refresh(t) => (t.expose_secret(), "refresh_token"),
            Revocable::Access(t) => (t.expose_secret(), "access_token"),
        };
        let mut body = String::new();
        form::append(&mut body, "token", value);
        form::append(&mut body, "token_type_hint", hint);
        let response = self.tokens.post_form(endpoint, body, false).await?;
        match response.status.as_u16() {
            200..=299 => Ok(true),
            status => Err(oauth_error(status, &response.body)),
        }
    }

    /// Signs out at the provider: revokes the refresh token, then the access token (RFC
    /// 7009 §2: revoking a refresh token may revoke the access tokens of its grant, not
    /// always), and gives the RP-initiated logout URL (OpenID Connect RP-Initiated Logout
    /// 1.0) when the provider has an `end_session_endpoint`, with `id_token_hint`,
    /// `client_id` and `post_logout_redirect_uri` when given.
    ///
    /// Both revocations are tried, and the URL is given whatever they answered: a failure
    /// is in [`Logout::error`] (and `revoked` is then false). A provider that revokes no
    /// access tokens (`unsupported_token_type`, RFC 7009 §2.2.1) is not a failure. Clear
    /// the local tokens whatever this says.
    pub async fn logout(
        &self,
        tokens: &TokenSet,
        post_logout_redirect_uri: Option<&str>,
    ) -> Logout {
        let mut error = None;
        let mut told = false;
        if let Some(refresh) = &tokens.refresh_token {
            match self.revoke(Revocable::Refresh(refresh)).await {
                Ok(done) => told |= done,
                Err(e) => error = Some(e),
            }
        }
        match self.revoke(Revocable::Access(&tokens.access_token)).await {
            Ok(done) => told |= done,
            Err(Error::TokenRequest { error: code, .. }) if code == "unsupported_token_type" => {}
            Err(e) => error = error.or(Some(e)),
        }
        let end_session_url = self.metadata.end_session_endpoint().map(|endpoint| {
            let (base, mut query) = match endpoint.split_once('?') {
                Some((b, q)) => (b, q.to_owned()),
                None => (endpoint, String::new()),
            };
            if let Some(id) = &tokens.id_token {
                form::append(&mut query, "id_token_hint", id.expose_secret());
            }
            form::append(&mut query, "client_id", self.tokens.client_id());
            if let Some(uri) = post_logout_redirect_uri {
                form::append(&mut query, "post_logout_redirect_uri", uri);
            }
            format!("{base}?{query}")
        });
        Logout {
            revoked: told && error.is_none(),
            end_session_url,
            error,
        }
    }
}

/// A token to revoke.
#[derive(Debug, Clone, Copy)]
pub enum Revocable<'a> {
    /// A refresh token (revoking it ends the grant at most providers).
    Refresh(&'a RefreshToken),
    /// An access token.
    Access(&'a AccessToken),
}

/// What [`Provider::logout`] did. `Debug` shows the end-session URL without its query
/// (which carries the ID token).
#[derive(Clone)]
#[non_exhaustive]
#[must_use = "a revocation may have failed: look at `error`"]
pub struct Logout {
    /// Whether the provider was told and accepted every revocation (false when it has no
    /// revocation endpoint, or one failed).
    pub revoked: bool,
    /// The URL to open to end the session at the provider, if it has one (it carries
    /// the ID token as `id_token_hint`: open it, do not log it).
    pub end_session_url: Option<String>,
    /// The first revocation that failed, if one did (the token may still be valid at the
    /// provider: say so to the user, and retry later if it is retryable).
    pub error: Option<Error>,
}

impl std::fmt::Debug for Logout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = self
            .end_session_url
            .as_deref()
            .map(|u| u.split(['?', '#']).next().unwrap_or_default());
        f.debug_struct("Logout")
            .field("revoked", &self.revoked)
            .field("end_session_url", &url)
            .field("error", &self.error)
            .finish()
    }
}

/// An error answer from a provider endpoint: its OAuth error when it sent one.
pub(crate) fn oauth_error(status: u16, body: &[u8]) -> Error {
    match crate::token_response::parse(status, body, false) {
        Err(e) => e,
        Ok(_) => Error::TokenEndpointStatus { status },
    }
}
