//! [`JwksCache`]: an issuer's keys, fetched once, kept while fresh, and fetched again at
//! most once per interval when a token names a key the set does not hold (a rotation).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Algorithm, JwkSet, Verified, verify_jws};
use crate::Error;

/// Where a JWKS comes from: an issuer's `jwks_uri`, a file, a test. `fetch` runs on the
/// thread that needs the keys (the first verification, or a refetch after a rotation), at
/// most once per [`JwksCache::min_refetch`] interval, so it must not block an async
/// runtime's threads: a source that goes to the network serves a document that a
/// background task keeps fresh, and `fetch` returns that copy.
pub trait JwksSource: Send + Sync {
    /// The current JWKS document, and how long it may be kept (`Cache-Control: max-age`).
    fn fetch(&self) -> Result<(Vec<u8>, Option<Duration>), Error>;
}

/// An issuer's signing keys, cached.
///
/// - Fetched on first use, kept for the `max-age` the source reports (an hour without
///   one), then fetched again; if that fetch fails the old keys stay in use (an issuer
///   being down must not stop every token), and the next try waits for the interval.
/// - A token with an unknown `kid` triggers one refetch, at most once per
///   [`min_refetch`](Self::min_refetch) (default 60 s): a key rotation is picked up at
///   once, and a flood of tokens with made-up key ids costs one fetch a minute.
///
/// ```
/// use std::time::Duration;
/// use hearth_token_guard::jose::{JwksCache, JwksSource};
///
/// struct Fixed;
/// impl JwksSource for Fixed {
///     fn fetch(&self) -> Result<(Vec<u8>, Option<Duration>), hearth_token_guard::Error> {
///         Ok((br#"{"keys":[]}"#.to_vec(), Some(Duration::from_secs(300))))
///     }
/// }
/// let cache = JwksCache::new(Fixed);
/// assert!(cache.keys()?.keys().is_empty());
/// assert_eq!(cache.fetches(), 1);
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub struct JwksCache {
    source: Box<dyn JwksSource>,
    min_refetch: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    keys: Option<Arc<JwkSet>>,
    /// When the keys stop being fresh.
    fresh_until: Option<Instant>,
    /// When the last fetch was tried (whatever its outcome).
    tried: Option<Instant>,
    fetches: u64,
}

/// How long keys are kept when the source gives no `max-age`.
const DEFAULT_MAX_AGE: Duration = Duration::from_secs(3600);

impl JwksCache {
    /// A cache over `source`; nothing is fetched until the keys are first needed.
    pub fn new(source: impl JwksSource + 'static) -> Self {
        Self {
            source: Box::new(source),
            min_refetch: Duration::from_secs(60),
            state: Mutex::new(State::default()),
        }
    }

    /// The least time between two fetches caused by unknown key ids or failures.
    #[must_use]
    pub fn min_refetch(mut self, interval: Duration) -> Self {
        self.min_refetch = interval;
        self
    }

    /// How many fetches were made: a diagnostic.
    pub fn fetches(&self) -> u64 {
        self.lock().fetches
    }

    /// The current keys, fetched if there are none yet or they are stale.
    pub fn keys(&self) -> Result<Arc<JwkSet>, Error> {
        let mut state = self.lock();
        let stale = state.fresh_until.is_none_or(|t| Instant::now() >= t);
        if stale && self.may_fetch(&state) {
            // A failed refresh keeps the old keys; with none, it is the error.
            if let Err(e) = self.fetch(&mut state)
                && state.keys.is_none()
            {
                return Err(e);
            }
        }
        // No keys, and the last failed fetch too recent to try again.
        state.keys.clone().ok_or(Error::InvalidJose {
            reason: "the issuer's keys could not be fetched (retried at most once a minute)",
        })
    }

    /// Verifies `token` against the cached keys ([`verify_jws`]); a token naming a key
    /// the set lacks triggers one refetch (if the interval allows) and a second try.
    pub fn verify(&self, token: &str, allowed: &[Algorithm]) -> Result<Verified, Error> {
        let keys = self.keys()?;
        match verify_jws(token, &keys, allowed) {
            Err(Error::UnknownSigningKey) => {
                let refreshed = {
                    let mut state = self.lock();
                    if self.may_fetch(&state) {
                        self.fetch(&mut state)?;
                    }
                    state.keys.clone()
                };
                match refreshed {
                    Some(keys) => verify_jws(token, &keys, allowed),
                    None => Err(Error::UnknownSigningKey),
                }
            }
            other => other,
        }
    }

    fn may_fetch(&self, state: &State) -> bool {
        state.tried.is_none_or(|t| t.elapsed() >= self.min_refetch)
    }

    /// Fetches under the lock (concurrent verifications wait for one fetch, not many).
    fn fetch(&self, state: &mut State) -> Result<(), Error> {
        state.tried = Some(Instant::now());
        state.fetches += 1;
        let (body, max_age) = self.source.fetch()?;
        let keys = JwkSet::from_json(&body)?;
        state.keys = Some(Arc::new(keys));
        state.fresh_until = Some(Instant::now() + max_age.unwrap_or(DEFAULT_MAX_AGE));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("JwksCache")
            .field("keys", &state.keys.as_ref().map(|k| k.keys().len()))
            .field("fetches", &state.fetches)
            .field("min_refetch", &self.min_refetch)
            .finish()
    }
}
