//! [`LocalGuardLayer`]: the guard as a `tower::Layer`, for hyper and axum services.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use http_body_util::Limited;
use tower_layer::Layer;
use tower_service::Service;

use super::decision::allow_origin;
use super::{Decision, Denial, DenyReason, LocalGuard};

/// The peer address of a request, as a request extension: insert it when the layer is
/// not built per connection with [`LocalGuardLayer::for_peer`] (for axum, from
/// `ConnectInfo<SocketAddr>` in a `map_request` before this layer). Without either, the
/// request is refused: the guard fails closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Wraps a service so every request passes [`LocalGuard::check`] first.
///
/// CORS: preflights from allowed origins are answered here, and every response to a
/// request from an allowed origin carries `Access-Control-Allow-Origin` and `Vary: Origin`.
///
/// Admitted requests reach the inner service with the [`Caller`](super::Caller) as a
/// request extension, the `access_token` query parameter removed from the URI (so
/// handlers and access logs never print it), and the body wrapped in [`Limited`] at the
/// guard's body cap (reading past it gives a `LengthLimitError`: answer 413). Refused ones get
/// [`Denial::to_response`] and never reach it.
///
/// The guard's state (rate limits included) is shared through an `Arc`, so every clone
/// of the service enforces the same limits (tower #794 is the bug this avoids).
///
/// ```
/// use std::convert::Infallible;
/// use std::future::{Ready, ready};
/// use std::sync::Arc;
/// use std::task::{Context, Poll};
/// use http::{Request, Response};
/// use http_body_util::Limited;
/// use hearth_guard::{Caller, LocalGuard, LocalGuardLayer, PeerAddr};
/// use tower_layer::Layer;
/// use tower_service::Service;
///
/// struct Status;
/// impl Service<Request<Limited<String>>> for Status {
///     type Response = Response<String>;
///     type Error = Infallible;
///     type Future = Ready<Result<Response<String>, Infallible>>;
///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
///         Poll::Ready(Ok(()))
///     }
///     fn call(&mut self, request: Request<Limited<String>>) -> Self::Future {
///         let caller = request.extensions().get::<Caller>().cloned();
///         ready(Ok(Response::new(format!("{caller:?}"))))
///     }
/// }
///
/// let guard = Arc::new(LocalGuard::new().exempt("/system/status"));
/// let mut service = LocalGuardLayer::new(guard).layer(Status);
/// let rt = tokio::runtime::Builder::new_current_thread().build()?;
/// let mut call = |host: &str| {
///     let mut request = Request::builder()
///         .uri("/system/status")
///         .header("host", host)
///         .body(String::new())
///         .unwrap();
///     request.extensions_mut().insert(PeerAddr("127.0.0.1:50000".parse().unwrap()));
///     rt.block_on(service.call(request)).unwrap()
/// };
/// assert_eq!(call("127.0.0.1:8080").body(), "Some(Exempt)");
/// assert_eq!(call("evil.example:8080").status(), 403);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct LocalGuardLayer {
    guard: Arc<LocalGuard>,
    peer: Option<SocketAddr>,
}

impl LocalGuardLayer {
    /// A layer that reads the peer from the [`PeerAddr`] extension.
    pub fn new(guard: Arc<LocalGuard>) -> Self {
        Self { guard, peer: None }
    }

    /// The same layer for one connection whose peer is known.
    pub fn for_peer(mut self, peer: SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }
}

impl<S> Layer<S> for LocalGuardLayer {
    type Service = LocalGuardService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        LocalGuardService {
            inner,
            guard: Arc::clone(&self.guard),
            peer: self.peer,
        }
    }
}

/// The service [`LocalGuardLayer`] produces.
#[derive(Debug, Clone)]
pub struct LocalGuardService<S> {
    inner: S,
    guard: Arc<LocalGuard>,
    peer: Option<SocketAddr>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, ResBody> Service<Request<B>> for LocalGuardService<S>
where
    S: Service<Request<Limited<B>>, Response = Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: From<String> + Send + 'static,
    S::Error: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let peer = self
            .peer
            .or_else(|| request.extensions().get::<PeerAddr>().map(|p| p.0));
        let decision = match peer {
            Some(peer) => self.guard.check_request(&request, peer),
            None => Decision::Deny(Denial::new(DenyReason::PeerNotAllowed)),
        };
        let cors = self.guard.cors_origin(request.headers());
        match decision {
            Decision::Allow(caller) => {
                let limit = usize::try_from(self.guard.body_limit()).unwrap_or(usize::MAX);
                let (mut parts, body) = request.into_parts();
                parts.extensions.insert(caller);
                strip_query_token(&mut parts.uri);
                let request = Request::from_parts(parts, Limited::new(body, limit));
                let response = self.inner.call(request);
                Box::pin(async move {
                    let mut response = response.await?;
                    if let Some(origin) = cors {
                        allow_origin(response.headers_mut(), origin);
                    }
                    Ok(response)
                })
            }
            Decision::Preflight(preflight) => {
                let response = preflight.to_response();
                Box::pin(async move { Ok(response) })
            }
            Decision::Deny(denial) => {
                let mut response = denial.to_response();
                // An allowed page may read why it was refused (401, 429...).
                if let Some(origin) = cors {
                    allow_origin(response.headers_mut(), origin);
                }
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

/// Removes `access_token=...` from the query once the guard has checked it, so handlers
/// and access logs that print the URI never see the credential.
fn strip_query_token(uri: &mut http::Uri) {
    let Some(query) = uri.query() else { return };
    if !query.split('&').any(|p| p.starts_with("access_token=")) {
        return;
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.starts_with("access_token="))
        .collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    // The path and the kept parameters were valid in the original URI, so they still are.
    if let Ok(pq) = http::uri::PathAndQuery::try_from(path_and_query) {
        parts.path_and_query = Some(pq);
        if let Ok(stripped) = http::Uri::from_parts(parts) {
            *uri = stripped;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::strip_query_token;

    #[test]
    fn the_query_token_is_gone_and_everything_else_kept() {
        for (before, after) in [
            ("/ws?access_token=s3cret", "/ws"),
            ("/ws?a=1&access_token=s3cret&b=2", "/ws?a=1&b=2"),
            ("/ws?a=1", "/ws?a=1"),
            ("/ws", "/ws"),
            (
                "http://127.0.0.1:8/ws?access_token=x&v=13",
                "http://127.0.0.1:8/ws?v=13",
            ),
        ] {
            let mut uri: http::Uri = before.parse().unwrap();
            strip_query_token(&mut uri);
            assert_eq!(uri.to_string(), after);
        }
    }
}
