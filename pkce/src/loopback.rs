//! [`LoopbackReceiver`]: the redirect target of a native app's sign-in (RFC 8252 §7.3), a
//! one-shot HTTP server on `127.0.0.1`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use hearth_guard::{GuardedRequest, HostAllowlist, LocalGuard, ServeOptions, serve_until};
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::{AuthorizationCodeGrant, Callback, Error, PendingAuthorization};

const SUCCESS_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Signed in</title><p>You are signed in. You can close this tab.";
const FAILURE_PAGE: &str = "<!doctype html><meta charset=utf-8><title>Sign-in failed</title><p>The sign-in did not complete. Return to the app and try again.";

/// Cancels a [`LoopbackReceiver::wait`] from elsewhere (the user closed the dialog).
#[derive(Debug, Clone)]
pub struct CancelHandle(Arc<watch::Sender<bool>>);

impl CancelHandle {
    /// Ends the wait with [`Error::Cancelled`].
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

/// Connections served at once (all from loopback, so also per peer); a new one beyond
/// this pushes out the oldest that has had no request admitted, so sockets opened by
/// another local process cannot keep the browser's callback out.
const MAX_CONNECTIONS: usize = 32;
/// How long a connection may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may stay silent.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the answer in flight may take once the flow has ended.
const DRAIN: Duration = Duration::from_secs(2);

/// A listener on `127.0.0.1` and a free port, bound **before** the authorization URL is
/// made, so the redirect URI names a port that is already ours.
///
/// - The redirect URI uses the IP literal, never `localhost` (RFC 8252 §8.3);
///   [`bind_ipv6`](Self::bind_ipv6) listens on `[::1]` instead.
/// - Only `GET` on the exact path with `Host: 127.0.0.1:PORT` (or `[::1]:PORT`) is the
///   callback; anything else gets 404 (a favicon, a scan), 403 (another Host: a
///   DNS-rebinding page) or 400 (a non-canonical path).
/// - Only a callback with this sign-in's `state` ends the flow: a forged one gets 400 and
///   the sign-in goes on waiting. The page shown never echoes the code.
/// - Bounded: at most 32 connections (a new one pushes out the oldest that had no request
///   admitted), 5 s to send the request head, 10 s of silence per connection; every
///   connection is closed when [`wait`](Self::wait) returns, which has a timeout and a
///   [`CancelHandle`]. The accept loop and the Host check are hearth-guard's.
///
/// ```no_run
/// use hearth_pkce::{AuthorizationRequest, LoopbackReceiver};
/// use std::time::Duration;
///
/// # async fn demo() -> Result<(), hearth_pkce::Error> {
/// let receiver = LoopbackReceiver::bind("/callback").await?;
/// let (url, pending) = AuthorizationRequest::new("https://accounts.example/authorize", "client", &receiver.redirect_uri()).build()?;
/// println!("open {url}");
/// let grant = receiver.wait(pending, Duration::from_secs(300)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LoopbackReceiver {
    listener: TcpListener,
    addr: SocketAddr,
    path: String,
    cancel: Arc<watch::Sender<bool>>,
}

impl LoopbackReceiver {
    /// Binds `127.0.0.1` on a free port for callbacks on `path` (which must start with
    /// `/` and have no query).
    pub async fn bind(path: &str) -> Result<Self, Error> {
        Self::bind_on(IpAddr::V4(Ipv4Addr::LOCALHOST), path).await
    }

    /// Like [`bind`](Self::bind), on `[::1]`: the redirect URI is `http://[::1]:PORT/path`.
    pub async fn bind_ipv6(path: &str) -> Result<Self, Error> {
        Self::bind_on(IpAddr::V6(Ipv6Addr::LOCALHOST), path).await
    }

    async fn bind_on(ip: IpAddr, path: &str) -> Result<Self, Error> {
        // The guard answers 400 to a non-canonical path, so such a callback could never
        // arrive.
        if !path.starts_with('/')
            || path.contains(['?', '#'])
            || path.contains(char::is_whitespace)
            || hearth_guard::check_canonical_path(path).is_err()
        {
            return Err(Error::InvalidUrl {
                reason: "the callback path must start with '/' and have no query",
            });
        }
        let bind_error = |e: std::io::Error| Error::Bind {
            address: SocketAddr::new(ip, 0).to_string(),
            source: Arc::new(e),
        };
        let listener = TcpListener::bind((ip, 0)).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let (cancel, _) = watch::channel(false);
        Ok(Self {
            listener,
            addr,
            path: path.to_owned(),
            cancel: Arc::new(cancel),
        })
    }

    /// `http://127.0.0.1:PORT/path` (or `http://[::1]:PORT/path`), for the authorization
    /// request.
    #[must_use]
    pub fn redirect_uri(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// A handle that cancels [`wait`](Self::wait).
    #[must_use]
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(Arc::clone(&self.cancel))
    }

    /// Serves until this sign-in's callback arrives, then completes `pending` with it.
    /// Errors: [`Error::Timeout`] after `timeout`, [`Error::Cancelled`], or whatever
    /// [`PendingAuthorization::complete_callback`] says of the callback.
    ///
    /// The accept loop, its connection caps and timeouts, and the `Host` check are
    /// hearth-guard's `serve_until` and `HostAllowlist` (exactly this receiver's
    /// `host:port`); the callback carries no credential, so loopback peers are admitted
    /// without one and this sign-in's `state` is what authenticates it.
    pub async fn wait(
        self,
        pending: PendingAuthorization,
        timeout: Duration,
    ) -> Result<AuthorizationCodeGrant, Error> {
        let (done_tx, done_rx) = oneshot::channel::<Result<AuthorizationCodeGrant, Error>>();
        let slot: Arc<Slot> = Arc::new(Mutex::new(Some((pending, done_tx))));
        let mut cancelled = self.cancel.subscribe();
        let host = self.addr.to_string();
        let bind_error = |e: std::io::Error| Error::Bind {
            address: host.clone(),
            source: Arc::new(e),
        };
        let hosts = HostAllowlist::empty().allow(&host).map_err(|_| {
            bind_error(std::io::Error::other(
                "the receiver's own address is not a valid Host",
            ))
        })?;
        // The browser arrives by a redirect from the authorization server: a cross-site
        // top-level navigation, which the guard refuses unless the path is opened to it.
        let guard = LocalGuard::new()
            .hosts(hosts)
            .localhost_bypass(true)
            .allow_navigation(&self.path);
        let options = ServeOptions {
            max_connections: MAX_CONNECTIONS,
            max_connections_per_peer: MAX_CONNECTIONS,
            idle_timeout: IDLE_TIMEOUT,
            header_timeout: HEADER_TIMEOUT,
            drain_timeout: DRAIN,
            // One request per connection: nobody may hold a place open with cheap
            // requests while the browser's callback waits.
            keep_alive: false,
        };
        let path = self.path.clone();
        let handler = {
            let host = host.clone();
            move |request: GuardedRequest| {
                let reply = handle(&request, &host, &path, &slot);
                async move { reply }
            }
        };
        let mut done_rx = done_rx;
        let mut outcome = None;
        let ended = async {
            outcome = Some(tokio::select! {
                result = &mut done_rx => result.unwrap_or(Err(Error::Cancelled)),
                _ = cancelled.wait_for(|c| *c) => Err(Error::Cancelled),
                () = tokio::time::sleep(timeout) => Err(Error::Timeout { after: timeout }),
            });
        };
        let served = serve_until(self.listener, Arc::new(guard), options, handler, ended).await;
        match (outcome, served) {
            (Some(result), _) => result,
            // The loop ended first (the listener failed): a callback may still have
            // completed the flow just before.
            (None, served) => match done_rx.try_recv() {
                Ok(result) => result,
                Err(_) => Err(served.err().map_or(Error::Cancelled, bind_error)),
            },
        }
    }
}

type Slot = Mutex<
    Option<(
        PendingAuthorization,
        oneshot::Sender<Result<AuthorizationCodeGrant, Error>>,
    )>,
>;

fn handle<B>(req: &Request<B>, host: &str, path: &str, slot: &Slot) -> Response<Full<Bytes>> {
    let page = |status: StatusCode, body: &'static str| {
        let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
        *r.status_mut() = status;
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            http::HeaderValue::from_static("text/html; charset=utf-8"),
        );
        r.headers_mut().insert(
            header::CACHE_CONTROL,
            http::HeaderValue::from_static("no-store"),
        );
        r.headers_mut().insert(
            "referrer-policy",
            http::HeaderValue::from_static("no-referrer"),
        );
        r
    };
    // DNS rebinding (a page on another name pointed at 127.0.0.1 sends its own Host) is
    // refused by the guard before this runs.
    if req.method() != http::Method::GET || req.uri().path() != path {
        return page(StatusCode::NOT_FOUND, "not found");
    }
    let target = req.uri().path_and_query().map_or(path, |p| p.as_str());
    let Ok(callback) = Callback::from_loopback(host, target) else {
        return page(StatusCode::BAD_REQUEST, FAILURE_PAGE);
    };
    let mut slot = slot.lock().unwrap_or_else(PoisonError::into_inner);
    match slot.as_ref() {
        // The flow already ended: a replayed callback changes nothing.
        None => return page(StatusCode::GONE, FAILURE_PAGE),
        // Not this sign-in's (forged, stale tab): refused, and the sign-in waits on. An
        // expired sign-in ends with `Expired` on whatever arrives.
        Some((pending, _)) if !pending.accepts(&callback) && !pending.is_expired() => {
            return page(StatusCode::BAD_REQUEST, FAILURE_PAGE);
        }
        Some(_) => {}
    }
    let Some((pending, done)) = slot.take() else {
        return page(StatusCode::GONE, FAILURE_PAGE);
    };
    drop(slot);
    let result = pending.complete_callback(callback);
    let ok = result.is_ok();
    let _ = done.send(result);
    if ok {
        page(StatusCode::OK, SUCCESS_PAGE)
    } else {
        page(StatusCode::BAD_REQUEST, FAILURE_PAGE)
    }
}
