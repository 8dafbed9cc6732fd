//! [`LocalGuard`]: the checks every request to a local server passes, in one place.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use hearth_token_guard::apikey::{KeyRegistry, Roles};
use hearth_token_guard::{Error as TokenError, SessionToken};
use http::header::{ACCESS_CONTROL_REQUEST_METHOD, CONTENT_LENGTH, HOST, ORIGIN};
use http::{HeaderMap, HeaderValue, Method, Uri};

use super::authority::Authority;
use super::canonical_path::check_canonical_path;
use super::credentials::{Presented, presented};
use super::{
    Caller, Decision, Denial, DeniedRequest, DenyReason, HostAllowlist, Limit, OriginAllowlist,
    PeerKey, Preflight, RateLimiter,
};
use crate::Error;

/// The default request body cap: 1 MiB.
pub const DEFAULT_MAX_BODY: u64 = 1 << 20;

/// Which peers may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Network {
    /// Loopback only (`127.0.0.0/8`, `::1`, and `::ffff:127.0.0.0/104`). The default.
    Loopback,
    /// Loopback plus private and link-local addresses (`10/8`, `172.16/12`,
    /// `192.168/16`, `169.254/16`, `fc00::/7`, `fe80::/10`): a home-network server.
    Lan,
}

/// Guards a local HTTP or WebSocket server, framework-agnostic: give it the request head
/// and the peer address, get a [`Decision`].
///
/// In order, a request must come from an allowed peer ([`Network`]), name an allowed
/// `Host` (DNS rebinding: a missing or empty `Host` is refused), carry an allowed `Origin`
/// if it has one (and, with no `Origin`, not be `Sec-Fetch-Site: cross-site`/`same-site`),
/// have a canonical path (400 otherwise: `//keys`, `/%6Beys` and `/a/../keys` would
/// escape rules written for `/keys`; see [`check_canonical_path`](crate::check_canonical_path)),
/// present a credential (session token or API key; not needed on exempt paths or,
/// if enabled, from loopback), hold the permission its path requires, announce a body
/// within the cap, and be within its rate limit (keyed by key id, session, or peer IP).
///
/// A CORS preflight (`OPTIONS` with `Access-Control-Request-Method`) carries no
/// credentials: from an allowed peer, Host and Origin it gets [`Decision::Preflight`]; and
/// [`cors_origin`](Self::cors_origin) tells which responses may carry
/// `Access-Control-Allow-Origin` (the tower layer does both).
///
/// Secure by default: loopback peers, loopback Host names, no Origin allowed, no
/// credential configured (so everything but exempt paths is refused), 1 MiB bodies.
///
/// ```
/// use std::net::SocketAddr;
/// use std::time::Duration;
/// use hearth_guard::{Caller, Decision, DenyReason, Limit, LocalGuard};
/// use hearth_token_guard::SessionToken;
///
/// let session = SessionToken::generate()?;
/// let guard = LocalGuard::new()
///     .session_token(session.clone())
///     .allow_origin("tauri://localhost")?
///     .exempt("/system/status")
///     .rate_limit("/", Limit::sliding_window(100, Duration::from_secs(1))?)?;
///
/// let peer: SocketAddr = "127.0.0.1:50000".parse().unwrap();
/// let bearer = format!("Bearer {}", session.expose_secret());
/// let request = |host: &str, path: &str, auth: Option<&str>| {
///     let mut r = http::Request::builder().uri(path).header("host", host);
///     if let Some(a) = auth {
///         r = r.header("authorization", a);
///     }
///     r.body(()).unwrap().into_parts().0
/// };
///
/// let ok = guard.check(&request("127.0.0.1:8080", "/api", Some(&bearer)), peer);
/// assert!(matches!(ok, Decision::Allow(Caller::Session)));
/// let open = guard.check(&request("127.0.0.1:8080", "/system/status", None), peer);
/// assert!(matches!(open, Decision::Allow(Caller::Exempt)));
/// let Decision::Deny(d) = guard.check(&request("evil.example:8080", "/api", Some(&bearer)), peer)
/// else { panic!() };
/// assert_eq!(d.reason(), DenyReason::HostNotAllowed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct LocalGuard {
    network: Network,
    hosts: HostAllowlist,
    origins: OriginAllowlist,
    session: Option<SessionToken>,
    registry: Option<KeyRegistry>,
    #[cfg(feature = "jwt")]
    jwt: Option<Arc<crate::JwtBearer>>,
    exempt: Vec<String>,
    navigations: Vec<String>,
    localhost_bypass: bool,
    max_body: u64,
    limits: Vec<(String, PathLimit)>,
    failed_auth: Option<Arc<RateLimiter>>,
    required: Vec<(String, String)>,
    roles: Roles,
    on_denial: Option<DenialHook>,
    /// Rules match the path lowercased ([`LocalGuard::case_insensitive_paths`]).
    fold_case: bool,
}

/// What [`LocalGuard::on_denial`] calls.
type DenialHook = Arc<dyn Fn(&DeniedRequest<'_>) + Send + Sync>;

/// One path's limit, in two tables: authenticated callers (by key id or session) and
/// everyone else (by [`PeerKey`]), so that no number of unauthenticated peers can fill the
/// table the credential holders are counted in.
#[derive(Clone)]
struct PathLimit {
    callers: Arc<RateLimiter>,
    peers: Arc<RateLimiter>,
}

/// Failed credentials admitted per peer by default: 10 a minute.
pub const DEFAULT_FAILED_AUTH_LIMIT: (u32, std::time::Duration) =
    (10, std::time::Duration::from_secs(60));

impl Default for LocalGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl LocalGuard {
    /// The secure defaults described above.
    pub fn new() -> Self {
        Self {
            network: Network::Loopback,
            hosts: HostAllowlist::loopback(),
            origins: OriginAllowlist::empty(),
            session: None,
            registry: None,
            #[cfg(feature = "jwt")]
            jwt: None,
            exempt: Vec::new(),
            navigations: Vec::new(),
            localhost_bypass: false,
            max_body: DEFAULT_MAX_BODY,
            limits: Vec::new(),
            // Only the OS generator (the limiter's hash seed) can fail here: `new` stays
            // infallible, and without the limiter every key is refused (fail closed).
            failed_auth: Limit::sliding_window(
                DEFAULT_FAILED_AUTH_LIMIT.0,
                DEFAULT_FAILED_AUTH_LIMIT.1,
            )
            .and_then(RateLimiter::new)
            .ok()
            .map(|l| Arc::new(l.admit_when_full())),
            required: Vec::new(),
            roles: Roles::builtin(),
            on_denial: None,
            fold_case: false,
        }
    }

    /// Which peers may connect. With [`Network::Lan`], also add the server's LAN names or
    /// addresses with [`allow_host`](Self::allow_host).
    pub fn network(mut self, network: Network) -> Self {
        self.network = network;
        self
    }

    /// Replaces the `Host` allowlist (default [`HostAllowlist::loopback`]).
    pub fn hosts(mut self, hosts: HostAllowlist) -> Self {
        self.hosts = hosts;
        self
    }

    /// Adds one `Host` allowlist entry (`name` or `name:port`).
    pub fn allow_host(mut self, entry: &str) -> Result<Self, Error> {
        self.hosts = self.hosts.allow(entry)?;
        Ok(self)
    }

    /// Replaces the `Origin` allowlist (default: none).
    pub fn origins(mut self, origins: OriginAllowlist) -> Self {
        self.origins = origins;
        self
    }

    /// Adds one `Origin` allowlist entry (see [`OriginAllowlist`]).
    pub fn allow_origin(mut self, entry: &str) -> Result<Self, Error> {
        self.origins = self.origins.allow(entry)?;
        Ok(self)
    }

    /// Admits the holder of this session token (compared in constant time), as
    /// [`Caller::Session`]. Pair it with a `SessionTokenFile` the UI reads.
    pub fn session_token(mut self, token: SessionToken) -> Self {
        self.session = Some(token);
        self
    }

    /// Admits JWT access tokens from an issuer (`Authorization: Bearer eyJ…`), as
    /// [`Caller::Jwt`]; failed ones count against the peer's failed-credential budget
    /// like API keys. Feature `jwt`.
    #[cfg(feature = "jwt")]
    pub fn jwt_bearer(mut self, jwt: crate::JwtBearer) -> Self {
        self.jwt = Some(Arc::new(jwt));
        self
    }

    /// Admits keys issued by this registry, as [`Caller::Key`] with their role. Failed
    /// keys are limited per peer ([`failed_auth_limit`](Self::failed_auth_limit)).
    pub fn key_registry(mut self, registry: KeyRegistry) -> Self {
        self.registry = Some(registry);
        self
    }

    /// A path (exact match, no query) open without credentials, such as a health check.
    /// Host, Origin, body and rate-limit checks still apply.
    pub fn exempt(mut self, path: &str) -> Self {
        let path = self.folded(path);
        self.exempt.push(path);
        self
    }

    /// Matches the path rules (exempt paths, required permissions, rate limits) without
    /// regard to ASCII case, for a server that routes `/System/Info` and `/system/info`
    /// alike (ASP.NET, so Jellyfin): otherwise a rule written for one spelling is escaped
    /// by another. Applies to the rules given before and after it.
    ///
    /// ```
    /// use hearth_guard::{Decision, LocalGuard};
    ///
    /// let guard = LocalGuard::new().exempt("/System/Info/Public").case_insensitive_paths(true);
    /// let (request, ()) = http::Request::get("/system/info/PUBLIC")
    ///     .header("host", "127.0.0.1:8096")
    ///     .body(())?
    ///     .into_parts();
    /// assert!(matches!(guard.check(&request, "127.0.0.1:50000".parse()?), Decision::Allow(_)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn case_insensitive_paths(mut self, enabled: bool) -> Self {
        self.fold_case = enabled;
        if enabled {
            for p in &mut self.exempt {
                p.make_ascii_lowercase();
            }
            for (p, _) in &mut self.required {
                p.make_ascii_lowercase();
            }
            for (p, _) in &mut self.limits {
                p.make_ascii_lowercase();
            }
        }
        self
    }

    /// `path` as the rules store it.
    fn folded(&self, path: &str) -> String {
        if self.fold_case {
            path.to_ascii_lowercase()
        } else {
            path.to_owned()
        }
    }

    /// Admits cross-site top-level navigations (a `GET` with `Sec-Fetch-Mode: navigate` and
    /// `Sec-Fetch-Site: cross-site`, as a browser sends when another site redirects it
    /// here) on this exact path, which the cross-site rule otherwise refuses. For a
    /// redirect target such as an OAuth callback (hearth-pkce's loopback receiver), whose
    /// request is authenticated by what it carries (`state`), never for an API: any page
    /// can navigate a browser anywhere. Credentials and every other check still apply.
    pub fn allow_navigation(mut self, path: &str) -> Self {
        self.navigations.push(path.to_owned());
        self
    }

    /// Admits loopback peers without credentials (off by default).
    ///
    /// The trade-off: every process of every user on the machine, and any web page that
    /// gets past the Host and Origin checks, then has full access. Use it only for
    /// single-user machines and servers with nothing to protect from local software.
    pub fn localhost_bypass(mut self, enabled: bool) -> Self {
        self.localhost_bypass = enabled;
        self
    }

    /// The request body cap in bytes (default [`DEFAULT_MAX_BODY`]). Checked against
    /// `Content-Length` here; the tower layer and `serve` also cap streamed bodies.
    pub fn max_body(mut self, bytes: u64) -> Self {
        self.max_body = bytes;
        self
    }

    /// The body cap in force.
    pub fn body_limit(&self) -> u64 {
        self.max_body
    }

    /// The key registry (a handle sharing its memory), to flush its last-used times.
    pub(crate) fn key_registry_handle(&self) -> Option<KeyRegistry> {
        self.registry.clone()
    }

    /// Applies `limit` per client to `prefix` and the paths below it, by whole segments
    /// (`/keys` covers `/keys/new`, not `/keystore`; `/` covers everything).
    /// The longest matching prefix's limit applies, so specific policies (key generation
    /// 5/min) can sit beside a general one (60/min).
    ///
    /// Credential holders and unauthenticated peers (exempt paths, the localhost bypass,
    /// preflights) are counted in separate tables, each client with the full `limit`;
    /// peers by [`PeerKey`] (an IPv6 peer by its /64).
    pub fn rate_limit(mut self, prefix: &str, limit: Limit) -> Result<Self, Error> {
        check_prefix(prefix)?;
        let table = PathLimit {
            callers: Arc::new(RateLimiter::new(limit)?),
            peers: Arc::new(RateLimiter::new(limit)?),
        };
        let prefix = self.folded(prefix);
        self.limits.push((prefix, table));
        self.limits.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(self)
    }

    /// How many failed credentials (unknown, forged, revoked or expired API keys) a peer
    /// ([`PeerKey`]) may present; past that it gets 429 **before** its key is looked up,
    /// until the limit recovers. Default [`DEFAULT_FAILED_AUTH_LIMIT`], 10 a minute. Each
    /// attempt is counted before the lookup (so concurrent attempts cannot slip past
    /// together) and given back when the key proves valid. The session token is compared
    /// first and never counted: a flood of forged keys from the session holder's own
    /// address does not lock it out. A table filled from more addresses than it holds
    /// admits newcomers to the lookup untracked rather than refusing them all
    /// ([`RateLimiter::admit_when_full`]): lookups are in memory, and a key still has to
    /// be valid. A registry that cannot be read counts as a failure too.
    pub fn failed_auth_limit(mut self, limit: Limit) -> Result<Self, Error> {
        self.failed_auth = Some(Arc::new(RateLimiter::new(limit)?.admit_when_full()));
        Ok(self)
    }

    /// Requires `permission` (`resource:action`) of API-key callers on `prefix` and the
    /// paths below it (by whole segments), checked against [`roles`](Self::roles). The session holder and the
    /// localhost bypass are not restricted; exempt paths never reach this check.
    pub fn require(mut self, prefix: &str, permission: &str) -> Result<Self, Error> {
        check_prefix(prefix)?;
        hearth_token_guard::apikey::Permission::parse(permission).map_err(|_| {
            Error::InvalidConfig {
                reason: "a required permission is resource:action",
            }
        })?;
        let prefix = self.folded(prefix);
        self.required.push((prefix, permission.to_owned()));
        self.required
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        Ok(self)
    }

    /// The role definitions used by [`require`](Self::require) (default
    /// [`Roles::builtin`]).
    pub fn roles(mut self, roles: Roles) -> Self {
        self.roles = roles;
        self
    }

    /// Calls `hook` with every refusal, as it is decided (for an audit log's
    /// `FAILED_AUTH_ATTEMPT`, a metric, a log line). It gets the method, the path (never
    /// the query, which may carry an `access_token`), the peer and the [`Denial`]; no
    /// credential. It runs on the request's thread: hand slow work (a disk write) off.
    ///
    /// ```
    /// use std::sync::{Arc, Mutex};
    /// use hearth_guard::{DenyReason, LocalGuard};
    ///
    /// let refused = Arc::new(Mutex::new(Vec::new()));
    /// let seen = Arc::clone(&refused);
    /// let guard = LocalGuard::new().on_denial(move |denied| {
    ///     seen.lock().unwrap().push((denied.path.to_owned(), denied.denial.reason()));
    /// });
    /// let (request, ()) = http::Request::get("/items?access_token=s3cret")
    ///     .header("host", "127.0.0.1:8096")
    ///     .body(())?
    ///     .into_parts();
    /// guard.check(&request, "127.0.0.1:50000".parse()?);
    /// assert_eq!(
    ///     refused.lock().unwrap().as_slice(),
    ///     [("/items".to_owned(), DenyReason::MissingCredentials)]
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn on_denial(mut self, hook: impl Fn(&DeniedRequest<'_>) + Send + Sync + 'static) -> Self {
        self.on_denial = Some(Arc::new(hook));
        self
    }

    /// Decides on a request head (`http::request::Parts`) from `peer`.
    pub fn check(&self, parts: &http::request::Parts, peer: SocketAddr) -> Decision {
        self.check_head(&parts.method, &parts.uri, &parts.headers, peer)
    }

    /// [`check`](Self::check) for a whole request.
    pub fn check_request<B>(&self, request: &http::Request<B>, peer: SocketAddr) -> Decision {
        self.check_head(request.method(), request.uri(), request.headers(), peer)
    }

    /// The `Origin` to echo in `Access-Control-Allow-Origin` for this request: its
    /// `Origin` when that is on the allowlist, else `None`. The tower layer adds it (with
    /// `Vary: Origin`) to every response; framework-agnostic callers add it themselves so
    /// the allowed web page can read the answer.
    pub fn cors_origin(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        match single(headers, ORIGIN) {
            Single::One(origin) if self.origins.admits(origin) => {
                HeaderValue::from_str(origin).ok()
            }
            _ => None,
        }
    }

    fn check_head(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> Decision {
        let decision = self.decide_head(method, uri, headers, peer);
        if let (Decision::Deny(denial), Some(hook)) = (&decision, &self.on_denial) {
            hook(&DeniedRequest {
                method,
                path: uri.path(),
                peer,
                denial,
            });
        }
        decision
    }

    fn decide_head(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> Decision {
        let preflight = method == Method::OPTIONS
            && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD)
            && headers.contains_key(ORIGIN);
        if preflight {
            return match self.preflight(method, uri, headers, peer) {
                Ok(p) => Decision::Preflight(p),
                Err(denial) => Decision::Deny(denial),
            };
        }
        match self.decide(method, uri, headers, peer) {
            Ok(caller) => Decision::Allow(caller),
            Err(denial) => Decision::Deny(denial),
        }
    }

    /// A CORS preflight carries no credentials: it is admitted for an allowed peer, Host
    /// and Origin and answered by the guard, without reaching the handler. It is not
    /// counted against any rate limit: a table of unauthenticated peers filled by an
    /// attacker must not refuse the preflight of the app's own web UI (which then could
    /// not send its credentialed request at all).
    fn preflight(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> Result<Preflight, Denial> {
        self.source(method, uri, headers, peer)?;
        canonical_path(uri)?;
        let origin = self
            .cors_origin(headers)
            .ok_or(Denial::new(DenyReason::OriginNotAllowed))?;
        Ok(Preflight::new(origin))
    }

    /// The checks on where a request comes from: peer, Host, and Origin or
    /// Sec-Fetch-Site. Returns the peer's canonical address.
    fn source(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> Result<IpAddr, Denial> {
        let deny = |reason| Err(Denial::new(reason));
        let peer_ip = canonical(peer.ip());
        if !self.peer_allowed(peer_ip) {
            return deny(DenyReason::PeerNotAllowed);
        }
        if !self.host_allowed(uri, headers) {
            return deny(DenyReason::HostNotAllowed);
        }
        match single(headers, ORIGIN) {
            Single::Absent => {
                if let Single::One(site) = single(headers, "sec-fetch-site")
                    && matches!(site.as_bytes(), b"cross-site" | b"same-site")
                    && !self.navigation_allowed(method, uri, headers)
                {
                    return deny(DenyReason::CrossSite);
                }
            }
            Single::One(origin) if self.origins.admits(origin) => {}
            _ => return deny(DenyReason::OriginNotAllowed),
        }
        Ok(peer_ip)
    }

    /// Whether this is a top-level navigation (`GET`, `Sec-Fetch-Mode: navigate`) to a
    /// path opened to them with [`allow_navigation`](Self::allow_navigation).
    fn navigation_allowed(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        method == Method::GET
            && matches!(single(headers, "sec-fetch-mode"), Single::One("navigate"))
            && self.navigations.iter().any(|p| p == uri.path())
    }

    fn decide(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        peer: SocketAddr,
    ) -> Result<Caller, Denial> {
        let deny = |reason| Err(Denial::new(reason));
        let peer_ip = self.source(method, uri, headers, peer)?;
        let path = canonical_path(uri)?;
        let lowered;
        let path = if self.fold_case {
            lowered = path.to_ascii_lowercase();
            lowered.as_str()
        } else {
            path
        };
        let caller = if self.exempt.iter().any(|p| p == path) {
            Caller::Exempt
        } else if self.localhost_bypass && peer_ip.is_loopback() {
            Caller::LocalBypass
        } else {
            self.authenticate(headers, uri.query(), PeerKey::of(peer_ip))?
        };
        if let Some((_, permission)) = self.required.iter().find(|(p, _)| under(path, p)) {
            let allowed = match &caller {
                Caller::Key(principal) => self.roles.authorize(principal, permission).is_ok(),
                #[cfg(feature = "jwt")]
                Caller::Jwt { permissions, .. } => permissions.allows(permission).unwrap_or(false),
                Caller::Exempt | Caller::LocalBypass | Caller::Session => true,
            };
            if !allowed {
                return deny(DenyReason::Forbidden);
            }
        }
        match single(headers, CONTENT_LENGTH) {
            Single::Absent => {}
            // 1*DIGIT (RFC 9110 §8.6): no sign, no spaces; too large to parse is too large.
            Single::One(len) if !len.is_empty() && len.bytes().all(|b| b.is_ascii_digit()) => {
                if len.parse::<u64>().map_or(true, |n| n > self.max_body) {
                    return deny(DenyReason::BodyTooLarge);
                }
            }
            Single::One(_) => return deny(DenyReason::BodyTooLarge),
            Single::Many | Single::Invalid => return deny(DenyReason::BodyTooLarge),
        }
        if let Some((_, table)) = self.limits.iter().find(|(p, _)| under(path, p)) {
            let admitted = match &caller {
                Caller::Key(p) => table.callers.check(&(1u8, p.key_id.as_str())),
                #[cfg(feature = "jwt")]
                Caller::Jwt { sub, .. } => table.callers.check(&(4u8, sub.as_str())),
                Caller::Session => table.callers.check(&2u8),
                Caller::Exempt | Caller::LocalBypass => table.peers.check(&PeerKey::of(peer_ip)),
            };
            admitted.map_err(Denial::rate_limited)?;
        }
        Ok(caller)
    }

    fn peer_allowed(&self, ip: IpAddr) -> bool {
        if ip.is_loopback() {
            return true;
        }
        match (self.network, ip) {
            (Network::Loopback, _) => false,
            (Network::Lan, IpAddr::V4(v4)) => v4.is_private() || v4.is_link_local(),
            (Network::Lan, IpAddr::V6(v6)) => {
                let first = v6.segments()[0];
                (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
            }
        }
    }

    fn host_allowed(&self, uri: &Uri, headers: &HeaderMap) -> bool {
        let from_header = match single(headers, HOST) {
            Single::One(h) => Authority::parse_host(h),
            Single::Absent => None,
            Single::Many | Single::Invalid => return false,
        };
        // HTTP/2 and absolute-form requests carry the authority in the URI; when both are
        // present they must agree.
        let from_uri = uri.authority().map(|a| Authority::parse_host(a.as_str()));
        let authority = match (from_header, from_uri) {
            (Some(h), None) => h,
            (None, Some(Some(u))) if headers.get(HOST).is_none() => u,
            (Some(h), Some(Some(u))) if h == u => h,
            _ => return false,
        };
        self.hosts.admits_authority(&authority)
    }

    fn authenticate(
        &self,
        headers: &HeaderMap,
        query: Option<&str>,
        peer: PeerKey,
    ) -> Result<Caller, Denial> {
        let token = match presented(headers, query) {
            Presented::None => return Err(Denial::new(DenyReason::MissingCredentials)),
            Presented::Malformed => return Err(Denial::new(DenyReason::InvalidCredentials)),
            Presented::Token(t) => t,
        };
        if let Some(session) = &self.session
            && session.verify(token.expose_secret())
        {
            return Ok(Caller::Session);
        }
        #[cfg(feature = "jwt")]
        if let Some(jwt) = &self.jwt
            && looks_like_jwt(token.expose_secret())
        {
            let Some(failures) = &self.failed_auth else {
                return Err(Denial::new(DenyReason::Unavailable));
            };
            failures.check(&peer).map_err(Denial::too_many_failures)?;
            return match jwt.validate(token.expose_secret(), &self.roles) {
                Ok((sub, permissions)) => {
                    failures.refund(&peer);
                    Ok(Caller::Jwt { sub, permissions })
                }
                Err(_) => Err(Denial::new(DenyReason::InvalidToken)),
            };
        }
        let Some(registry) = &self.registry else {
            return Err(Denial::new(if self.session.is_some() {
                DenyReason::InvalidCredentials
            } else {
                DenyReason::MissingCredentials
            }));
        };
        // Counted before the lookup, given back if the key is good (or the registry could
        // not judge it): a peer past its budget never reaches the registry.
        let Some(failures) = &self.failed_auth else {
            return Err(Denial::new(DenyReason::Unavailable));
        };
        failures.check(&peer).map_err(Denial::too_many_failures)?;
        let reason = match registry.verify(token.expose_secret()) {
            Ok(principal) => {
                failures.refund(&peer);
                if registry.flush_due() {
                    flush_in_background(registry.clone());
                }
                return Ok(Caller::Key(principal));
            }
            Err(TokenError::RevokedApiKey) => DenyReason::RevokedKey,
            Err(TokenError::ExpiredApiKey) => DenyReason::ExpiredKey,
            Err(TokenError::MalformedApiKey { .. } | TokenError::UnknownApiKey) => {
                DenyReason::InvalidCredentials
            }
            // Counted (not refunded): a broken registry must not become an unthrottled
            // path to it.
            Err(_) => DenyReason::Unavailable,
        };
        Err(Denial::new(reason))
    }
}

impl std::fmt::Debug for LocalGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalGuard")
            .field("network", &self.network)
            .field("hosts", &self.hosts)
            .field("origins", &self.origins)
            .field("session", &self.session)
            .field("registry", &self.registry)
            .field("exempt", &self.exempt)
            .field("localhost_bypass", &self.localhost_bypass)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The request's path, if canonical: every path rule and limit sees only this spelling.
fn canonical_path(uri: &Uri) -> Result<&str, Denial> {
    let path = uri.path();
    check_canonical_path(path).map_err(|_| Denial::new(DenyReason::NonCanonicalPath))?;
    Ok(path)
}

/// Writes the registry's noted last-used times off the async threads (best effort: a
/// failed write keeps them for the next flush and denies nothing). Without a tokio
/// runtime the caller is not async, and the write happens here.
fn flush_in_background(registry: KeyRegistry) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(move || registry.flush_last_used());
        }
        Err(_) => {
            let _ = registry.flush_last_used();
        }
    }
}

/// A compact JWS: three base64url parts, the header a JSON object (`eyJ`).
#[cfg(feature = "jwt")]
fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|&b| b == b'.').count() == 2
}

/// A path rule's prefix must be canonical, or no request could ever match it.
fn check_prefix(prefix: &str) -> Result<(), Error> {
    check_canonical_path(prefix).map_err(|_| Error::InvalidConfig {
        reason: "a path prefix must be a canonical path (starting with /, no //, dot segments or needless escapes)",
    })
}

/// Whether `path` is `prefix` or below it, by whole segments, as the guard's path rules
/// match: `/keys` covers `/keys` and `/keys/new` but not `/keystore`; `/` covers
/// everything.
///
/// ```
/// use hearth_guard::path_under;
///
/// assert!(path_under("/keys/new", "/keys"));
/// assert!(!path_under("/keystore", "/keys"));
/// assert!(path_under("/anything", "/"));
/// ```
#[must_use]
pub fn path_under(path: &str, prefix: &str) -> bool {
    under(path, prefix)
}

fn under(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
        None => false,
    }
}

/// `::ffff:a.b.c.d` is the IPv4 peer it maps (a dual-stack socket reports IPv4 peers so).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

enum Single<'a> {
    Absent,
    One(&'a str),
    Many,
    Invalid,
}

/// A header that must appear at most once, as visible ASCII.
fn single<K: http::header::AsHeaderName>(headers: &HeaderMap, name: K) -> Single<'_> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (None, _) => Single::Absent,
        (Some(v), None) => v.to_str().map_or(Single::Invalid, Single::One),
        (Some(_), Some(_)) => Single::Many,
    }
}

#[cfg(test)]
mod tests {
    use super::under;

    #[test]
    fn prefixes_match_whole_segments() {
        assert!(under("/keys", "/keys"));
        assert!(under("/keys/new", "/keys"));
        assert!(under("/keys/new", "/keys/"));
        assert!(!under("/keystore", "/keys"));
        assert!(!under("/key", "/keys"));
        assert!(under("/anything", "/"));
        assert!(under("/", "/"));
    }
}
