//! The authorization request and the single-use [`PendingAuthorization`] it leaves behind.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hearth_token_guard::{AuthorizationCode, SecretBytes};
use http::Uri;

use crate::{Callback, CodeVerifier, Error, Nonce, RedirectUri, State, form};

/// How long a sign-in may take by default: 10 minutes.
pub const DEFAULT_TTL: Duration = Duration::from_secs(600);

/// The longest a sign-in may take: a day.
const MAX_TTL: Duration = Duration::from_secs(86_400);

/// Builds the URL to open in the browser and the [`PendingAuthorization`] to complete
/// when the callback arrives (authorization code + PKCE S256, RFC 6749 §4.1, RFC 7636).
///
/// ```
/// use hearth_pkce::AuthorizationRequest;
///
/// let (url, pending) = AuthorizationRequest::new(
///     "https://accounts.spotify.com/authorize",
///     "my-client-id",
///     "http://127.0.0.1:43123/callback",
/// )
/// .scope("user-read-private")
/// .build()?;
/// assert!(url.starts_with("https://accounts.spotify.com/authorize?response_type=code&client_id=my-client-id"));
/// assert!(url.contains("&code_challenge_method=S256"));
/// assert!(url.contains("&state=") && !url.contains("code_verifier"));
/// # Ok::<(), hearth_pkce::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct AuthorizationRequest {
    endpoint: String,
    client_id: String,
    redirect_uri: String,
    scopes: Vec<String>,
    extra: Vec<(String, String)>,
    issuer: Option<(String, IssuerCheck)>,
    oidc_nonce: bool,
    max_age: Option<Duration>,
    dpop_jkt: Option<String>,
    verifier_bytes: usize,
    ttl: Duration,
}

impl AuthorizationRequest {
    /// A request to `endpoint` for `client_id`, redirecting to exactly `redirect_uri`.
    pub fn new(endpoint: &str, client_id: &str, redirect_uri: &str) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            scopes: Vec::new(),
            extra: Vec::new(),
            issuer: None,
            oidc_nonce: false,
            max_age: None,
            dpop_jkt: None,
            verifier_bytes: crate::MIN_VERIFIER_BYTES,
            ttl: DEFAULT_TTL,
        }
    }

    /// Adds a scope.
    pub fn scope(mut self, scope: &str) -> Self {
        self.scopes.push(scope.to_owned());
        self
    }

    /// Adds another query parameter (e.g. `prompt=consent`). The parameters the request
    /// sets itself (`response_type`, `client_id`, `redirect_uri`, `scope`, `state`, the
    /// PKCE pair, `nonce`, `max_age`, `dpop_jkt`) and `request`/`request_uri` cannot be
    /// given this way, and no name twice (but `resource`, which RFC 8707 repeats): either
    /// is [`Error::DuplicateParameter`] from [`build`](Self::build).
    pub fn param(mut self, name: &str, value: &str) -> Self {
        self.extra.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Requires the callback's `iss` to be `issuer` (RFC 9207): a callback without one is
    /// refused. Use it when the server's metadata says
    /// `authorization_response_iss_parameter_supported`.
    pub fn expected_issuer(mut self, issuer: &str) -> Self {
        self.issuer = Some((issuer.to_owned(), IssuerCheck::Required));
        self
    }

    /// Checks the callback's `iss` against `issuer` when the server sends one, and accepts
    /// a callback without it (servers that do not implement RFC 9207).
    pub fn expected_issuer_if_present(mut self, issuer: &str) -> Self {
        self.issuer = Some((issuer.to_owned(), IssuerCheck::IfPresent));
        self
    }

    /// Adds an OpenID Connect `nonce`.
    pub fn oidc_nonce(mut self) -> Self {
        self.oidc_nonce = true;
        self
    }

    /// Asks the user to have authenticated within `max_age` (OpenID Connect Core §3.1.2.1,
    /// whole seconds). The ID token must then carry an `auth_time` that recent:
    /// [`Provider::exchange`](crate::Provider::exchange) checks it, from the grant's
    /// [`max_age`](AuthorizationCodeGrant::max_age).
    ///
    /// ```
    /// use std::time::Duration;
    /// use hearth_pkce::AuthorizationRequest;
    ///
    /// let (url, pending) = AuthorizationRequest::new("https://id.example/auth", "app", "http://127.0.0.1:9/cb")
    ///     .scope("openid").oidc_nonce().max_age(Duration::from_secs(300)).build()?;
    /// assert!(url.contains("&max_age=300"));
    /// # Ok::<(), hearth_pkce::Error>(())
    /// ```
    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(Duration::from_secs(max_age.as_secs()));
        self
    }

    /// Binds the authorization code to a DPoP key (RFC 9449 §10): `thumbprint` is the
    /// key's JWK thumbprint (`DpopKey::thumbprint`, feature `oidc`).
    /// `Provider::authorization_request` sets it for a provider with a DPoP key;
    /// `dpop_jkt` given through [`param`](Self::param) is [`Error::DuplicateParameter`].
    ///
    /// ```
    /// use hearth_pkce::AuthorizationRequest;
    ///
    /// let (url, _) = AuthorizationRequest::new("https://id.example/auth", "app", "http://127.0.0.1:9/cb")
    ///     .dpop_jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I").build()?;
    /// assert!(url.contains("&dpop_jkt=0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"));
    /// # Ok::<(), hearth_pkce::Error>(())
    /// ```
    pub fn dpop_jkt(mut self, thumbprint: &str) -> Self {
        self.dpop_jkt = Some(thumbprint.to_owned());
        self
    }

    /// Random bytes in the verifier, 32 to 96 (default 32: 43 characters).
    pub fn verifier_bytes(mut self, bytes: usize) -> Self {
        self.verifier_bytes = bytes;
        self
    }

    /// How long the sign-in may take (default [`DEFAULT_TTL`]; at most a day).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl.min(MAX_TTL);
        self
    }

    /// The URL to open, and the pending sign-in.
    pub fn build(self) -> Result<(String, PendingAuthorization), Error> {
        let endpoint: Uri = self.endpoint.parse().map_err(|_| Error::InvalidUrl {
            reason: "the authorization endpoint is not a URL",
        })?;
        if endpoint.scheme_str() != Some("https") && !is_loopback_http(&endpoint) {
            return Err(Error::InvalidUrl {
                reason: "the authorization endpoint must be https (or http to a loopback address)",
            });
        }
        let redirect = RedirectUri::parse(&self.redirect_uri)?;
        if let Some((iss, _)) = &self.issuer
            && (iss.is_empty() || iss.contains(|c: char| c.is_whitespace() || c.is_control()))
        {
            return Err(Error::InvalidUrl {
                reason: "the expected issuer must be a URL without white space",
            });
        }
        const RESERVED: [&str; 12] = [
            "max_age",
            "dpop_jkt",
            "request",
            "request_uri",
            "response_type",
            "client_id",
            "redirect_uri",
            "state",
            "code_challenge",
            "code_challenge_method",
            "nonce",
            "scope",
        ];
        if let Some((name, _)) = self
            .extra
            .iter()
            .find(|(n, _)| RESERVED.contains(&n.as_str()))
        {
            return Err(Error::DuplicateParameter { name: name.clone() });
        }
        // An endpoint that already carries the request's own parameters would send them
        // twice; only the provider's own (`tenant=…`) may come with it.
        let endpoint_query = endpoint.query().unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for (name, _) in form::pairs(endpoint_query) {
            let name = form::decode(name)?;
            if RESERVED.contains(&name.as_str()) || !seen.insert(name.clone()) {
                return Err(Error::DuplicateParameter { name });
            }
        }
        // Nor may one extra parameter be given twice, or repeat one of the endpoint's.
        for (name, _) in &self.extra {
            // RFC 8707 §2: one `resource` per resource server asked for.
            if !seen.insert(name.clone()) && name != "resource" {
                return Err(Error::DuplicateParameter { name: name.clone() });
            }
        }

        let verifier = CodeVerifier::generate_with_len(self.verifier_bytes)?;
        let state = State::generate()?;
        let nonce = if self.oidc_nonce {
            Some(Nonce::generate()?)
        } else {
            None
        };
        let mut query = endpoint_query.to_owned();
        form::append(&mut query, "response_type", "code");
        form::append(&mut query, "client_id", &self.client_id);
        form::append(&mut query, "redirect_uri", &self.redirect_uri);
        if !self.scopes.is_empty() {
            form::append(&mut query, "scope", &self.scopes.join(" "));
        }
        form::append(&mut query, "state", state.expose_secret());
        let challenge = verifier.challenge();
        form::append(&mut query, "code_challenge", challenge.as_str());
        form::append(&mut query, "code_challenge_method", challenge.method());
        if let Some(n) = &nonce {
            form::append(&mut query, "nonce", n.expose_secret());
        }
        if let Some(max_age) = self.max_age {
            form::append(&mut query, "max_age", &max_age.as_secs().to_string());
        }
        if let Some(jkt) = &self.dpop_jkt {
            form::append(&mut query, "dpop_jkt", jkt);
        }
        for (k, v) in &self.extra {
            form::append(&mut query, k, v);
        }
        let base = self.endpoint.split(['?', '#']).next().unwrap_or_default();
        let url = format!("{base}?{query}");
        let pending = PendingAuthorization {
            state,
            verifier,
            nonce,
            max_age: self.max_age,
            redirect,
            issuer: self.issuer,
            deadline: SystemTime::now() + self.ttl,
        };
        Ok((url, pending))
    }
}

fn is_loopback_http(u: &Uri) -> bool {
    u.scheme_str() == Some("http")
        && u.host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<std::net::IpAddr>().ok())
            .is_some_and(|ip| ip.is_loopback())
}

/// How the callback's `iss` parameter (RFC 9207) is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum IssuerCheck {
    /// `iss` must be present and equal the expected issuer.
    Required,
    /// `iss`, when present, must equal the expected issuer.
    IfPresent,
}

/// A sign-in waiting for its callback: single use (`complete` consumes it), not `Clone`,
/// secrets zeroized on drop, with a deadline.
pub struct PendingAuthorization {
    state: State,
    verifier: CodeVerifier,
    nonce: Option<Nonce>,
    max_age: Option<Duration>,
    redirect: RedirectUri,
    issuer: Option<(String, IssuerCheck)>,
    deadline: SystemTime,
}

impl std::fmt::Debug for PendingAuthorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingAuthorization")
            .field("redirect_uri", &self.redirect.as_str())
            .field("issuer", &self.issuer)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// What a successful callback yields: everything the token request needs.
#[derive(Debug)]
pub struct AuthorizationCodeGrant {
    /// The authorization code.
    pub code: AuthorizationCode,
    /// The verifier to send with it.
    pub verifier: CodeVerifier,
    /// The redirect URI to repeat in the token request.
    pub redirect_uri: String,
    /// The OpenID Connect nonce, to compare with the ID token.
    pub nonce: Option<Nonce>,
    /// The `max_age` the request asked for: the ID token's `auth_time` must be this
    /// recent.
    pub max_age: Option<Duration>,
}

impl PendingAuthorization {
    /// Checks the callback URL (a deep link's, or the loopback request's) and, if it is
    /// this sign-in's, yields the code: [`Callback::parse`], then
    /// [`complete_callback`](Self::complete_callback).
    pub fn complete(self, callback_url: &str) -> Result<AuthorizationCodeGrant, Error> {
        self.complete_callback(Callback::parse(callback_url)?)
    }

    /// Checks `callback` and, if it is this sign-in's, yields the code. In this order: not
    /// expired; the exact redirect URI (scheme, host, port, path); `state` in constant
    /// time, **before** looking at `error` (so a forged `error=` callback cannot end a
    /// sign-in); then `error` as [`Error::Denied`]; then `iss` (RFC 9207) as configured;
    /// then `code`.
    pub fn complete_callback(self, callback: Callback) -> Result<AuthorizationCodeGrant, Error> {
        self.check_at(callback, SystemTime::now())
    }

    /// Whether `callback` is for this sign-in: not expired, on its redirect URI, with its
    /// state. Only such a callback should consume it: a deep-link handler calls this first
    /// and ignores a callback it refuses (any app or web page can open a private-use URL,
    /// forged `state` and all), so a forgery cannot end the sign-in.
    ///
    /// ```
    /// use hearth_pkce::{AuthorizationRequest, Callback};
    ///
    /// let (_, pending) = AuthorizationRequest::new("https://as.example/authorize", "c", "com.example.app:/cb").build()?;
    /// let forged = Callback::parse("com.example.app:/cb?error=access_denied&state=forged")?;
    /// assert!(!pending.accepts(&forged)); // ignored; `pending` still waits for the real one
    /// # Ok::<(), hearth_pkce::Error>(())
    /// ```
    #[must_use]
    pub fn accepts(&self, callback: &Callback) -> bool {
        SystemTime::now() <= self.deadline
            && self.redirect.matches(&callback.target)
            && callback
                .state
                .as_deref()
                .is_some_and(|s| self.state.verify(s))
    }

    fn check_at(
        self,
        callback: Callback,
        now: SystemTime,
    ) -> Result<AuthorizationCodeGrant, Error> {
        if now > self.deadline {
            return Err(Error::Expired);
        }
        if !self.redirect.matches(&callback.target) {
            return Err(Error::RedirectMismatch);
        }
        let state = callback.state.as_deref().ok_or(Error::MissingState)?;
        if !self.state.verify(state) {
            return Err(Error::StateMismatch);
        }
        if let Some(error) = callback.error {
            return Err(Error::Denied {
                error,
                description: callback.error_description,
            });
        }
        if let Some((expected, check)) = &self.issuer {
            let got = callback.iss.as_deref();
            let ok = match (got, check) {
                (Some(got), _) => got == expected,
                (None, IssuerCheck::IfPresent) => true,
                (None, IssuerCheck::Required) => false,
            };
            if !ok {
                return Err(Error::IssuerMismatch {
                    expected: expected.clone(),
                    got: got.map(|g| g.chars().filter(|c| !c.is_control()).take(256).collect()),
                });
            }
        }
        let code: AuthorizationCode = callback.code.ok_or(Error::MissingCode)?;
        Ok(AuthorizationCodeGrant {
            code,
            verifier: self.verifier,
            redirect_uri: self.redirect.as_str().to_owned(),
            nonce: self.nonce,
            max_age: self.max_age,
        })
    }

    /// The redirect URI this sign-in waits on.
    #[must_use]
    pub fn redirect_uri(&self) -> &str {
        self.redirect.as_str()
    }

    /// When it expires.
    #[must_use]
    pub fn deadline(&self) -> SystemTime {
        self.deadline
    }

    /// Whether its deadline has passed.
    #[must_use]
    pub fn is_expired(&self) -> bool {
        SystemTime::now() > self.deadline
    }

    /// Serializes the pending sign-in (an Android process may die while the browser is
    /// open). The result holds the verifier and state: encrypt it (e.g. store it in the
    /// vault) before it touches disk.
    ///
    /// ```
    /// use hearth_pkce::{AuthorizationRequest, PendingAuthorization};
    ///
    /// let (_, pending) = AuthorizationRequest::new("https://as.example/authorize", "c", "http://127.0.0.1:1/cb").build()?;
    /// let saved = pending.save();
    /// let restored = PendingAuthorization::restore(&saved)?;
    /// assert_eq!(restored.redirect_uri(), "http://127.0.0.1:1/cb");
    /// # Ok::<(), hearth_pkce::Error>(())
    /// ```
    #[must_use]
    pub fn save(&self) -> SecretBytes {
        let secs = self
            .deadline
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let (issuer, check) = match &self.issuer {
            Some((iss, IssuerCheck::Required)) => (iss.as_str(), "required"),
            Some((iss, IssuerCheck::IfPresent)) => (iss.as_str(), "if-present"),
            None => ("", "off"),
        };
        let max_age = self
            .max_age
            .map_or(String::new(), |m| m.as_secs().to_string());
        let text = format!(
            "hearth-pending-v3\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
            self.state.expose_secret(),
            self.verifier.expose_secret(),
            self.nonce.as_ref().map_or("", |n| n.expose_secret()),
            self.redirect,
            issuer,
            check,
            secs,
            max_age
        );
        SecretBytes::new(text.into_bytes())
    }

    /// Restores what [`save`](Self::save) produced (this version's, or versions 1 and 2's).
    pub fn restore(saved: &SecretBytes) -> Result<Self, Error> {
        let text = std::str::from_utf8(saved.expose_secret()).map_err(|_| Error::MalformedSaved)?;
        let lines: Vec<&str> = text.split('\n').collect();
        let (state, verifier, nonce, redirect, issuer, check, secs, max_age) = match lines[..] {
            [
                "hearth-pending-v3",
                state,
                verifier,
                nonce,
                redirect,
                issuer,
                check,
                secs,
                max_age,
                "",
            ] => (
                state, verifier, nonce, redirect, issuer, check, secs, max_age,
            ),
            [
                "hearth-pending-v2",
                state,
                verifier,
                nonce,
                redirect,
                issuer,
                check,
                secs,
                "",
            ] => (state, verifier, nonce, redirect, issuer, check, secs, ""),
            [
                "hearth-pending-v1",
                state,
                verifier,
                nonce,
                redirect,
                issuer,
                secs,
                "",
            ] => (
                state, verifier, nonce, redirect, issuer, "required", secs, "",
            ),
            _ => return Err(Error::MalformedSaved),
        };
        if state.len() < 22 {
            return Err(Error::MalformedSaved);
        }
        let check = match (issuer.is_empty(), check) {
            (true, "off" | "required") => None,
            (false, "required") => Some(IssuerCheck::Required),
            (false, "if-present") => Some(IssuerCheck::IfPresent),
            _ => return Err(Error::MalformedSaved),
        };
        let secs: u64 = secs.parse().map_err(|_| Error::MalformedSaved)?;
        let max_age = match max_age {
            "" => None,
            m => Some(Duration::from_secs(
                m.parse().map_err(|_| Error::MalformedSaved)?,
            )),
        };
        Ok(Self {
            state: State::from_saved(state),
            verifier: CodeVerifier::parse(verifier).map_err(|_| Error::MalformedSaved)?,
            nonce: (!nonce.is_empty()).then(|| Nonce::from_saved(nonce)),
            max_age,
            redirect: RedirectUri::parse(redirect).map_err(|_| Error::MalformedSaved)?,
            issuer: check.map(|c| (issuer.to_owned(), c)),
            deadline: UNIX_EPOCH
                .checked_add(Duration::from_secs(secs))
                .ok_or(Error::MalformedSaved)?,
        })
    }
}

#[cfg(test)]
mod tests;
