//! [`accept_websocket`]: the server half of a WebSocket handshake (RFC 6455 §4.2) for a
//! request the guard admitted, with caps on message and frame sizes (feature
//! `websocket`).

use std::future::Future;

use http::header::{
    CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE,
};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::{Error, ServeBody};

/// A WebSocket connection taken over from [`serve`](crate::serve).
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Size caps for one WebSocket connection. The guard's body cap covers the handshake
/// request only; once upgraded, these bound what a peer can make the server buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// Largest message (all its frames together), in bytes (default 1 MiB).
    pub max_message: usize,
    /// Largest single frame, in bytes (default 256 KiB).
    pub max_frame: usize,
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        Self {
            max_message: 1 << 20,
            max_frame: 256 << 10,
        }
    }
}

/// Answers a WebSocket handshake: the `101 Switching Protocols` response to return from
/// the handler, and a future that resolves to the connection once hyper has sent it.
/// A message or frame over `limits` ends the connection with an error, before it is
/// buffered whole.
///
/// The guard has already checked the handshake like any request (peer, Host, Origin,
/// credentials: `X-Api-Key`, a bearer token, or for browsers, which cannot set headers
/// on a WebSocket, the `access_token` query parameter); this checks that it is a
/// well-formed version-13 handshake (`GET`, `Upgrade: websocket`, `Connection: upgrade`,
/// a 16-byte `Sec-WebSocket-Key`) and refuses anything else with
/// [`Error::NotWebSocket`], which a handler answers with 400.
///
/// ```no_run
/// use bytes::Bytes;
/// use http_body_util::Full;
/// use hearth_guard::{GuardedRequest, ServeBody, WebSocketLimits, accept_websocket};
///
/// async fn handler(mut request: GuardedRequest) -> http::Response<ServeBody> {
///     match accept_websocket(&mut request, WebSocketLimits::default()) {
///         Ok((response, socket)) => {
///             tokio::spawn(async move {
///                 if let Ok(socket) = socket.await {
///                     // read and write messages on `socket`
///                     drop(socket);
///                 }
///             });
///             response
///         }
///         Err(e) => {
///             let mut r = http::Response::new(ServeBody::new(Full::new(Bytes::from(e.to_string()))));
///             *r.status_mut() = http::StatusCode::BAD_REQUEST;
///             r
///         }
///     }
/// }
/// ```
pub fn accept_websocket<B>(
    request: &mut Request<B>,
    limits: WebSocketLimits,
) -> Result<
    (
        Response<ServeBody>,
        impl Future<Output = Result<WebSocket, Error>> + Send + 'static,
    ),
    Error,
> {
    let key = handshake_key(request.method(), request.headers())?;
    let accept = HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
        .map_err(|_| not_websocket("the handshake key cannot be answered"))?;
    let mut response = Response::new(ServeBody::from(String::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(SEC_WEBSOCKET_ACCEPT, accept);
    let upgrade = hyper::upgrade::on(request);
    let config = WebSocketConfig::default()
        .max_message_size(Some(limits.max_message))
        .max_frame_size(Some(limits.max_frame));
    let socket = async move {
        let upgraded = upgrade
            .await
            .map_err(|_| not_websocket("the connection was not upgraded"))?;
        Ok(
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config))
                .await,
        )
    };
    Ok((response, socket))
}

fn not_websocket(reason: &'static str) -> Error {
    Error::NotWebSocket { reason }
}

/// The `Sec-WebSocket-Key` of a well-formed version-13 handshake.
fn handshake_key(method: &Method, headers: &HeaderMap) -> Result<String, Error> {
    if method != Method::GET {
        return Err(not_websocket("a WebSocket handshake is a GET"));
    }
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(UPGRADE, "websocket") || !has_token(CONNECTION, "upgrade") {
        return Err(not_websocket(
            "not a WebSocket handshake (Upgrade: websocket and Connection: upgrade)",
        ));
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(not_websocket("only WebSocket version 13 is spoken"));
    }
    let mut keys = headers.get_all(SEC_WEBSOCKET_KEY).iter();
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(not_websocket("the handshake needs one Sec-WebSocket-Key"));
    };
    // 16 bytes in base64: 24 characters ending in `==`.
    let key = key
        .to_str()
        .ok()
        .filter(|k| k.len() == 24 && k.ends_with("==") && k[..22].bytes().all(is_base64))
        .ok_or_else(|| not_websocket("the Sec-WebSocket-Key is not 16 bytes of base64"))?;
    Ok(key.to_owned())
}

fn is_base64(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'+' || b == b'/'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn only_a_well_formed_version_13_handshake_is_accepted() {
        let good = [
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        assert!(handshake_key(&Method::GET, &headers(&good)).is_ok());
        // RFC 6455 §1.3's example key and answer.
        assert_eq!(
            derive_accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
        assert!(handshake_key(&Method::POST, &headers(&good)).is_err());
        for i in 0..good.len() {
            let mut missing = good.to_vec();
            missing.remove(i);
            assert!(
                handshake_key(&Method::GET, &headers(&missing)).is_err(),
                "{i}"
            );
        }
        let mut twice = good.to_vec();
        twice.push(("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(handshake_key(&Method::GET, &headers(&twice)).is_err());
        let mut short = good.to_vec();
        short[3] = ("sec-websocket-key", "c2hvcnQ=");
        assert!(handshake_key(&Method::GET, &headers(&short)).is_err());
    }
}
