//! [`serve`] and [`serve_until`]: a hyper HTTP/1.1 accept loop with the guard, connection
//! caps, timeouts, upgrades (WebSockets), streaming bodies and graceful shutdown.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::body::{Body, Frame, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower_layer::Layer;
use tower_service::Service;

use super::request_body::Activity;
use super::{LocalGuard, LocalGuardLayer, PeerKey, RequestBody, SecurityHeaders};

/// Connection limits for [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Connections served at once (default 64). When all are taken, a new connection
    /// pushes out the oldest one on which no credential holder's request was admitted (a
    /// silent socket, a slow client, a refused one, one that only asked exempt paths),
    /// sparing those under half a second old while older ones remain; if there is none,
    /// the new one is closed at once.
    pub max_connections: usize,
    /// Connections served at once from one peer ([`PeerKey`](crate::PeerKey): an IPv6
    /// peer by its /64), so that one client's slow connections cannot hold every place
    /// (default 16).
    pub max_connections_per_peer: usize,
    /// A connection with no byte read or written for this long is closed (default 60 s),
    /// except while a handler works on a request it has read whole, until its answer
    /// starts: a slow answer (a model generating a whole text) is not cut off, a client
    /// that stops sending its body is. A streamed answer silent for this long between
    /// two chunks is cut off too: send a keep-alive chunk (an SSE comment) meanwhile.
    pub idle_timeout: Duration,
    /// The most time a client may take to send a request's headers (default 10 s): the
    /// slow-loris bound.
    pub header_timeout: Duration,
    /// How long [`serve_until`] lets requests in flight finish after its shutdown signal
    /// before it drops their connections (default 10 s).
    pub drain_timeout: Duration,
    /// Whether a connection may carry more than one request (default true). Off, each
    /// connection closes after its answer: for a one-shot receiver (an OAuth callback)
    /// that no client should hold open.
    pub keep_alive: bool,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 64,
            max_connections_per_peer: 16,
            idle_timeout: Duration::from_secs(60),
            header_timeout: Duration::from_secs(10),
            drain_timeout: Duration::from_secs(10),
            keep_alive: true,
        }
    }
}

/// The handler type [`serve`] calls for admitted requests; the
/// [`Caller`](super::Caller) and the peer's [`PeerAddr`](super::PeerAddr) are request
/// extensions. Its body streams, capped at the
/// guard's body limit; for a WebSocket handshake, [`hyper::upgrade::on`] gives the
/// connection once the handler has answered `101`.
pub type GuardedRequest = Request<Limited<RequestBody>>;

/// A handler's errors, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response [`serve`] sends: the handler's (streamed as it yields) or
/// the guard's own refusal.
pub struct ServeBody(UnsyncBoxBody<Bytes, BoxError>);

impl ServeBody {
    /// Wraps any body.
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        Self(body.map_err(Into::into).boxed_unsync())
    }
}

impl From<String> for ServeBody {
    fn from(text: String) -> Self {
        Self::new(Full::new(Bytes::from(text)))
    }
}

impl std::fmt::Debug for ServeBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServeBody")
    }
}

impl Body for ServeBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().0).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.0.size_hint()
    }
}

/// Serves HTTP/1.1 on `listener` until the future is dropped: [`serve_until`] with a
/// signal that never comes. Dropping it closes the listener and every connection.
///
/// ```no_run
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hearth_guard::{Caller, LocalGuard, ServeOptions, serve};
///
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let guard = Arc::new(LocalGuard::new().exempt("/system/status"));
/// serve(listener, guard, ServeOptions::default(), |request| async move {
///     let caller = request.extensions().get::<Caller>().cloned();
///     http::Response::new(Full::new(Bytes::from(format!("{caller:?}\n"))))
/// })
/// .await
/// # }
/// ```
pub async fn serve<H, F, B>(
    listener: TcpListener,
    guard: Arc<LocalGuard>,
    options: ServeOptions,
    handler: H,
) -> io::Result<()>
where
    H: Fn(GuardedRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    serve_until(listener, guard, options, handler, std::future::pending()).await
}

/// Serves HTTP/1.1 on `listener` until `shutdown` completes: each connection under the
/// [`ServeOptions`] caps, each request through `guard`, admitted ones to `handler`, whose
/// response body streams; upgrades (a WebSocket handshake the guard admitted) are handed
/// to the handler through [`hyper::upgrade::on`]; every response (refusals too) gets
/// [`SecurityHeaders`]' defaults unless the handler set its own.
///
/// On `shutdown` it stops accepting, lets every request in flight finish (idle
/// keep-alive connections close at once), and returns when they have, or after
/// [`ServeOptions::drain_timeout`], dropping what is left. Dropping the future closes
/// every connection it serves. An upgraded connection belongs to the handler that took
/// it: it still holds its places under the caps until it closes, and the handler closes
/// it on shutdown by watching the [`Shutdown`] request extension. Only a failing listener
/// ends it with an error. Needs a tokio runtime with timers.
pub async fn serve_until<H, F, B, S>(
    listener: TcpListener,
    guard: Arc<LocalGuard>,
    options: ServeOptions,
    handler: H,
    shutdown: S,
) -> io::Result<()>
where
    H: Fn(GuardedRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    S: Future<Output = ()>,
{
    serve_on(listener, None, guard, options, handler, shutdown).await
}

/// [`serve_until`] over TLS (feature `tls`): each connection's handshake must finish
/// within [`ServeOptions::header_timeout`], and holds its places under the caps while it
/// runs, so half-open handshakes are bounded like slow requests.
///
/// ```no_run
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hearth_guard::{LocalGuard, ServeOptions, serve_tls_until};
///
/// # async fn run(config: rustls::ServerConfig) -> Result<(), Box<dyn std::error::Error>> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// let tls = tokio_rustls::TlsAcceptor::from(Arc::new(config));
/// let guard = Arc::new(LocalGuard::new().allow_host("media.home.arpa")?);
/// serve_tls_until(listener, tls, guard, ServeOptions::default(), |_request| async {
///     http::Response::new(Full::new(Bytes::from_static(b"hello\n")))
/// }, tokio::signal::ctrl_c().map(|_| ()))
/// .await?;
/// # Ok(()) }
/// # use futures_util::FutureExt as _;
/// ```
#[cfg(feature = "tls")]
pub async fn serve_tls_until<H, F, B, S>(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    guard: Arc<LocalGuard>,
    options: ServeOptions,
    handler: H,
    shutdown: S,
) -> io::Result<()>
where
    H: Fn(GuardedRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    S: Future<Output = ()>,
{
    serve_on(listener, Some(tls), guard, options, handler, shutdown).await
}

/// The TLS acceptor, when the feature is on.
#[cfg(feature = "tls")]
type Tls = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Tls = Infallible;

async fn serve_on<H, F, B, S>(
    listener: TcpListener,
    tls: Option<Tls>,
    guard: Arc<LocalGuard>,
    options: ServeOptions,
    handler: H,
    shutdown: S,
) -> io::Result<()>
where
    H: Fn(GuardedRequest) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    S: Future<Output = ()>,
{
    let active = Arc::new(AtomicUsize::new(0));
    let per_peer = Arc::new(Mutex::new(HashMap::new()));
    let layer = LocalGuardLayer::new(Arc::clone(&guard));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut connections = JoinSet::new();
    let mut live = Live::default();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
            // Reap finished connections so the set holds only live ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // Out of descriptors and similar: back off instead of spinning.
            Err(e) if is_transient(&e) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        // Full (for this peer, or in all): the oldest connection (of this peer, or of
        // any) that has not had a request admitted (a silent socket, a slow-loris, a
        // refused client) gives its place up, so sockets that only hold places cannot
        // keep a credential holder out. Connections that were admitted are never pushed
        // out.
        let key = PeerKey::of(peer.ip());
        // An eviction for this peer also frees a global place (given back when the
        // aborted task is dropped): the newcomer takes it at once, evicting nobody else.
        let (peer_slot, evicted) =
            match PeerSlot::take(&per_peer, key, options.max_connections_per_peer) {
                Some(slot) => (slot, false),
                None if live.evict_oldest_unadmitted(Some(key)) => {
                    (PeerSlot::force(&per_peer, key), true)
                }
                None => {
                    drop(stream);
                    continue;
                }
            };
        let slot = match Slot::take(&active, options.max_connections) {
            Some(slot) => slot,
            None if evicted || live.evict_oldest_unadmitted(None) => Slot::force(&active),
            None => {
                drop(stream);
                continue;
            }
        };
        let admitted = Arc::new(AtomicBool::new(false));
        // Outside the guard, so refusals carry the headers too.
        let service = SecurityHeaders::new().layer(layer.clone().for_peer(peer).layer(Handler {
            handler: handler.clone(),
            shutdown: Shutdown(stopping.clone()),
            admitted: Arc::clone(&admitted),
            peer,
        }));
        let task = connections.spawn(handshake_then_serve(
            stream,
            tls.clone(),
            service,
            options,
            (slot, peer_slot),
            stopping.clone(),
        ));
        live.push(task, key, admitted);
    }
    drop(listener);
    let _ = stop.send(true);
    let drained = tokio::time::timeout(options.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.abort_all();
    }
    // The key uses noted since the last flush (best effort, off the async threads).
    if let Some(registry) = guard.key_registry_handle() {
        let _ = tokio::task::spawn_blocking(move || registry.flush_last_used()).await;
    }
    Ok(())
}

fn is_transient(e: &io::Error) -> bool {
    !matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::PermissionDenied | io::ErrorKind::Unsupported
    )
}

/// The TLS handshake first when there is one (bounded by the header timeout), then the
/// connection.
async fn handshake_then_serve<S>(
    stream: TcpStream,
    tls: Option<Tls>,
    service: S,
    options: ServeOptions,
    slots: (Slot, PeerSlot),
    stopping: tokio::sync::watch::Receiver<bool>,
) where
    S: Service<Request<RequestBody>, Response = Response<ServeBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    #[cfg(feature = "tls")]
    if let Some(acceptor) = tls {
        if let Ok(Ok(tls)) =
            tokio::time::timeout(options.header_timeout, acceptor.accept(stream)).await
        {
            connection(tls, service, options, slots, stopping).await;
        }
        return;
    }
    #[cfg(not(feature = "tls"))]
    let _: Option<Infallible> = tls;
    connection(stream, service, options, slots, stopping).await;
}

async fn connection<T, S>(
    stream: T,
    service: S,
    options: ServeOptions,
    slots: (Slot, PeerSlot),
    mut stopping: tokio::sync::watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<Request<RequestBody>, Response = Response<ServeBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    // The places travel with the stream: an upgraded connection (a WebSocket the handler
    // took) holds them until it closes, so upgrades cannot exceed the caps.
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(IdleTimeout::new(
        stream,
        options.idle_timeout,
        slots,
        Arc::clone(&activity),
    ));
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let (parts, body) = request.into_parts();
        let (body, handling) = activity.begin(body);
        let answer = service.clone().call(Request::from_parts(parts, body));
        async move {
            let answer = answer.await;
            drop(handling);
            answer
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .keep_alive(options.keep_alive)
        .header_read_timeout(options.header_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        () = async { drop(stopping.wait_for(|stop| *stop).await) } => {
            // Finish the request in flight, then close (an idle connection closes now).
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A request extension that [`serve_until`] adds: a handler that keeps a connection
/// beyond its answer (an upgraded WebSocket) watches it to close that connection on
/// shutdown, since such a connection is no longer the server's to drain.
#[derive(Debug, Clone)]
pub struct Shutdown(tokio::sync::watch::Receiver<bool>);

impl Shutdown {
    /// Whether the server is shutting down.
    pub fn is_signalled(&self) -> bool {
        *self.0.borrow()
    }

    /// Completes when the server shuts down (or is dropped).
    pub async fn signalled(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Adapts a handler closure to a `tower::Service`, adding the [`Shutdown`] extension and
/// marking its connection as admitted (the guard calls it for admitted requests only).
#[derive(Clone)]
struct Handler<H> {
    handler: H,
    shutdown: Shutdown,
    admitted: Arc<AtomicBool>,
    peer: std::net::SocketAddr,
}

impl<H, F, B> Service<GuardedRequest> for Handler<H>
where
    H: Fn(GuardedRequest) -> F,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response<ServeBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: GuardedRequest) -> Self::Future {
        // Only a credential holder's request protects its connection from eviction: an
        // exempt path or the localhost bypass is open to anyone, who could otherwise
        // hold every place with cheap requests.
        if request
            .extensions()
            .get::<super::Caller>()
            .is_some_and(super::Caller::holds_credential)
        {
            self.admitted.store(true, Ordering::Release);
        }
        request.extensions_mut().insert(self.shutdown.clone());
        request.extensions_mut().insert(super::PeerAddr(self.peer));
        let response = (self.handler)(request);
        Box::pin(async move { Ok(response.await.map(ServeBody::new)) })
    }
}

/// A connection younger than this is pushed out only when no older one can be: it may
/// not have had time to send its request (the browser's callback, a moment after it
/// connected).
const EVICTION_GRACE: Duration = Duration::from_millis(500);

/// One connection being served.
struct LiveConnection {
    task: tokio::task::AbortHandle,
    peer: PeerKey,
    since: Instant,
    /// Whether a credential holder's request was admitted on it.
    admitted: Arc<AtomicBool>,
}

/// The connections being served, oldest first.
#[derive(Default)]
struct Live(std::collections::VecDeque<LiveConnection>);

impl Live {
    fn push(&mut self, task: tokio::task::AbortHandle, peer: PeerKey, admitted: Arc<AtomicBool>) {
        self.0.retain(|c| !c.task.is_finished());
        self.0.push_back(LiveConnection {
            task,
            peer,
            since: Instant::now(),
            admitted,
        });
    }

    /// Aborts the oldest connection (of `peer`, or of any) on which no credential
    /// holder's request was admitted, preferring one past its grace time (so that a
    /// connection that just arrived gets to send its request); whether there was one.
    fn evict_oldest_unadmitted(&mut self, peer: Option<PeerKey>) -> bool {
        self.0.retain(|c| !c.task.is_finished());
        let candidate = |c: &LiveConnection| {
            !c.admitted.load(Ordering::Acquire) && peer.is_none_or(|peer| c.peer == peer)
        };
        let oldest = self
            .0
            .iter()
            .position(|c| candidate(c) && c.since.elapsed() >= EVICTION_GRACE)
            .or_else(|| self.0.iter().position(candidate));
        match oldest.and_then(|i| self.0.remove(i)) {
            Some(connection) => {
                connection.task.abort();
                true
            }
            None => false,
        }
    }
}

/// One of the `max_connections` places; given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    /// A place taken beyond the cap, for a connection that replaces an evicted one (whose
    /// place comes back when its aborted task is dropped, a moment later).
    fn force(active: &Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(active))
    }

    fn take(active: &Arc<AtomicUsize>, max: usize) -> Option<Self> {
        active
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Self(Arc::clone(active)))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One of a peer's `max_connections_per_peer` places; given back on drop (and the peer
/// forgotten with its last connection, so the table holds only connected peers).
struct PeerSlot {
    table: Arc<Mutex<HashMap<PeerKey, usize>>>,
    peer: PeerKey,
}

impl PeerSlot {
    fn take(
        table: &Arc<Mutex<HashMap<PeerKey, usize>>>,
        peer: PeerKey,
        max: usize,
    ) -> Option<Self> {
        let mut map = table.lock().unwrap_or_else(PoisonError::into_inner);
        let n = map.entry(peer).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Self {
            table: Arc::clone(table),
            peer,
        })
    }
}

impl PeerSlot {
    /// A place beyond the per-peer cap, for a connection that replaces an evicted one of
    /// the same peer (whose place comes back when its aborted task is dropped).
    fn force(table: &Arc<Mutex<HashMap<PeerKey, usize>>>, peer: PeerKey) -> Self {
        *table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(peer)
            .or_insert(0) += 1;
        Self {
            table: Arc::clone(table),
            peer,
        }
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = map.get_mut(&self.peer) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.peer);
            }
        }
    }
}

/// A stream that fails with `TimedOut` once nothing has been read or written for `idle`,
/// except while its request's handler works with nothing more to read.
struct IdleTimeout<T> {
    inner: T,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
    activity: Arc<Activity>,
    /// The connection's places under the caps, given back when the stream is dropped.
    _slots: (Slot, PeerSlot),
}

impl<T> IdleTimeout<T> {
    fn new(inner: T, idle: Duration, slots: (Slot, PeerSlot), activity: Arc<Activity>) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
            activity,
            _slots: slots,
        }
    }

    fn touch(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.idle);
    }

    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if self.activity.suspended() {
            self.touch();
        }
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out<T>() -> Poll<io::Result<T>> {
    Poll::Ready(Err(io::Error::new(
        io::ErrorKind::TimedOut,
        "connection idle too long",
    )))
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(result) => {
                self.touch();
                Poll::Ready(result)
            }
            Poll::Pending if self.expired(cx) => timed_out(),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Ready(result) => {
                self.touch();
                Poll::Ready(result)
            }
            Poll::Pending if self.expired(cx) => timed_out(),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
