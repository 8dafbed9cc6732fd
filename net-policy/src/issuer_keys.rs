//! [`IssuerKeys`]: an issuer's JWKS fetched over HTTPS and kept fresh by a thread of its
//! own, as a [`JwksSource`] for hearth-token-guard's [`JwksCache`](hearth_token_guard::jose::JwksCache).

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hearth_token_guard::jose::{JwkSet, JwksDocument, JwksSource, MAX_JWKS_LEN};
use http::Request;
use http::header::ACCEPT;

use http::StatusCode;

use crate::{Error, HttpsClient, cache_max_age};

/// When [`IssuerKeys`] fetches.
///
/// ```
/// use std::time::Duration;
/// use hearth_net_policy::KeyRefresh;
///
/// let refresh = KeyRefresh { wait: Duration::from_secs(2), ..KeyRefresh::default() };
/// assert_eq!(refresh.shortest, Duration::from_secs(300));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRefresh {
    /// The shortest `max-age` honoured: a `no-cache` JWKS is fetched again after this
    /// (default 5 minutes); also the retry delay after a failed fetch.
    pub shortest: Duration,
    /// The longest time between two fetches, whatever `max-age` says (default 24 h).
    pub longest: Duration,
    /// The least time between two fetches, however often they are asked for (default 1 s).
    pub min_interval: Duration,
    /// How long a verification that met an unknown key id waits for a fresh copy before
    /// it goes on with the keys at hand (default 5 s).
    pub wait: Duration,
}

impl Default for KeyRefresh {
    fn default() -> Self {
        Self {
            shortest: Duration::from_secs(300),
            longest: Duration::from_secs(24 * 3600),
            min_interval: Duration::from_secs(1),
            wait: Duration::from_secs(5),
        }
    }
}

/// An issuer's signing keys (its `jwks_uri`), fetched over HTTPS by a thread of its own:
/// again when `Cache-Control: max-age` runs out (within [`KeyRefresh`]'s bounds), and when
/// a [`JwksCache`](hearth_token_guard::jose::JwksCache) meets an unknown key id (a key
/// rotation), which that cache asks at most once per its refetch interval.
///
/// - A verification never waits for the network, except the one that met an unknown key
///   id on a multi-threaded tokio runtime (or a plain thread): it waits up to
///   [`KeyRefresh::wait`] for the fresh copy, through `block_in_place`, so the runtime's
///   other tasks go on. On a current-thread runtime nothing waits: that token is refused,
///   and the new keys serve the verifications after the fetch.
/// - A fetched document replaces the keys only if it is a valid JWKS with a 200 answer;
///   a failed fetch keeps the keys at hand and is retried after [`KeyRefresh::shortest`].
/// - The fetches go through the client's policy (roots, pins, timeouts), on connections
///   of their own; the body is capped at [`MAX_JWKS_LEN`].
/// - Dropping it stops the thread (after a fetch under way ends).
///
/// ```no_run
/// use hearth_net_policy::{HttpsClient, IssuerKeys, IssuerMetadata, TlsPolicy};
/// use hearth_token_guard::jose::{Algorithm, JwksCache};
///
/// # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
/// let client = HttpsClient::new(&TlsPolicy::new().native_roots().build()?);
/// let meta = IssuerMetadata::discover(&client, "https://id.example/realms/jan").await?;
/// let keys = IssuerKeys::start(&client, meta.jwks_uri().ok_or("no jwks_uri")?).await?;
/// let cache = JwksCache::new(keys);
/// let verified = cache.verify(token, &[Algorithm::RS256])?;
/// # Ok(()) }
/// ```
pub struct IssuerKeys {
    shared: Arc<Shared>,
    uri: String,
    wait: Duration,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a fetch is asked for, when one ends, and on stop.
    signal: Condvar,
}

#[derive(Default)]
struct State {
    /// The current document, a valid JWKS.
    document: Option<Bytes>,
    /// How many different documents there have been.
    revision: u64,
    /// Fetches begun, and fetches ended.
    started: u64,
    ended: u64,
    /// A fetch was asked for.
    wanted: bool,
    stopped: bool,
    last_error: Option<String>,
}

impl IssuerKeys {
    /// Fetches `jwks_uri` once (its error, if it fails, is this call's), then keeps it
    /// fresh with the default [`KeyRefresh`].
    pub async fn start(client: &HttpsClient, jwks_uri: &str) -> Result<Self, Error> {
        Self::start_with(client, jwks_uri, KeyRefresh::default()).await
    }

    /// [`start`](Self::start) with other refresh bounds.
    pub async fn start_with(
        client: &HttpsClient,
        jwks_uri: &str,
        refresh: KeyRefresh,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(Error::KeyRefresh)?;
        // Connections of its own: a pooled connection lives on the runtime that opened it.
        let client = client
            .clone()
            .with_pool(0, Duration::ZERO)
            .with_max_body(MAX_JWKS_LEN);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            signal: Condvar::new(),
        });
        let (first, first_result) = tokio::sync::oneshot::channel();
        let worker = Worker {
            shared: Arc::clone(&shared),
            client,
            uri: jwks_uri.to_owned(),
            refresh,
        };
        std::thread::Builder::new()
            .name("hearth-jwks".into())
            .spawn(move || {
                let shared = Arc::clone(&worker.shared);
                let run = std::panic::AssertUnwindSafe(|| worker.run(&runtime, first));
                if std::panic::catch_unwind(run).is_err() {
                    // Stopped for good: waiters return at once and the keys at hand stay.
                    let mut state = shared.lock();
                    state.stopped = true;
                    state.last_error = Some("the key refresh thread failed".into());
                    drop(state);
                    shared.signal.notify_all();
                }
            })
            .map_err(Error::KeyRefresh)?;
        let keys = Self {
            shared,
            uri: jwks_uri.to_owned(),
            wait: refresh.wait,
        };
        match first_result.await {
            Ok(Ok(())) => Ok(keys),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(Error::KeyRefresh(std::io::Error::other(
                "the key refresh thread ended before its first fetch",
            ))),
        }
    }

    /// Why the last fetch failed, if it did (the keys at hand stay in use): a diagnostic.
    pub fn last_error(&self) -> Option<String> {
        self.shared.lock().last_error.clone()
    }

    /// The `jwks_uri`.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

impl JwksSource for IssuerKeys {
    fn fetch(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
        self.shared.lock().current()
    }

    fn refresh(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
        let target = {
            let mut state = self.shared.lock();
            // A fetch that begins after now, and its end awaited.
            state.wanted = true;
            state.started + 1
        };
        self.shared.signal.notify_all();
        let wait = || {
            let state = self.shared.lock();
            let (state, _) = self
                .shared
                .signal
                .wait_timeout_while(state, self.wait, |s| s.ended < target && !s.stopped)
                .unwrap_or_else(PoisonError::into_inner);
            drop(state);
        };
        use tokio::runtime::{Handle, RuntimeFlavor};
        match Handle::try_current() {
            // The runtime's other tasks move to other threads meanwhile. A handle entered
            // from where blocking is not allowed makes block_in_place panic before it
            // waits: then nothing waits.
            Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    tokio::task::block_in_place(wait);
                }));
            }
            // A current-thread runtime is never blocked: the fetch goes on in the
            // background and its keys arrive as a new revision at the next verification.
            Ok(_) => {}
            // A plain thread may wait.
            Err(_) => wait(),
        }
        self.shared.lock().current()
    }

    fn revision(&self) -> Option<u64> {
        Some(self.shared.lock().revision)
    }
}

impl State {
    fn current(&self) -> Result<JwksDocument, hearth_token_guard::Error> {
        match &self.document {
            Some(document) => Ok(JwksDocument::new(document.to_vec()).with_revision(self.revision)),
            None => Err(hearth_token_guard::Error::InvalidJose {
                reason: "the issuer's keys could not be fetched",
            }),
        }
    }
}

impl Drop for IssuerKeys {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.shared.signal.notify_all();
    }
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.shared.lock();
        f.debug_struct("IssuerKeys")
            .field("uri", &self.uri)
            .field("revision", &state.revision)
            .field("fetches", &state.ended)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The refresh thread.
struct Worker {
    shared: Arc<Shared>,
    client: HttpsClient,
    uri: String,
    refresh: KeyRefresh,
}

type First = tokio::sync::oneshot::Sender<Result<(), Error>>;

impl Worker {
    fn run(self, runtime: &tokio::runtime::Runtime, first: First) {
        let mut first = Some(first);
        let mut next = Instant::now();
        let mut last: Option<Instant> = None;
        loop {
            if !self.wait_until_due(next, last) {
                return;
            }
            last = Some(Instant::now());
            let fetched = runtime.block_on(fetch_once(&self.client, &self.uri));
            let mut state = self.shared.lock();
            state.ended += 1;
            match fetched {
                Ok((body, max_age)) => {
                    if state.document.as_deref() != Some(&body[..]) {
                        state.document = Some(body);
                        state.revision += 1;
                    }
                    state.last_error = None;
                    let age = max_age.unwrap_or(Duration::from_secs(3600));
                    next = Instant::now() + age.clamp(self.refresh.shortest, self.refresh.longest);
                    if let Some(first) = first.take() {
                        let _ = first.send(Ok(()));
                    }
                }
                Err(e) => {
                    state.last_error = Some(e.to_string());
                    next = Instant::now() + self.refresh.shortest;
                    if let Some(first) = first.take() {
                        state.stopped = true;
                        let _ = first.send(Err(e));
                    }
                }
            }
            let stopped = state.stopped;
            drop(state);
            self.shared.signal.notify_all();
            if stopped {
                return;
            }
        }
    }

    /// Waits until a fetch is due (`next` has come, or one was asked for) and allowed
    /// (`min_interval` since the `last`); false once stopped.
    fn wait_until_due(&self, next: Instant, last: Option<Instant>) -> bool {
        let mut state = self.shared.lock();
        loop {
            if state.stopped {
                return false;
            }
            let now = Instant::now();
            let allowed_at = last.map_or(now, |l| l + self.refresh.min_interval);
            let due_at = if state.wanted { now } else { next };
            let at = due_at.max(allowed_at);
            if now >= at {
                state.wanted = false;
                state.started += 1;
                return true;
            }
            state = self
                .shared
                .signal
                .wait_timeout(state, at - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// One GET of the JWKS: a 200 with a valid key set, and its `max-age`.
async fn fetch_once(client: &HttpsClient, uri: &str) -> Result<(Bytes, Option<Duration>), Error> {
    let request = Request::get(uri)
        .header(ACCEPT, "application/jwk-set+json, application/json")
        .body(Bytes::new())
        .map_err(|_| Error::InvalidUrl {
            reason: "not a URL",
        })?;
    let response = client.send_following_redirects(request).await?;
    if response.status != StatusCode::OK {
        return Err(Error::HttpStatus {
            status: response.status,
        });
    }
    JwkSet::from_json(&response.body).map_err(|_| Error::InvalidMetadata {
        reason: "the JWKS is not a valid key set",
    })?;
    let max_age = cache_max_age(&response.headers);
    Ok((response.body, max_age))
}
