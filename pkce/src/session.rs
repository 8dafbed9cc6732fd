//! [`Session`]: one signed-in session's tokens, refreshed at most once at a time, by a task
//! that always finishes and stores what the server sent, with an optional persistence hook.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hearth_token_guard::AccessToken;
use tokio::sync::watch;

use crate::{Error, TokenClient, TokenSet};

/// How long the persistence hook may take before the refresh reports [`Error::Persist`]
/// (the new tokens are kept in memory either way).
const PERSIST_TIMEOUT: Duration = Duration::from_secs(30);

/// Saves a session's tokens where the next run (or another process) finds them. Called
/// with the whole new set after every refresh and [`Session::replace`], **before** the new
/// tokens are handed out, one save at a time. It runs in a task of its own (a panic is an
/// [`Error::Persist`]) and is bounded to 30 s. If it fails, the session keeps the new
/// tokens in memory (the old refresh token may be spent), reports the error, and saves
/// again on the next [`Session::fresh_tokens`] or [`Session::refresh`].
///
/// [`StoredTokens`](crate::StoredTokens) (feature `storage`) keeps them in a
/// hearth-secure-storage store.
#[async_trait::async_trait]
pub trait PersistTokens: Send + Sync {
    /// Stores `tokens`, replacing whatever was stored (fields they lack are gone).
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error>;

    /// Removes the stored tokens: the provider ended the sign-in
    /// ([`Error::SignInRevoked`]), so nothing stored can be used again. Removing tokens
    /// that are not there is success.
    async fn clear(&self) -> Result<(), Error>;
}

/// A shared hook is a hook (keep an `Arc` to look at what it stored).
#[async_trait::async_trait]
impl<T: PersistTokens + ?Sized> PersistTokens for Arc<T> {
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        (**self).save(tokens).await
    }

    async fn clear(&self) -> Result<(), Error> {
        (**self).clear().await
    }
}

/// One session's tokens, refreshed at most once at a time.
///
/// - When several tasks find the access token expired together, one refresh request is
///   made and every one of them gets its outcome, success or the same error; a rotating
///   refresh token is never spent twice.
/// - The refresh runs in a task of its own: a caller that gives up (cancelled, timed
///   out) does not lose the rotated token, which is stored (and persisted) all the same.
/// - A refusal that retrying cannot fix is kept: every later call gets it without sending
///   the spent token again, until [`replace`](Self::replace) installs a new sign-in.
///   Retryable failures (network, 5xx) are tried again by the next call.
/// - When the provider ends the sign-in (`invalid_grant`: the refresh token was spent,
///   e.g. replayed after a rotation, or revoked), the stored tokens are removed through
///   [`PersistTokens::clear`] before [`Error::SignInRevoked`] is returned; if removing
///   them fails, the error is [`Error::Persist`] (and the next call tries again).
/// - [`fresh_tokens`](Self::fresh_tokens) refreshes ahead of expiry (skew 60 s by default,
///   like AppAuth's `performActionWithFreshTokens`).
///
/// Cloning shares the session. Must be used inside a tokio runtime.
///
/// ```no_run
/// use hearth_pkce::{Session, TokenClient, TokenSet};
///
/// # async fn demo(client: TokenClient, tokens: TokenSet) -> Result<(), hearth_pkce::Error> {
/// let session = Session::new(client, tokens);
/// let tokens = session.fresh_tokens().await?; // refreshed if it expires within 60 s
/// println!("{:?}", tokens.access_token); // [REDACTED]
/// # Ok(()) }
/// ```
/// Configure it before cloning: the settings are per handle.
#[derive(Clone)]
pub struct Session {
    inner: Arc<Inner>,
    skew: Duration,
    scope: Option<Arc<str>>,
    persist: Option<Arc<dyn PersistTokens>>,
}

struct Inner {
    client: TokenClient,
    /// Checks each refreshed ID token (OpenID Connect Core §12.2).
    #[cfg(feature = "oidc")]
    provider: Option<crate::Provider>,
    state: Mutex<State>,
    /// Held across "persist, then commit", so saves never interleave: the last set
    /// stored is the last set committed.
    saving: tokio::sync::Mutex<()>,
}

struct State {
    tokens: TokenSet,
    /// Bumped whenever `tokens` is replaced.
    generation: u64,
    /// The refresh in flight, if any: its outcome arrives here.
    refreshing: Option<watch::Receiver<Option<Result<TokenSet, Error>>>>,
    /// A refusal of the current refresh token that retrying cannot fix.
    refused: Option<Error>,
    /// The current tokens' save failed: saved again before the next refresh.
    unsaved: bool,
    /// The sign-in's validated ID token claims, updated by each refresh that sends one.
    #[cfg(feature = "oidc")]
    claims: Option<crate::IdTokenClaims>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("skew", &self.skew)
            .field("scope", &self.scope)
            .field("persist", &self.persist.is_some())
            .finish_non_exhaustive()
    }
}

impl Session {
    /// A session starting from `tokens`.
    ///
    /// Nothing here can check an ID token, so one that a refresh brings is dropped (the
    /// one in `tokens` is kept as given): use [`for_provider`](Self::for_provider) for
    /// refreshed ID tokens that are validated and kept.
    #[must_use]
    pub fn new(client: TokenClient, tokens: TokenSet) -> Self {
        Self::with_inner(Inner::new(client, tokens))
    }

    fn with_inner(inner: Inner) -> Self {
        Self {
            inner: Arc::new(inner),
            skew: Duration::from_secs(60),
            scope: None,
            persist: None,
        }
    }

    /// A session of a sign-in at `provider` (feature `oidc`): refreshed with its token
    /// client (and DPoP key), and every ID token a refresh brings validated like the
    /// sign-in's and checked to be the same sign-in's (OpenID Connect Core §12.2: `iss`,
    /// `sub`, `aud`, `azp`, `auth_time`; [`Provider::refresh`](crate::Provider::refresh)).
    /// Another sign-in's ends the session as a revocation does: the stored tokens are
    /// cleared and every later call gets the [`Error::IdTokenChanged`]. One that cannot be
    /// checked now (the keys out of reach) or is invalid is dropped, neither believed nor
    /// stored, and the rest of the set (a rotated refresh token) is kept. A sign-in
    /// without claims (no ID token) has nothing to compare with: every refreshed ID token
    /// is dropped.
    ///
    /// ```no_run
    /// # async fn demo(provider: hearth_pkce::Provider, grant: hearth_pkce::AuthorizationCodeGrant)
    /// # -> Result<(), hearth_pkce::Error> {
    /// let sign_in = provider.exchange(grant).await?;
    /// let session = hearth_pkce::Session::for_provider(&provider, sign_in);
    /// let user = session.claims().map(|c| c.sub);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "oidc")]
    #[must_use]
    pub fn for_provider(provider: &crate::Provider, sign_in: crate::SignIn) -> Self {
        let mut inner = Inner::new(provider.token_client().clone(), sign_in.tokens);
        inner.provider = Some(provider.clone());
        inner
            .state
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .claims = sign_in.claims;
        Self::with_inner(inner)
    }

    /// The validated ID token claims of a [`for_provider`](Self::for_provider) session:
    /// the sign-in's, then each refresh's (feature `oidc`).
    #[cfg(feature = "oidc")]
    #[must_use]
    pub fn claims(&self) -> Option<crate::IdTokenClaims> {
        self.inner.lock().claims.clone()
    }

    /// Saves every new token set through `persist` before handing it out.
    #[must_use]
    pub fn with_persistence(mut self, persist: impl PersistTokens + 'static) -> Self {
        self.persist = Some(Arc::new(persist));
        self
    }

    /// Refreshes in [`fresh_tokens`](Self::fresh_tokens) when the access token expires
    /// within `skew` (default 60 s).
    #[must_use]
    pub fn with_refresh_skew(mut self, skew: Duration) -> Self {
        self.skew = skew;
        self
    }

    /// Asks for `scope` on every refresh (RFC 6749 §6; at most what was granted).
    #[must_use]
    pub fn with_scope(mut self, scope: &str) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// The current tokens (even after [`Error::SignInRevoked`]: use
    /// [`fresh_tokens`](Self::fresh_tokens), which refuses them then).
    #[must_use]
    pub fn tokens(&self) -> TokenSet {
        self.inner.lock().tokens.clone()
    }

    /// The current access token.
    #[must_use]
    pub fn access_token(&self) -> AccessToken {
        self.inner.lock().tokens.access_token.clone()
    }

    /// The tokens, refreshed first if the access token expires within the skew.
    pub async fn fresh_tokens(&self) -> Result<TokenSet, Error> {
        self.save_if_unsaved().await?;
        let generation = {
            let state = self.inner.lock();
            // A sign-in the provider ended is over, however long its access token had
            // left: the tokens are not handed out again.
            if let Some(refused) = state.refused.as_ref().filter(|e| ends_sign_in(e)) {
                return Err(refused.clone());
            }
            if !state.tokens.expires_within(self.skew) {
                return Ok(state.tokens.clone());
            }
            state.generation
        };
        self.refresh_generation(generation).await
    }

    /// Refreshes unless another task already replaced `stale` (the access token the caller
    /// found rejected, e.g. by a 401), and returns the current access token.
    pub async fn refresh(&self, stale: &AccessToken) -> Result<AccessToken, Error> {
        self.save_if_unsaved().await?;
        let generation = {
            let state = self.inner.lock();
            if let Some(refused) = state.refused.as_ref().filter(|e| ends_sign_in(e)) {
                return Err(refused.clone());
            }
            if state.tokens.access_token != *stale {
                return Ok(state.tokens.access_token.clone());
            }
            state.generation
        };
        Ok(self.refresh_generation(generation).await?.access_token)
    }

    /// Installs the tokens of a new sign-in: persisted first (the whole set, so fields it
    /// lacks are gone), then used; a refresh still in flight for the old tokens no longer
    /// replaces them, and a kept refusal is forgotten, and so are the kept ID token claims.
    ///
    /// Bare tokens carry no validated claims: until the session has some again
    /// (`replace_sign_in`, feature `oidc`), a refreshed ID token is dropped.
    pub async fn replace(&self, tokens: TokenSet) -> Result<(), Error> {
        self.install(
            tokens,
            #[cfg(feature = "oidc")]
            None,
        )
        .await
    }

    /// [`replace`](Self::replace) with a new sign-in at the session's provider (feature
    /// `oidc`): its validated claims become the ones each refreshed ID token must match.
    ///
    /// ```no_run
    /// # async fn demo(provider: hearth_pkce::Provider, session: hearth_pkce::Session,
    /// #     grant: hearth_pkce::AuthorizationCodeGrant) -> Result<(), hearth_pkce::Error> {
    /// let sign_in = provider.exchange(grant).await?;
    /// session.replace_sign_in(sign_in).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// Claims from another issuer than the session's provider are
    /// [`Error::InvalidIdToken`], and nothing is installed.
    #[cfg(feature = "oidc")]
    pub async fn replace_sign_in(&self, sign_in: crate::SignIn) -> Result<(), Error> {
        if let (Some(provider), Some(claims)) = (&self.inner.provider, &sign_in.claims)
            && claims.iss != provider.metadata().issuer()
        {
            return Err(Error::InvalidIdToken {
                reason: "the sign-in is another issuer's than the session's provider",
            });
        }
        self.install(sign_in.tokens, sign_in.claims).await
    }

    async fn install(
        &self,
        tokens: TokenSet,
        #[cfg(feature = "oidc")] claims: Option<crate::IdTokenClaims>,
    ) -> Result<(), Error> {
        let _saving = self.inner.saving.lock().await;
        if let Some(p) = &self.persist {
            persist(Arc::clone(p), tokens.clone()).await?;
        }
        let mut state = self.inner.lock();
        state.tokens = tokens;
        state.generation += 1;
        state.refreshing = None;
        state.refused = None;
        state.unsaved = false;
        #[cfg(feature = "oidc")]
        {
            state.claims = claims;
        }
        Ok(())
    }

    /// Saves the current tokens again if their last save failed.
    async fn save_if_unsaved(&self) -> Result<(), Error> {
        let Some(p) = &self.persist else {
            return Ok(());
        };
        {
            let state = self.inner.lock();
            if !state.unsaved || state.refused.as_ref().is_some_and(ends_sign_in) {
                return Ok(());
            }
        }
        let _saving = self.inner.saving.lock().await;
        let (tokens, generation) = {
            let state = self.inner.lock();
            if !state.unsaved {
                return Ok(());
            }
            (state.tokens.clone(), state.generation)
        };
        persist(Arc::clone(p), tokens).await?;
        let mut state = self.inner.lock();
        if state.generation == generation {
            state.unsaved = false;
        }
        Ok(())
    }

    /// Joins the refresh of `generation`'s tokens, starting it if none is in flight.
    async fn refresh_generation(&self, generation: u64) -> Result<TokenSet, Error> {
        let mut outcome = {
            let mut state = self.inner.lock();
            if state.generation != generation {
                return Ok(state.tokens.clone());
            }
            if let Some(refused) = &state.refused {
                return Err(refused.clone());
            }
            match &state.refreshing {
                // A task that ended without an outcome (it panicked) is replaced.
                Some(rx) if rx.has_changed().is_ok() => rx.clone(),
                _ => {
                    let refresh = state
                        .tokens
                        .refresh_token
                        .clone()
                        .ok_or(Error::NoRefreshToken)?;
                    let (tx, rx) = watch::channel(None);
                    state.refreshing = Some(rx.clone());
                    let inner = Arc::clone(&self.inner);
                    let (scope, persist) = (self.scope.clone(), self.persist.clone());
                    tokio::spawn(async move {
                        let outcome = inner
                            .run_refresh(generation, refresh, scope.as_deref(), persist)
                            .await;
                        let _ = tx.send(Some(outcome));
                    });
                    rx
                }
            }
        };
        let result = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| Error::Persist {
                reason: "the refresh task ended without an outcome".into(),
            })?;
        result.clone().unwrap_or(Err(Error::Cancelled))
    }
}

impl Inner {
    fn new(client: TokenClient, tokens: TokenSet) -> Self {
        Self {
            client,
            #[cfg(feature = "oidc")]
            provider: None,
            state: Mutex::new(State {
                tokens,
                generation: 0,
                refreshing: None,
                refused: None,
                unsaved: false,
                #[cfg(feature = "oidc")]
                claims: None,
            }),
            saving: tokio::sync::Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One refresh request; its result is stored whoever still waits for it.
    async fn run_refresh(
        &self,
        generation: u64,
        refresh: hearth_token_guard::RefreshToken,
        scope: Option<&str>,
        persister: Option<Arc<dyn PersistTokens>>,
    ) -> Result<TokenSet, Error> {
        let result = self.client.refresh_with_scope(&refresh, scope).await;
        let mut set = match result {
            Ok(set) => set,
            Err(e) => return Err(self.refused(generation, e, persister).await),
        };
        // An ID token is believed (and stored) only when it can be tied to the sign-in:
        // with a provider to check it against and the sign-in's claims to compare. The
        // claims are read with the generation: a new sign-in installed meanwhile is not
        // what this refresh's ID token is compared with (its tokens are the answer).
        #[cfg(feature = "oidc")]
        let previous = {
            let state = self.lock();
            if state.generation != generation {
                return Ok(state.tokens.clone());
            }
            state.claims.clone()
        };
        #[cfg(feature = "oidc")]
        let claims = match (&self.provider, previous) {
            (Some(provider), Some(previous)) => {
                match provider.validate_refreshed(&set, &previous) {
                    Ok(claims) => claims,
                    // Another sign-in's: the session is over.
                    Err(e @ Error::IdTokenChanged { .. }) => {
                        return Err(self.refused(generation, e, persister).await);
                    }
                    // Not checkable now (keys out of reach, a rotation in flight) or not
                    // valid: that ID token is neither believed nor stored, and the rest of
                    // the set (a rotated refresh token) is kept.
                    Err(_) => {
                        set.id_token = None;
                        None
                    }
                }
            }
            _ => {
                set.id_token = None;
                None
            }
        };
        #[cfg(not(feature = "oidc"))]
        {
            set.id_token = None;
        }
        let _saving = self.saving.lock().await;
        {
            let state = self.lock();
            // A new sign-in replaced the tokens meanwhile: this refresh belonged to the old
            // one and must not be saved over it.
            if state.generation != generation {
                return Ok(state.tokens.clone());
            }
            // A refresh response may leave out the ID token (OpenID Connect Core §12.2):
            // the one from the sign-in still describes the user.
            if set.id_token.is_none() {
                set.id_token = state.tokens.id_token.clone();
            }
        }
        let persisted = match persister {
            Some(p) => persist(p, set.clone()).await,
            None => Ok(()),
        };
        // Kept whatever persistence said: the old refresh token may be spent now. The
        // generation cannot have moved: `replace` takes the save lock too.
        let mut state = self.lock();
        state.tokens = set.clone();
        state.generation += 1;
        state.refreshing = None;
        state.unsaved = persisted.is_err();
        #[cfg(feature = "oidc")]
        if claims.is_some() {
            state.claims = claims;
        }
        drop(state);
        persisted.map(|()| set)
    }
}

impl Inner {
    /// Records a failed refresh of `generation`'s tokens; when the provider ended the
    /// sign-in, the stored tokens are removed first. Returns the error for the waiters.
    async fn refused(
        &self,
        generation: u64,
        e: Error,
        persister: Option<Arc<dyn PersistTokens>>,
    ) -> Error {
        let revoked = ends_sign_in(&e);
        let cleared = match persister {
            Some(p) if revoked => {
                let _saving = self.saving.lock().await;
                // A new sign-in replaced the tokens meanwhile: what is stored is its.
                if self.lock().generation != generation {
                    Ok(())
                } else {
                    bounded(async move { p.clear().await }, "removing the tokens").await
                }
            }
            _ => Ok(()),
        };
        let mut state = self.lock();
        if state.generation == generation {
            state.refreshing = None;
            // Nothing of an ended sign-in is saved again.
            if revoked && cleared.is_ok() {
                state.unsaved = false;
            }
            // Kept only once the stored tokens are gone: otherwise the next call retries
            // the refresh, is refused again, and tries the removal again.
            if !e.is_retryable() && cleared.is_ok() {
                state.refused = Some(e.clone());
            }
        }
        match cleared {
            Ok(()) => e,
            Err(Error::Persist { reason }) => Error::Persist {
                reason: format!("the provider ended the sign-in, and {reason}"),
            },
            Err(other) => other,
        }
    }
}

/// Whether a refresh's refusal ends the sign-in: the provider revoked it, or a refreshed
/// ID token is another sign-in's. The stored tokens are then removed and never handed out
/// again.
fn ends_sign_in(e: &Error) -> bool {
    matches!(
        e,
        Error::SignInRevoked { .. } | Error::IdTokenChanged { .. }
    )
}

/// `persist.save(tokens)`, bounded and in a task of its own.
async fn persist(persist: Arc<dyn PersistTokens>, tokens: TokenSet) -> Result<(), Error> {
    bounded(
        async move { persist.save(&tokens).await },
        "saving the tokens",
    )
    .await
}

/// A persistence hook's call in a task of its own (a panic in it is an error, not a lost
/// refresh), bounded to [`PERSIST_TIMEOUT`]; `what` names it in the errors.
async fn bounded(
    call: impl std::future::Future<Output = Result<(), Error>> + Send + 'static,
    what: &str,
) -> Result<(), Error> {
    let mut task = tokio::spawn(call);
    match tokio::time::timeout(PERSIST_TIMEOUT, &mut task).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(Error::Persist {
            reason: format!("the persistence hook panicked while {what}"),
        }),
        Err(_) => {
            // Not left to finish later, over a newer save (a write already handed to the
            // OS may still land: its outcome is unknown).
            task.abort();
            Err(Error::Persist {
                reason: format!("{what} took longer than {} s", PERSIST_TIMEOUT.as_secs()),
            })
        }
    }
}
