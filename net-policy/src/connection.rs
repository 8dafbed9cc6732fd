//! One connection's request half: HTTP/1.1, or HTTP/2 when the server chose it by ALPN.
//!
//! Requests are built for HTTP/1.1 (origin-form target and a `Host` header); an HTTP/2
//! connection carries the same request with an absolute target (`:scheme`, `:authority`)
//! and no `Host` header, and hands it back in HTTP/1.1 form if it could not send it.

use bytes::Bytes;
use http::header::HOST;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::{TrySendError, http1, http2};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};

use crate::Error;

/// The ALPN protocol ids a client offers, most preferred first.
pub(crate) const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// A request as [`Sender`] takes it: origin-form target, `Host` header.
pub(crate) type Req = Request<Full<Bytes>>;

/// A connection's request half.
#[derive(Debug)]
pub(crate) enum Sender {
    /// One request at a time; kept for reuse between requests.
    Http1(http1::SendRequest<Full<Bytes>>),
    /// Many streams at once; shared by every request to its origin.
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Sender {
    /// HTTP/1.1, or HTTP/2 if ALPN chose `h2`, over `io`; the connection runs on a task of
    /// its own until both sides are done with it.
    pub(crate) async fn handshake<IO>(io: IO, h2: bool) -> Result<Self, Error>
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        if h2 {
            // Pings find a connection that died silently (a NAT dropped it) so that it
            // closes instead of holding requests until their timeout.
            let (sender, conn) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .keep_alive_interval(Duration::from_secs(20))
                .keep_alive_timeout(Duration::from_secs(10))
                .keep_alive_while_idle(true)
                .handshake(io)
                .await
                .map_err(Error::Http)?;
            tokio::spawn(conn);
            Ok(Self::Http2(sender))
        } else {
            let (sender, conn) = http1::handshake(io).await.map_err(Error::Http)?;
            tokio::spawn(conn);
            Ok(Self::Http1(sender))
        }
    }

    /// Whether this connection multiplexes (HTTP/2): it stays in the pool while in use.
    pub(crate) fn is_shared(&self) -> bool {
        matches!(self, Self::Http2(_))
    }

    /// Another handle on a shared (HTTP/2) connection; `None` for HTTP/1.1.
    pub(crate) fn share(&self) -> Option<Self> {
        match self {
            Self::Http1(_) => None,
            Self::Http2(s) => Some(Self::Http2(s.clone())),
        }
    }

    /// Whether the connection can take a request now.
    pub(crate) fn is_usable(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_ready() && !s.is_closed(),
            Self::Http2(s) => s.is_ready() && !s.is_closed(),
        }
    }

    /// Whether the connection is gone.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Self::Http1(s) => s.is_closed(),
            Self::Http2(s) => s.is_closed(),
        }
    }

    /// Sends `req` (for `target`, the request's absolute URL). On failure, the request is
    /// handed back, unchanged, if the connection never took it.
    pub(crate) async fn try_send(
        &mut self,
        req: Req,
        target: &Uri,
    ) -> Result<Response<Incoming>, (hyper::Error, Option<Req>)> {
        let split = |mut e: TrySendError<Req>| {
            let back = e.take_message();
            (e.into_error(), back)
        };
        match self {
            Self::Http1(s) => s.try_send_request(req).await.map_err(split),
            Self::Http2(s) => {
                let host = req.headers().get(HOST).cloned();
                let mut req = req;
                *req.uri_mut() = target.clone();
                req.headers_mut().remove(HOST);
                s.try_send_request(req).await.map_err(|e| {
                    let (e, back) = split(e);
                    (e, back.map(|r| http1_form(r, host)))
                })
            }
        }
    }
}

/// `req` back in HTTP/1.1 form: origin-form target, its `Host` header again.
fn http1_form(mut req: Req, host: Option<http::HeaderValue>) -> Req {
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |p| Uri::from(p.clone()));
    *req.uri_mut() = path;
    if let Some(host) = host {
        req.headers_mut().insert(HOST, host);
    }
    req
}
