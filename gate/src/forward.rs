//! [`Forwarder`]: an admitted request, rewritten for the upstream (credentials the gate
//! checked removed, the caller added, hop-by-hop headers dropped) and its answer streamed
//! back; an upgrade (a WebSocket) tunnelled both ways.

use std::error::Error as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hearth_guard::{BoxError, Caller, GuardedRequest, PeerAddr, ServeBody, Shutdown};
use http::header::{CONNECTION, HOST, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::BodyExt as _;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::audit_events::Recorder;
use crate::caller::{CALLER_HEADER, caller_header};

/// The body sent upstream: the client's, streamed under the guard's cap.
type UpBody = UnsyncBoxBody<Bytes, BoxError>;

/// The state several gates share: limits and key revocations in Redis.
#[cfg(feature = "redis")]
pub(crate) struct Shared {
    pub(crate) redis: Arc<crate::RedisLimiter>,
    pub(crate) limits: crate::shared_limits::SharedLimits,
}

/// Without the `redis` feature there is nothing to share.
#[cfg(not(feature = "redis"))]
pub(crate) enum Shared {}

/// Forwards admitted requests to one upstream.
pub(crate) struct Forwarder {
    client: Client<HttpConnector, UpBody>,
    upstream: http::uri::Authority,
    strip_credentials: bool,
    caller_header: bool,
    timeout: Duration,
    /// `http` or `https`: how the client reached the gate (`X-Forwarded-Proto`).
    scheme: &'static str,
    recorder: Option<Arc<Recorder>>,
    #[cfg_attr(
        not(feature = "redis"),
        allow(dead_code, reason = "always None without the redis feature")
    )]
    shared: Option<Shared>,
}

/// Connection-level headers (RFC 9110 §7.6.1), never forwarded as they are.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
];

/// Headers the gate sets itself, or that name the client, the host or the path to
/// frameworks behind a proxy (`X-Original-URL` reroutes some): a client's own are dropped.
/// Every `X-Forwarded-*` goes too.
const FORWARDED: [&str; 11] = [
    CALLER_HEADER,
    "forwarded",
    "x-real-ip",
    "x-client-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-original-url",
    "x-original-uri",
    "x-original-host",
    "x-rewrite-url",
    "x-http-method-override",
];

/// The headers a credential is read from.
const CREDENTIALS: [&str; 2] = ["authorization", "x-api-key"];

impl Forwarder {
    pub(crate) fn new(
        config: &crate::Config,
        upstream: http::uri::Authority,
        tls: bool,
        recorder: Option<Arc<Recorder>>,
        shared: Option<Shared>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Self {
            client,
            upstream,
            strip_credentials: config.strip_credentials(),
            caller_header: config.caller_header(),
            timeout: config.upstream_timeout(),
            scheme: if tls { "https" } else { "http" },
            recorder,
            shared,
        }
    }

    /// Forwards one admitted request and gives the upstream's answer (or 502/504/413).
    pub(crate) async fn forward(&self, mut request: GuardedRequest) -> Response<ServeBody> {
        let caller = request
            .extensions()
            .get::<Caller>()
            .cloned()
            .unwrap_or(Caller::Exempt);
        let peer = request.extensions().get::<PeerAddr>().map(|p| p.0);
        let shutdown = request.extensions().get::<Shutdown>().cloned();
        #[cfg(feature = "redis")]
        if let Some(shared) = &self.shared {
            // `serve` always gives the peer; without one nothing can be counted.
            let Some(peer) = peer else {
                return hearth_guard::Denial::new(hearth_guard::DenyReason::PeerNotAllowed)
                    .to_response();
            };
            if let Err(denial) = self.shared_checks(shared, &request, &caller, peer).await {
                if let Some(recorder) = &self.recorder {
                    recorder.refused(request.method(), request.uri().path(), peer, &denial);
                }
                return denial.to_response();
            }
        }
        if let (Some(recorder), Some(peer)) = (&self.recorder, peer) {
            recorder.admitted(&caller, request.method(), request.uri().path(), peer);
        }
        let ws_key = websocket_key(request.method(), request.headers());
        let client_side = ws_key.is_some().then(|| hyper::upgrade::on(&mut request));
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .to_owned();
        let Ok(uri) = Uri::builder()
            .scheme("http")
            .authority(self.upstream.clone())
            .path_and_query(path_and_query)
            .build()
        else {
            return answer(
                StatusCode::BAD_REQUEST,
                "the request target cannot be forwarded",
            );
        };
        parts.uri = uri;
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();
        let upgrade = ws_key
            .is_some()
            .then(|| HeaderValue::from_static("websocket"));
        self.rewrite_headers(&mut parts.headers, &caller, peer, upgrade);
        let body: UpBody = body.map_err(BoxError::from).boxed_unsync();
        let sent = tokio::time::timeout(
            self.timeout,
            self.client.request(Request::from_parts(parts, body)),
        );
        let mut response = match sent.await {
            Err(_) => {
                return answer(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the upstream did not answer in time",
                );
            }
            Ok(Err(e)) if body_too_large(&e) => {
                return answer(StatusCode::PAYLOAD_TOO_LARGE, "request body too large");
            }
            Ok(Err(_)) => return answer(StatusCode::BAD_GATEWAY, "the upstream cannot be reached"),
            Ok(Ok(response)) => response,
        };
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let accepted = ws_key
                .as_ref()
                .is_some_and(|key| accepts_websocket(response.headers(), key));
            match client_side {
                Some(client_side) if accepted => {
                    let upstream_side = hyper::upgrade::on(&mut response);
                    tokio::spawn(tunnel(client_side, upstream_side, shutdown));
                }
                // The upstream switched protocols unasked, or to something else than
                // the WebSocket asked for: nothing is tunnelled.
                _ => {
                    return answer(
                        StatusCode::BAD_GATEWAY,
                        "the upstream switched protocols unasked",
                    );
                }
            }
        } else {
            remove_hop_by_hop(response.headers_mut());
        }
        let (parts, body) = response.into_parts();
        Response::from_parts(parts, ServeBody::new(body))
    }

    /// What the gates decide together: a key revoked through any of them is refused
    /// (within a second), and the `[[limit]]` rules are counted once for all.
    #[cfg(feature = "redis")]
    async fn shared_checks(
        &self,
        shared: &Shared,
        request: &GuardedRequest,
        caller: &Caller,
        peer: SocketAddr,
    ) -> Result<(), hearth_guard::Denial> {
        use hearth_guard::{Denial, DenyReason, RetryAfter};
        if let Caller::Key(principal) = caller {
            if shared.redis.is_revoked(principal.key_id.as_str()) {
                return Err(Denial::new(DenyReason::RevokedKey));
            }
            // Revocations not confirmed with Redis lately: a key revoked through another
            // gate meanwhile would not be known here. Keys wait (503) unless the config
            // counts locally during an outage, which trusts the last known set.
            if !shared.redis.revocations_current() && !shared.limits.counts_locally() {
                return Err(Denial::retry_later(
                    DenyReason::Unavailable,
                    RetryAfter::new(std::time::Duration::from_secs(1)),
                ));
            }
        }
        shared
            .limits
            .check(request.uri().path(), caller, peer)
            .await
    }

    fn rewrite_headers(
        &self,
        headers: &mut HeaderMap,
        caller: &Caller,
        peer: Option<SocketAddr>,
        upgrade: Option<HeaderValue>,
    ) {
        let host = headers.get(HOST).cloned();
        remove_hop_by_hop(headers);
        headers.remove(UPGRADE);
        if let Some(protocol) = upgrade {
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(UPGRADE, protocol);
        }
        // A name is dropped in every spelling a server behind might read as the same
        // variable: CGI-style servers (Rack, PHP) read `X_Hearth_Caller` as
        // `X-Hearth-Caller`. Credentials: both places one is read from, the one checked
        // and one the guard did not look at because another came first (which the
        // upstream might trust); a query `access_token` is removed by the guard itself.
        let strip = self.strip_credentials;
        let dropped: Vec<HeaderName> = headers
            .keys()
            .filter(|name| {
                let dashed;
                let mut name = name.as_str();
                if name.contains('_') {
                    dashed = name.replace('_', "-");
                    name = &dashed;
                }
                FORWARDED.contains(&name)
                    || name.starts_with("x-forwarded-")
                    || (strip && CREDENTIALS.contains(&name))
            })
            .cloned()
            .collect();
        for name in dropped {
            headers.remove(name);
        }
        if self.caller_header {
            headers.insert(
                HeaderName::from_static(CALLER_HEADER),
                caller_header(caller),
            );
        }
        if let Some(peer) = peer
            && let Ok(value) = HeaderValue::from_str(&peer.ip().to_string())
        {
            headers.insert("x-forwarded-for", value);
        }
        if let Some(host) = host {
            headers.insert("x-forwarded-host", host);
        }
        headers.insert("x-forwarded-proto", HeaderValue::from_static(self.scheme));
        if let Ok(value) = HeaderValue::from_str(self.upstream.as_str()) {
            headers.insert(HOST, value);
        }
    }
}

/// A WebSocket handshake's key, when the request is one (RFC 6455 §4.1: `GET`,
/// `Connection: upgrade`, `Upgrade: websocket`, a `Sec-WebSocket-Key`). Only WebSockets
/// are tunnelled: another protocol (h2c) would carry requests the gate never sees, so its
/// `Upgrade` is not forwarded.
fn websocket_key(method: &http::Method, headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("upgrade"));
    let websocket = headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    (method == http::Method::GET && asks && websocket)
        .then(|| headers.get("sec-websocket-key").cloned())
        .flatten()
}

/// RFC 6455 §4.2.2: the `Sec-WebSocket-Accept` that answers `key`.
fn websocket_accept(key: &HeaderValue) -> String {
    let mut input = key.as_bytes().to_vec();
    input.extend_from_slice(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, digest.as_ref())
}

/// Whether a 101 is the upstream accepting the WebSocket handshake asked with `key`.
fn accepts_websocket(response: &HeaderMap, key: &HeaderValue) -> bool {
    let upgrade = response
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let accept = response
        .get("sec-websocket-accept")
        .is_some_and(|v| v.as_bytes() == websocket_accept(key).as_bytes());
    upgrade && accept
}

/// Removes the hop-by-hop headers and every header the `Connection` header names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
        .collect();
    for name in named {
        // `Connection: upgrade` names a header that must survive on an upgrade; it is
        // put back by the caller when the upgrade is wanted.
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Whether a failed request failed because its body passed the cap.
fn body_too_large(e: &hyper_util::client::legacy::Error) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Copies both ways between the client and the upstream until either closes (or the
/// gate shuts down).
async fn tunnel(
    client_side: hyper::upgrade::OnUpgrade,
    upstream_side: hyper::upgrade::OnUpgrade,
    shutdown: Option<Shutdown>,
) {
    let (Ok(client), Ok(upstream)) = (client_side.await, upstream_side.await) else {
        return;
    };
    let (mut client, mut upstream) = (TokioIo::new(client), TokioIo::new(upstream));
    let copy = tokio::io::copy_bidirectional(&mut client, &mut upstream);
    match shutdown {
        Some(mut shutdown) => {
            tokio::select! {
                _ = copy => {}
                () = shutdown.signalled() => {}
            }
        }
        None => {
            let _ = copy.await;
        }
    }
}

/// A plain-text answer from the gate itself.
fn answer(status: StatusCode, text: &str) -> Response<ServeBody> {
    let mut response = Response::new(ServeBody::from(format!("{text}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_connection_named_headers_go() {
        let mut h = HeaderMap::new();
        for (k, v) in [
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic abc"),
            ("accept", "text/plain"),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        remove_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.contains_key("accept"));
    }

    #[test]
    fn only_a_websocket_handshake_is_an_upgrade() {
        let get = http::Method::GET;
        let mut h = HeaderMap::new();
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            "sec-websocket-key",
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        assert!(websocket_key(&get, &h).is_none(), "no Connection: upgrade");
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        assert!(websocket_key(&get, &h).is_some());
        assert!(websocket_key(&http::Method::POST, &h).is_none());
        h.insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert!(websocket_key(&get, &h).is_none(), "h2c is not tunnelled");
    }

    #[test]
    fn the_accept_value_is_rfc_6455s() {
        // RFC 6455 §1.3's example.
        let key = HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(websocket_accept(&key), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let mut response = HeaderMap::new();
        response.insert(UPGRADE, HeaderValue::from_static("websocket"));
        response.insert(
            "sec-websocket-accept",
            HeaderValue::from_static("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        );
        assert!(accepts_websocket(&response, &key));
        response.insert(UPGRADE, HeaderValue::from_static("h2c"));
        assert!(!accepts_websocket(&response, &key));
    }
}
