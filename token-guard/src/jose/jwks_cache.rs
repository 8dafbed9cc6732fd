//! [`JwksCache`]: an issuer's keys, fetched once, kept while fresh, and fetched again at
//! most once per interval when a token names a key the set does not hold (a rotation).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::{Algorithm, JwkSet, Verified, verify_jws};
use crate::Error;

/// Where a JWKS comes from: an issuer's `jwks_uri`, a file, a test.
///
/// Two kinds of source:
///
/// - **Fetched on demand** ([`revision`](Self::revision) is `None`, the default): the
///   cache calls `fetch` on the first verification, when the keys' `max-age` has passed,
///   and when a token names an unknown key, at most once per
///   [`JwksCache::min_refetch`]. `fetch` runs on the verifying thread, so it must be
///   quick (a file, memory).
/// - **Kept fresh by the source** (`revision` is `Some`): a source that refreshes in the
///   background (the HTTPS source in `hearth-net-policy`, feature `issuer`) numbers its
///   documents. The cache takes each new revision at its next use with `fetch` (which
///   then returns at once), never asks for freshness itself, and calls
///   [`refresh`](Self::refresh) only for an unknown key id (at most once per interval).
pub trait JwksSource: Send + Sync {
    /// The JWKS document, how long it may be kept, and (a self-refreshing source) its
    /// revision.
    fn fetch(&self) -> Result<JwksDocument, Error>;

    /// A fresh copy, because a token names a key the cache lacks (a rotation, or a
    /// made-up key id); the cache asks at most once per [`JwksCache::min_refetch`]. A
    /// self-refreshing source fetches now and may wait a bounded time for the result;
    /// the default is [`fetch`](Self::fetch).
    fn refresh(&self) -> Result<JwksDocument, Error> {
        self.fetch()
    }

    /// The number of the source's current document, for a source that keeps it fresh by
    /// itself; `None` (the default) for one fetched on demand.
    fn revision(&self) -> Option<u64> {
        None
    }
}

/// What a [`JwksSource`] hands the cache: the JWKS, how long it may be kept
/// (`Cache-Control: max-age`; an hour when `None`), and the source's revision of it.
///
/// ```
/// use std::time::Duration;
/// use hearth_token_guard::jose::JwksDocument;
///
/// let doc = JwksDocument::new(br#"{"keys":[]}"#.to_vec()).with_max_age(Duration::from_secs(300));
/// assert_eq!(doc.max_age, Some(Duration::from_secs(300)));
/// assert_eq!(doc.revision, None);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JwksDocument {
    /// The JWKS, as JSON.
    pub body: Vec<u8>,
    /// How long it may be kept.
    pub max_age: Option<Duration>,
    /// The revision it is, for a source that keeps itself fresh
    /// ([`JwksSource::revision`]).
    pub revision: Option<u64>,
}

impl JwksDocument {
    /// `body`, with no `max-age` and no revision.
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            max_age: None,
            revision: None,
        }
    }

    /// The same document, kept for `max_age`.
    #[must_use]
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The same document, as the source's revision `revision`.
    #[must_use]
    pub fn with_revision(mut self, revision: u64) -> Self {
        self.revision = Some(revision);
        self
    }
}

// Not derived: a document from a file may hold private keys; only its size is shown.
impl std::fmt::Debug for JwksDocument {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksDocument")
            .field("body_len", &self.body.len())
            .field("max_age", &self.max_age)
            .field("revision", &self.revision)
            .finish()
    }
}

/// An issuer's signing keys, cached.
///
/// - Fetched on first use, kept for the `max-age` the source reports (an hour without
///   one), then fetched again; if that fetch fails the old keys stay in use (an issuer
///   being down must not stop every token), and the next try waits for the interval.
/// - A token with an unknown `kid` triggers one refetch, at most once per
///   [`min_refetch`](Self::min_refetch) (default 60 s): a key rotation is picked up at
///   once, and a flood of tokens with made-up key ids costs one fetch a minute.
/// - A fetch runs outside the cache's lock: while one is under way, other verifications
///   use the keys at hand instead of waiting for it.
///
/// ```
/// use std::time::Duration;
/// use hearth_token_guard::jose::{JwksCache, JwksDocument, JwksSource};
///
/// struct Fixed;
/// impl JwksSource for Fixed {
///     fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
///         Ok(JwksDocument::new(br#"{"keys":[]}"#.to_vec()).with_max_age(Duration::from_secs(300)))
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
    /// When the keys stop being fresh (sources fetched on demand).
    fresh_until: Option<Instant>,
    /// When the last fetch the interval limits was tried (whatever its outcome).
    tried: Option<Instant>,
    /// The source's revision the keys came from (sources that keep themselves fresh).
    revision: Option<u64>,
    /// A fetch is under way on some thread.
    fetching: bool,
    fetches: u64,
}

/// Why the cache goes to its source.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Need {
    /// No keys yet, or they are stale.
    Fresh,
    /// A self-refreshing source has a new revision: taking it costs nothing.
    NewRevision,
    /// A token names a key the set lacks.
    UnknownKey,
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

    /// How many times the source was asked for its document: a diagnostic.
    pub fn fetches(&self) -> u64 {
        self.lock().fetches
    }

    /// The current keys, fetched if there are none yet or they are stale.
    pub fn keys(&self) -> Result<Arc<JwkSet>, Error> {
        let need = {
            let state = self.lock();
            match self.source.revision() {
                Some(r) if state.revision != Some(r) => Some(Need::NewRevision),
                // That revision's document did not parse: try again after the interval.
                Some(_) => (state.keys.is_none() && self.may_fetch(&state)).then_some(Need::Fresh),
                None => {
                    let stale = state.fresh_until.is_none_or(|t| Instant::now() >= t);
                    (stale && self.may_fetch(&state)).then_some(Need::Fresh)
                }
            }
        };
        if let Some(need) = need {
            // A failed refresh keeps the old keys; with none, it is the error.
            if let Err(e) = self.refresh(need)
                && self.lock().keys.is_none()
            {
                return Err(e);
            }
        }
        // No keys, and the last failed fetch too recent to try again.
        self.lock().keys.clone().ok_or(Error::InvalidJose {
            reason: "the issuer's keys could not be fetched (retried once per refetch interval)",
        })
    }

    /// Verifies `token` against the cached keys ([`verify_jws`]); a token naming a key
    /// the set lacks triggers one refetch (if the interval allows) and a second try.
    pub fn verify(&self, token: &str, allowed: &[Algorithm]) -> Result<Verified, Error> {
        let keys = self.keys()?;
        match verify_jws(token, &keys, allowed) {
            Err(Error::UnknownSigningKey) => {
                self.refresh(Need::UnknownKey)?;
                match self.lock().keys.clone() {
                    Some(fresh) if !Arc::ptr_eq(&fresh, &keys) => {
                        verify_jws(token, &fresh, allowed)
                    }
                    _ => Err(Error::UnknownSigningKey),
                }
            }
            other => other,
        }
    }

    fn may_fetch(&self, state: &State) -> bool {
        state.tried.is_none_or(|t| t.elapsed() >= self.min_refetch)
    }

    /// Asks the source for its document, outside the lock; one fetch at a time (a
    /// verification that finds one under way uses the keys at hand).
    fn refresh(&self, need: Need) -> Result<(), Error> {
        {
            let mut state = self.lock();
            if state.fetching
                || (need == Need::UnknownKey && !self.may_fetch(&state))
                // Another verification took this revision since the caller looked.
                || (need == Need::NewRevision && self.source.revision() == state.revision)
            {
                return Ok(());
            }
            state.fetching = true;
            state.fetches += 1;
            if need != Need::NewRevision {
                state.tried = Some(Instant::now());
            }
        }
        // A source that fails says nothing of its revision: the one before the call.
        let before = self.source.revision();
        // Cleared however the fetch ends, a panic included, so fetching never stops.
        let fetching = Fetching(self);
        let document = match need {
            Need::UnknownKey => self.source.refresh(),
            Need::Fresh | Need::NewRevision => self.source.fetch(),
        };
        let fetched = document.and_then(|doc| {
            let keys = JwkSet::from_json(&doc.body)?;
            Ok((keys, doc.max_age, doc.revision))
        });
        drop(fetching);
        let mut state = self.lock();
        match fetched {
            Ok((keys, max_age, revision)) => {
                state.keys = Some(Arc::new(keys));
                let max_age = max_age.unwrap_or(DEFAULT_MAX_AGE);
                // A max-age too far out for the clock means: until the next restart.
                state.fresh_until = Instant::now().checked_add(max_age);
                if state.fresh_until.is_none() {
                    state.fresh_until = Instant::now().checked_add(Duration::from_secs(1 << 31));
                }
                state.revision = revision.or(before);
                Ok(())
            }
            Err(e) => {
                let revision = before;
                // A failure waits for the interval before the next try, and a revision
                // whose document is broken is not taken again.
                state.tried = Some(Instant::now());
                state.revision = revision;
                Err(e)
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Clears the cache's `fetching` flag when dropped.
struct Fetching<'a>(&'a JwksCache);

impl Drop for Fetching<'_> {
    fn drop(&mut self) {
        self.0.lock().fetching = false;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A source that keeps itself fresh: `docs[revision]` is its document.
    struct Background {
        revision: AtomicU64,
        docs: Vec<&'static str>,
        fetched: AtomicU64,
    }

    impl JwksSource for &'static Background {
        fn fetch(&self) -> Result<JwksDocument, Error> {
            self.fetched.fetch_add(1, Ordering::SeqCst);
            let r = self.revision.load(Ordering::SeqCst);
            let doc = self.docs[usize::try_from(r).unwrap_or(0)];
            Ok(JwksDocument::new(doc.as_bytes()).with_revision(r))
        }
        fn revision(&self) -> Option<u64> {
            Some(self.revision.load(Ordering::SeqCst))
        }
    }

    const EMPTY: &str = r#"{"keys":[]}"#;
    const ONE: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

    fn background(docs: Vec<&'static str>) -> &'static Background {
        Box::leak(Box::new(Background {
            revision: AtomicU64::new(0),
            docs,
            fetched: AtomicU64::new(0),
        }))
    }

    #[test]
    fn a_new_revision_is_taken_at_once_and_an_unchanged_one_costs_nothing() {
        let source = background(vec![EMPTY, ONE]);
        let cache = JwksCache::new(source);
        assert!(cache.keys().unwrap().keys().is_empty());
        for _ in 0..10 {
            cache.keys().unwrap();
        }
        assert_eq!(
            source.fetched.load(Ordering::SeqCst),
            1,
            "no refetch while unchanged"
        );
        source.revision.store(1, Ordering::SeqCst);
        assert_eq!(
            cache.keys().unwrap().keys().len(),
            1,
            "inside the refetch interval"
        );
        assert_eq!(source.fetched.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_broken_revision_keeps_the_old_keys_and_is_not_parsed_again() {
        let source = background(vec![ONE, "{not json"]);
        let cache = JwksCache::new(source);
        assert_eq!(cache.keys().unwrap().keys().len(), 1);
        source.revision.store(1, Ordering::SeqCst);
        for _ in 0..10 {
            assert_eq!(cache.keys().unwrap().keys().len(), 1);
        }
        assert_eq!(source.fetched.load(Ordering::SeqCst), 2);
    }

    struct PanicsOnce(AtomicU64);

    impl JwksSource for PanicsOnce {
        fn fetch(&self) -> Result<JwksDocument, Error> {
            assert!(
                self.0.fetch_add(1, Ordering::SeqCst) > 0,
                "a source that panics"
            );
            Ok(JwksDocument::new(ONE.as_bytes()))
        }
    }

    #[test]
    fn a_fetch_that_panics_does_not_stop_later_fetches() {
        let cache = JwksCache::new(PanicsOnce(AtomicU64::new(0))).min_refetch(Duration::ZERO);
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cache.keys()));
        assert!(caught.is_err());
        assert_eq!(cache.keys().unwrap().keys().len(), 1);
    }

    #[test]
    fn an_unknown_key_asks_once_per_interval() {
        let source = background(vec![EMPTY]);
        let cache = JwksCache::new(source);
        let token = "eyJhbGciOiJFZERTQSIsImtpZCI6InoifQ.e30.c2ln";
        for _ in 0..5 {
            assert!(matches!(
                cache.verify(token, &Algorithm::ALL),
                Err(Error::UnknownSigningKey)
            ));
        }
        // The first load, then one refetch for the unknown key: the interval holds the rest.
        assert_eq!(source.fetched.load(Ordering::SeqCst), 2);
    }
}
