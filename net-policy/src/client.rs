//! [`HttpsClient`]: hyper 1 over tokio-rustls, with the policy enforced on every request
//! and every redirect, and every wait bounded.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, LOCATION};
use http::{HeaderMap, HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

use crate::connection::{ALPN, Sender};
use crate::pool::{Origin, Pool};
use crate::redirect::RedirectRules;
use crate::{BuiltPolicy, Error, PinFailure, Proxy, UrlPolicy, resolve_location};

/// A response, body read in full (up to the client's cap).
#[derive(Debug)]
pub struct Response {
    /// The status.
    pub status: StatusCode,
    /// The protocol it came over: HTTP/1.1, or HTTP/2 when the server chose it by ALPN.
    pub version: http::Version,
    /// The headers (`Debug` of sensitive values prints `Sensitive`).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

/// Timeouts, each a bound on one stage, plus one on the whole request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP connect (default 10 s).
    pub connect: Duration,
    /// TLS handshake (default 10 s).
    pub handshake: Duration,
    /// Everything, redirects included (default 30 s).
    pub overall: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            handshake: Duration::from_secs(10),
            overall: Duration::from_secs(30),
        }
    }
}

/// An HTTPS client that only ever does what its [`BuiltPolicy`] allows.
///
/// Every request (and, with [`send_following_redirects`](Self::send_following_redirects),
/// every redirect hop) is checked by the [`UrlPolicy`] before a socket opens; TLS uses the
/// policy's verifier (roots and pins); connect, handshake and the whole exchange are
/// bounded; bodies are capped. HTTP/2 is used when the server chooses it by ALPN, else
/// HTTP/1.1. Connections are kept alive and reused per origin (an HTTP/2 one is shared by
/// concurrent requests; see [`with_pool`](Self::with_pool)); a kept connection was verified — roots and pins —
/// when it was opened, by this client's policy, and each new connection is verified again.
/// TLS session resumption is rustls's default: a resumed session does not present the
/// certificate again, and was verified in the full handshake that created it.
///
/// ```no_run
/// use hearth_net_policy::{HttpsClient, TlsPolicy};
///
/// # async fn demo() -> Result<(), hearth_net_policy::Error> {
/// let client = HttpsClient::new(&TlsPolicy::new().native_roots().build()?);
/// let response = client.get("https://example.com/").await?;
/// println!("{}", response.status);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct HttpsClient {
    tls: Arc<ClientConfig>,
    url: UrlPolicy,
    timeouts: Timeouts,
    max_body: usize,
    max_redirects: usize,
    redirects: RedirectRules,
    proxy: ProxySetting,
    pool: Arc<Pool>,
}

/// Which proxy HTTPS requests tunnel through.
#[derive(Debug, Clone)]
enum ProxySetting {
    Direct,
    Through(Proxy),
    /// The environment names a proxy that does not parse: every request says so.
    Invalid(&'static str),
}

impl HttpsClient {
    /// A client for `policy` with default timeouts, a 16 MiB body cap, 5 redirects, and
    /// the proxy the environment names ([`Proxy::from_env`]; a malformed one fails every
    /// request with [`Error::InvalidProxy`] rather than being ignored).
    #[must_use]
    pub fn new(policy: &BuiltPolicy) -> Self {
        let proxy = match Proxy::from_env() {
            Ok(Some(p)) => ProxySetting::Through(p),
            Ok(None) => ProxySetting::Direct,
            Err(Error::InvalidProxy { reason }) => ProxySetting::Invalid(reason),
            Err(_) => ProxySetting::Invalid("the proxy setting cannot be read"),
        };
        Self {
            proxy,
            pool: Arc::new(Pool::new(8, Duration::from_secs(90))),
            tls: with_alpn(policy.config()),
            url: policy.url_policy(),
            timeouts: Timeouts::default(),
            max_body: 16 << 20,
            max_redirects: 5,
            redirects: RedirectRules::default(),
        }
    }

    /// Keeps at most `max_idle_per_origin` idle connections per origin, each for at most
    /// `idle_timeout` (default 8 and 90 s; 0 turns reuse off). A fresh pool: clones made
    /// before share the old one.
    #[must_use]
    pub fn with_pool(mut self, max_idle_per_origin: usize, idle_timeout: Duration) -> Self {
        self.pool = Arc::new(Pool::new(max_idle_per_origin, idle_timeout));
        self
    }

    /// Tunnels HTTPS through `proxy` (instead of the environment's), with a pool of its own.
    #[must_use]
    pub fn with_proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = ProxySetting::Through(proxy);
        self.pool = self.fresh_pool();
        self
    }

    /// Connects directly, whatever the environment says.
    #[must_use]
    pub fn without_proxy(mut self) -> Self {
        self.proxy = ProxySetting::Direct;
        self.pool = self.fresh_pool();
        self
    }

    /// An empty pool with this client's limits: a client whose route changed must not
    /// reuse connections opened on the old one.
    fn fresh_pool(&self) -> Arc<Pool> {
        Arc::new(Pool::new(
            self.pool.max_idle_per_origin,
            self.pool.idle_timeout,
        ))
    }

    /// Drops `name` too when a redirect leaves the origin (besides `Authorization`,
    /// `Proxy-Authorization`, `Cookie`, `X-Api-Key` and every header marked sensitive).
    ///
    /// ```no_run
    /// use hearth_net_policy::{HttpsClient, TlsPolicy};
    ///
    /// let client = HttpsClient::new(&TlsPolicy::new().native_roots().build()?)
    ///     .with_sensitive_header(http::HeaderName::from_static("x-emby-token"));
    /// # Ok::<(), hearth_net_policy::Error>(())
    /// ```
    #[must_use]
    pub fn with_sensitive_header(mut self, name: http::HeaderName) -> Self {
        self.redirects.sensitive.push(name);
        self
    }

    /// Follow a 307/308 to another origin that resends the request body (refused by
    /// default: the body of a POST to a token endpoint is a credential).
    #[must_use]
    pub fn follow_cross_origin_body_redirects(mut self) -> Self {
        self.redirects.cross_origin_bodies = true;
        self
    }

    /// The same client with other timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The same client with another response body cap.
    #[must_use]
    pub fn with_max_body(mut self, bytes: usize) -> Self {
        self.max_body = bytes;
        self
    }

    /// The URL policy every request is checked against.
    pub fn url_policy(&self) -> UrlPolicy {
        self.url
    }

    /// `GET url`, following redirects.
    pub async fn get(&self, url: &str) -> Result<Response, Error> {
        let uri: Uri = url.parse().map_err(|_| Error::InvalidUrl {
            reason: "not a URL",
        })?;
        let req = Request::get(uri)
            .body(Bytes::new())
            .map_err(|_| Error::InvalidUrl {
                reason: "not a URL",
            })?;
        self.send_following_redirects(req).await
    }

    /// Sends `req` and follows up to 5 redirects, each target checked against the policy
    /// before a socket opens, a relative `Location` resolved by RFC 3986 §5.2.
    ///
    /// Like reqwest, a hop to another origin (scheme, host or port) drops `Authorization`,
    /// `Proxy-Authorization`, `Cookie`, `X-Api-Key`, every header marked sensitive (such as
    /// [`with_bearer`]'s) and those named by
    /// [`with_sensitive_header`](Self::with_sensitive_header). A 303 (except after HEAD),
    /// or a 301/302 after a POST, becomes a GET without body, `Content-Type`,
    /// `Content-Length`, `Content-Encoding` and `Transfer-Encoding`. A 307/308 keeps method
    /// and body — to another origin only after
    /// [`follow_cross_origin_body_redirects`](Self::follow_cross_origin_body_redirects),
    /// else [`Error::RedirectRefused`].
    pub async fn send_following_redirects(&self, req: Request<Bytes>) -> Result<Response, Error> {
        let overall = self.timeouts.overall;
        tokio::time::timeout(overall, async {
            let mut req = req;
            for _ in 0..=self.max_redirects {
                let prev = clone_request(&req);
                let response = self.send_once(req).await?;
                let Some(location) = redirect_target(&response) else {
                    return Ok(response);
                };
                let location = location.to_str().map_err(|_| Error::InvalidUrl {
                    reason: "redirect Location is not a URL",
                })?;
                let target = resolve_location(prev.uri(), location)?;
                req = self.redirects.next(&prev, response.status, target)?;
            }
            Err(Error::TooManyRedirects {
                limit: self.max_redirects,
            })
        })
        .await
        .map_err(|_| Error::Timeout {
            stage: "request",
            after: overall,
        })?
    }

    /// Sends one request (no redirects), after checking its URL against the policy.
    pub async fn send(&self, req: Request<Bytes>) -> Result<Response, Error> {
        let overall = self.timeouts.overall;
        tokio::time::timeout(overall, self.send_once(req))
            .await
            .map_err(|_| Error::Timeout {
                stage: "request",
                after: overall,
            })?
    }

    async fn send_once(&self, mut req: Request<Bytes>) -> Result<Response, Error> {
        self.url.check(req.uri())?;
        let uri = req.uri().clone();
        let host = uri.host().unwrap_or_default().to_owned();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        // Every spelling of an address is that address: `127.1` is connected to, verified
        // and pinned as 127.0.0.1 (as the resolver would connect to it).
        let bare = crate::HostPattern::canonical_ip(&bare).map_or(bare, |ip| ip.to_string());

        // Origin-form request line, Host header from the URL.
        let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
        *req.uri_mut() = path
            .parse()
            .map_err(|_| Error::InvalidUrl { reason: "bad path" })?;
        // The URL is what the policy checked and the pin is for: a caller's Host naming
        // another server would route the request elsewhere (on HTTP/1.1; HTTP/2 sends the
        // URL's authority), so it must name the same one.
        let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
        let mut hosts = req.headers().get_all(HOST).iter();
        if let Some(given) = hosts.next() {
            let same = given
                .to_str()
                .is_ok_and(|g| same_authority(g, authority, https));
            if !same || hosts.next().is_some() {
                return Err(Error::InvalidUrl {
                    reason: "a Host header must name the URL's host (and only once)",
                });
            }
        }
        let value = HeaderValue::from_str(authority)
            .map_err(|_| Error::InvalidUrl { reason: "bad host" })?;
        req.headers_mut().insert(HOST, value);
        let mut req = req.map(Full::new);

        let origin: Origin = (https, bare.to_ascii_lowercase(), port);
        // A kept connection first; if it closed before taking the request, hyper hands the
        // request back and a new connection takes it.
        while let Some(mut sender) = self.pool.take(&origin) {
            // A GET or HEAD may be sent again if a kept connection dies under it (the server
            // closed it as it was taken): it changes nothing at the server.
            let again =
                matches!(*req.method(), Method::GET | Method::HEAD).then(|| clone_request(&req));
            // A failed or abandoned request on a shared connection takes it out of the pool.
            let mut evict = sender.is_shared().then(|| Evict {
                pool: &self.pool,
                origin: origin.clone(),
                armed: true,
            });
            match sender.try_send(req, &uri).await {
                Ok(response) => {
                    let done = self.finish(origin, sender, response).await;
                    if let (Ok(_), Some(e)) = (&done, evict.as_mut()) {
                        e.armed = false;
                    }
                    return done;
                }
                Err((_, Some(unsent))) => req = unsent,
                Err((e, None)) => match again {
                    Some(again) if stale(&e) => req = again,
                    _ => return Err(Error::Http(e)),
                },
            }
        }
        let mut sender = self.connect(https, &host, &bare, port).await?;
        let response = sender
            .try_send(req, &uri)
            .await
            .map_err(|(e, _)| Error::Http(e))?;
        self.finish(origin, sender, response).await
    }

    /// A new connection to `bare:port` (through the proxy if one applies), TLS for https
    /// (verified by the policy: roots and pins), HTTP/2 if the server chose it by ALPN,
    /// else HTTP/1.1, driven by a task of its own.
    async fn connect(
        &self,
        https: bool,
        host: &str,
        bare: &str,
        port: u16,
    ) -> Result<Sender, Error> {
        let proxy = match &self.proxy {
            ProxySetting::Invalid(reason) => return Err(Error::InvalidProxy { reason }),
            ProxySetting::Through(p) if https && p.applies_to(bare) => Some(p),
            _ => None,
        };
        let tcp = match proxy {
            // The proxy carries bytes; TLS and pins below are the target's.
            Some(p) => p.tunnel(bare, port, self.timeouts.connect).await?,
            None => tokio::time::timeout(self.timeouts.connect, TcpStream::connect((bare, port)))
                .await
                .map_err(|_| Error::Timeout {
                    stage: "connect",
                    after: self.timeouts.connect,
                })?
                .map_err(|e| Error::Connect {
                    host: host.to_owned(),
                    source: e,
                })?,
        };
        if !https {
            return Sender::handshake(tcp, false).await;
        }
        let name = ServerName::try_from(bare.to_owned()).map_err(|_| Error::InvalidUrl {
            reason: "not a valid TLS server name",
        })?;
        let connector = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls));
        let tls = tokio::time::timeout(self.timeouts.handshake, connector.connect(name, tcp))
            .await
            .map_err(|_| Error::Timeout {
                stage: "TLS handshake",
                after: self.timeouts.handshake,
            })?
            .map_err(|e| handshake_error(e, host))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        Sender::handshake(tls, h2).await
    }

    /// Reads the body (up to the cap), then keeps the connection for reuse.
    async fn finish(
        &self,
        origin: Origin,
        sender: Sender,
        response: http::Response<hyper::body::Incoming>,
    ) -> Result<Response, Error> {
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, self.max_body)
            .collect()
            .await
            .map_err(|e| body_error(e.as_ref(), self.max_body))?
            .to_bytes();
        self.pool.put(origin, sender);
        Ok(Response {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body,
        })
    }
}

/// Drops an origin's shared connection when dropped armed (a request on it failed, or was
/// abandoned at its timeout); disarmed on success.
struct Evict<'a> {
    pool: &'a Pool,
    origin: Origin,
    armed: bool,
}

impl Drop for Evict<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.pool.evict_shared(&self.origin);
        }
    }
}

/// Whether a `Host` header value names the URL's authority: host in any case, the scheme's
/// default port written or not.
fn same_authority(host: &str, authority: &str, https: bool) -> bool {
    let default = if https { ":443" } else { ":80" };
    let bare = |a: &str| {
        let a = a.to_ascii_lowercase();
        a.strip_suffix(default).map(str::to_owned).unwrap_or(a)
    };
    bare(host) == bare(authority)
}

/// Whether a request on a kept connection failed because the connection was gone.
fn stale(e: &hyper::Error) -> bool {
    e.is_incomplete_message() || e.is_canceled() || e.is_closed() || eof(e)
}

/// The policy's TLS configuration, offering HTTP/2 and HTTP/1.1 by ALPN (the policy's own
/// configuration, shared with other users, offers none).
fn with_alpn(config: &Arc<ClientConfig>) -> Arc<ClientConfig> {
    let mut config = ClientConfig::clone(config);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// Adds `Authorization: Bearer <token>` to `req` through token-guard's sensitive header
/// (never indexed by HPACK, `Sensitive` in `Debug`); a redirect to another origin drops it.
///
/// ```
/// use hearth_net_policy::with_bearer;
/// use hearth_token_guard::AccessToken;
///
/// let mut req = http::Request::get("https://api.example.com/me").body(bytes::Bytes::new()).unwrap();
/// with_bearer(&mut req, &AccessToken::new("ya29.token"))?;
/// assert!(req.headers()["authorization"].is_sensitive());
/// assert!(!format!("{req:?}").contains("ya29"));
/// # Ok::<(), hearth_token_guard::Error>(())
/// ```
pub fn with_bearer<B>(
    req: &mut Request<B>,
    token: &hearth_token_guard::AccessToken,
) -> Result<(), hearth_token_guard::Error> {
    req.headers_mut()
        .insert(AUTHORIZATION, token.bearer_header()?);
    Ok(())
}

/// A pin failure inside a handshake error becomes [`Error::PinMismatch`], a refused
/// certificate [`Error::UntrustedCertificate`], another TLS failure [`Error::Handshake`],
/// and a connection lost during the handshake [`Error::Connect`] to `host`.
pub(crate) fn handshake_error(e: std::io::Error, host: &str) -> Error {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    if let Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) = tls {
        if let Some(failure) = other.0.downcast_ref::<PinFailure>() {
            return Error::PinMismatch(failure.clone());
        }
        if let Some(problem) = other.0.downcast_ref::<crate::CertificateProblem>() {
            return Error::UntrustedCertificate(problem.clone());
        }
    }
    match tls {
        Some(t) => Error::Handshake(t.clone()),
        None if e.kind() == std::io::ErrorKind::UnexpectedEof => Error::HandshakeClosed {
            host: host.to_owned(),
        },
        None => Error::Connect {
            host: host.to_owned(),
            source: e,
        },
    }
}

/// What went wrong while reading a body: over the cap, cut short, or not HTTP.
fn body_error(e: &(dyn std::error::Error + Send + Sync + 'static), limit: usize) -> Error {
    if e.is::<http_body_util::LengthLimitError>() {
        return Error::BodyTooLarge { limit };
    }
    match e.downcast_ref::<hyper::Error>() {
        Some(h) if h.is_incomplete_message() => Error::BodyTruncated,
        Some(h) if h.is_parse() => Error::BodyMalformed,
        // hyper reports a connection closed before the body's end as a body-write/read
        // error; both mean the body did not arrive whole.
        Some(h) if h.is_body_write_aborted() || h.is_closed() || h.is_canceled() => {
            Error::BodyTruncated
        }
        // A body that ends early: hyper's source is an `UnexpectedEof` I/O error.
        Some(h) if eof(h) => Error::BodyTruncated,
        _ => Error::BodyMalformed,
    }
}

/// Whether `e` (or what it wraps) is an unexpected end of input.
fn eof(e: &hyper::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::UnexpectedEof
        {
            return true;
        }
        source = s.source();
    }
    false
}

fn clone_request<B: Clone>(req: &Request<B>) -> Request<B> {
    let mut out = Request::new(req.body().clone());
    *out.method_mut() = req.method().clone();
    *out.uri_mut() = req.uri().clone();
    *out.headers_mut() = req.headers().clone();
    out
}

fn redirect_target(r: &Response) -> Option<&HeaderValue> {
    matches!(r.status.as_u16(), 301 | 302 | 303 | 307 | 308)
        .then(|| r.headers.get(LOCATION))
        .flatten()
}
