//! [`LoopbackReceiver`]: the redirect target of a native app's sign-in (RFC 8252 §7.3), a
//! one-shot HTTP server on `127.0.0.1`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};

use crate::{AuthorizationCodeGrant, Error, PendingAuthorization};

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

/// A listener on `127.0.0.1` and a free port, bound **before** the authorization URL is
/// made, so the redirect URI names a port that is already ours.
///
/// - The redirect URI uses the IP literal, never `localhost` (RFC 8252 §8.3).
/// - Only `GET` on the exact path with `Host: 127.0.0.1:PORT` is the callback; anything
///   else (a favicon, a scan, a DNS-rebinding page) gets 404 or 400 and the flow goes on.
/// - The first callback ends the flow; the page shown never echoes the code.
/// - [`wait`](Self::wait) has a timeout and a [`CancelHandle`].
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
    /// `[::1]` on the same port, when the host has IPv6 loopback and the port is free there.
    listener_v6: Option<TcpListener>,
    addr: SocketAddr,
    path: String,
    cancel: Arc<watch::Sender<bool>>,
}

impl LoopbackReceiver {
    /// Binds `127.0.0.1:0` (and `[::1]` on the same port when available) for callbacks on
    /// `path` (which must start with `/`).
    pub async fn bind(path: &str) -> Result<Self, Error> {
        if !path.starts_with('/') || path.contains(['?', '#']) {
            return Err(Error::InvalidUrl {
                reason: "the callback path must start with '/' and have no query",
            });
        }
        let listener =
            TcpListener::bind(("127.0.0.1", 0))
                .await
                .map_err(|_| Error::InvalidUrl {
                    reason: "cannot bind a loopback port",
                })?;
        let addr = listener.local_addr().map_err(|_| Error::InvalidUrl {
            reason: "cannot bind a loopback port",
        })?;
        let listener_v6 = TcpListener::bind(("::1", addr.port())).await.ok();
        let (cancel, _) = watch::channel(false);
        Ok(Self {
            listener,
            listener_v6,
            addr,
            path: path.to_owned(),
            cancel: Arc::new(cancel),
        })
    }

    /// `http://127.0.0.1:PORT/path`, for the authorization request.
    #[must_use]
    pub fn redirect_uri(&self) -> String {
        format!("http://{}{}", self.addr, self.path)
    }

    /// A handle that cancels [`wait`](Self::wait).
    #[must_use]
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle(Arc::clone(&self.cancel))
    }

    /// Serves until the callback arrives, then completes `pending` with it. Errors:
    /// [`Error::Timeout`] after `timeout`, [`Error::Cancelled`], or whatever
    /// [`PendingAuthorization::complete`] says of the callback.
    pub async fn wait(
        self,
        pending: PendingAuthorization,
        timeout: Duration,
    ) -> Result<AuthorizationCodeGrant, Error> {
        let (done_tx, done_rx) = oneshot::channel::<Result<AuthorizationCodeGrant, Error>>();
        let slot = Arc::new(Mutex::new(Some((pending, done_tx))));
        let mut cancelled = self.cancel.subscribe();
        let expected_host = self.addr.to_string();
        let path = self.path.clone();
        let accept = async {
            loop {
                let next = match &self.listener_v6 {
                    Some(v6) => tokio::select! {
                        r = self.listener.accept() => r,
                        r = v6.accept() => r,
                    },
                    None => self.listener.accept().await,
                };
                let Ok((tcp, _)) = next else {
                    // Out of file descriptors or similar: back off instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (slot, host, path) = (Arc::clone(&slot), expected_host.clone(), path.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| {
                        let reply = handle(&req, &host, &path, &slot);
                        async move { Ok::<_, Infallible>(reply) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        };
        tokio::select! {
            result = done_rx => result.unwrap_or(Err(Error::Cancelled)),
            () = accept => Err(Error::Cancelled),
            _ = cancelled.wait_for(|c| *c) => Err(Error::Cancelled),
            () = tokio::time::sleep(timeout) => Err(Error::Timeout { after: timeout }),
        }
    }
}

type Slot = Mutex<
    Option<(
        PendingAuthorization,
        oneshot::Sender<Result<AuthorizationCodeGrant, Error>>,
    )>,
>;

fn handle(req: &Request<Incoming>, host: &str, path: &str, slot: &Slot) -> Response<Full<Bytes>> {
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
    // DNS rebinding: a page on another name pointed at 127.0.0.1 sends its own Host.
    let host_ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        == Some(host);
    if !host_ok {
        return page(StatusCode::BAD_REQUEST, "bad host");
    }
    if req.method() != http::Method::GET || req.uri().path() != path {
        return page(StatusCode::NOT_FOUND, "not found");
    }
    let Some((pending, done)) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() else {
        // The flow already ended: a replayed callback changes nothing.
        return page(StatusCode::GONE, FAILURE_PAGE);
    };
    let callback = format!(
        "http://{host}{}",
        req.uri().path_and_query().map_or(path, |p| p.as_str())
    );
    let result = pending.complete(&callback);
    let ok = result.is_ok();
    let _ = done.send(result);
    if ok {
        page(StatusCode::OK, SUCCESS_PAGE)
    } else {
        page(StatusCode::BAD_REQUEST, FAILURE_PAGE)
    }
}
