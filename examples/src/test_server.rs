//! An OAuth 2.0 authorization server for tests and demos, in process, over HTTPS with a
//! fresh rcgen certificate. It checks what a real one checks: the client id, the exact
//! registered redirect URI, PKCE S256 (no `plain`, no missing challenge), single-use codes
//! bound to their challenge and redirect URI; it adds `iss` to the callback (RFC 9207) and
//! rotates refresh tokens.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A running test authorization server.
#[derive(Debug)]
pub struct TestAuthServer {
    /// `https://127.0.0.1:PORT`, also the issuer.
    pub issuer: String,
    /// The pin of its certificate (trust it with a pinned-only rule for `127.0.0.1`).
    pub pin: String,
    /// The client id it accepts.
    pub client_id: String,
    state: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    client_id: String,
    redirect_uri: String,
    issuer: Mutex<String>,
    /// code -> (challenge, redirect URI)
    codes: Mutex<HashMap<String, (String, String)>>,
    issued: AtomicUsize,
    token_requests: AtomicUsize,
}

impl TestAuthServer {
    /// Starts a server on `127.0.0.1:0` for `client_id` with one registered `redirect_uri`.
    /// A registered loopback URI without a port (`http://127.0.0.1/callback`) matches any
    /// port, as RFC 8252 §7.3 requires of real servers; any other must match exactly.
    pub async fn start(client_id: &str, redirect_uri: &str) -> std::io::Result<Self> {
        let key = rcgen::KeyPair::generate().map_err(std::io::Error::other)?;
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .and_then(|p| p.self_signed(&key))
            .map_err(std::io::Error::other)?;
        let pin =
            hearth_net_policy::Pin::of_certificate(cert.der()).map_err(std::io::Error::other)?;
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .map_err(std::io::Error::other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let issuer = format!("https://{}", listener.local_addr()?);
        let state = Arc::new(Inner {
            client_id: client_id.to_owned(),
            redirect_uri: redirect_uri.to_owned(),
            issuer: Mutex::new(issuer.clone()),
            ..Inner::default()
        });
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, state) = (acceptor.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(state.handle(req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Ok(Self {
            issuer,
            pin: pin.to_string(),
            client_id: client_id.to_owned(),
            state,
        })
    }

    /// The authorization endpoint.
    #[must_use]
    pub fn authorize_url(&self) -> String {
        format!("{}/authorize", self.issuer)
    }

    /// The token endpoint.
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// How many token requests it has answered.
    #[must_use]
    pub fn token_requests(&self) -> usize {
        self.state.token_requests.load(Ordering::SeqCst)
    }
}

fn form(text: &str) -> HashMap<String, String> {
    fn decode(s: &str) -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' if i + 3 <= b.len() => {
                    let v = std::str::from_utf8(&b[i + 1..i + 3])
                        .ok()
                        .and_then(|h| u8::from_str_radix(h, 16).ok());
                    out.push(v.unwrap_or(b'?'));
                    i += 2;
                }
                b'+' => out.push(b' '),
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
    text.split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn reply(
    status: u16,
    content_type: &str,
    body: String,
    location: Option<String>,
) -> hyper::Response<Full<Bytes>> {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    if let Some(loc) = location.and_then(|l| http::HeaderValue::from_str(&l).ok()) {
        r.headers_mut().insert(http::header::LOCATION, loc);
    }
    r
}

impl Inner {
    async fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> hyper::Response<Full<Bytes>> {
        let path = req.uri().path().to_owned();
        let query = req.uri().query().unwrap_or_default().to_owned();
        match (req.method().as_str(), path.as_str()) {
            ("GET", "/authorize") => self.authorize(&form(&query)),
            ("POST", "/token") => {
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                self.token(&form(&String::from_utf8_lossy(&body)))
            }
            _ => reply(404, "text/plain", "not found".into(), None),
        }
    }

    fn authorize(&self, q: &HashMap<String, String>) -> hyper::Response<Full<Bytes>> {
        let get = |k: &str| q.get(k).map(String::as_str).unwrap_or_default();
        // Errors about the client or redirect are shown, never redirected (RFC 6749 §4.1.2.1).
        if get("client_id") != self.client_id || !self.redirect_matches(get("redirect_uri")) {
            return reply(
                400,
                "text/plain",
                "unknown client or redirect URI".into(),
                None,
            );
        }
        let issuer = self
            .issuer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let back = |params: String| {
            format!(
                "{}?{params}&state={}&iss={}",
                get("redirect_uri"),
                encode(get("state")),
                encode(&issuer)
            )
        };
        if get("response_type") != "code"
            || get("code_challenge_method") != "S256"
            || get("code_challenge").len() != 43
        {
            return reply(
                302,
                "text/plain",
                String::new(),
                Some(back(
                    "error=invalid_request&error_description=PKCE+S256+required".into(),
                )),
            );
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        let code = format!(
            "code-{n}-{}",
            get("code_challenge").get(..8).unwrap_or_default()
        );
        self.codes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                code.clone(),
                (
                    get("code_challenge").to_owned(),
                    get("redirect_uri").to_owned(),
                ),
            );
        reply(
            302,
            "text/plain",
            String::new(),
            Some(back(format!("code={}", encode(&code)))),
        )
    }

    fn redirect_matches(&self, uri: &str) -> bool {
        if uri == self.redirect_uri {
            return true;
        }
        // Loopback: any port (RFC 8252 §7.3).
        let Some(path) = self.redirect_uri.strip_prefix("http://127.0.0.1/") else {
            return false;
        };
        uri.strip_prefix("http://127.0.0.1:")
            .and_then(|rest| rest.split_once('/'))
            .is_some_and(|(port, p)| port.parse::<u16>().is_ok() && p == path)
    }

    fn token(&self, f: &HashMap<String, String>) -> hyper::Response<Full<Bytes>> {
        self.token_requests.fetch_add(1, Ordering::SeqCst);
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or_default();
        let error = |e: &str| {
            reply(
                400,
                "application/json",
                format!(r#"{{"error":"{e}"}}"#),
                None,
            )
        };
        if get("client_id") != self.client_id {
            return error("invalid_client");
        }
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        match get("grant_type") {
            "authorization_code" => {
                let Some((challenge, redirect)) = self
                    .codes
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(get("code"))
                else {
                    return error("invalid_grant");
                };
                let computed = URL_SAFE_NO_PAD.encode(ring::digest::digest(
                    &ring::digest::SHA256,
                    get("code_verifier").as_bytes(),
                ));
                if computed != challenge || get("redirect_uri") != redirect {
                    return error("invalid_grant");
                }
            }
            "refresh_token" if get("refresh_token").starts_with("rt-") => {}
            "refresh_token" => return error("invalid_grant"),
            _ => return error("unsupported_grant_type"),
        }
        let body = format!(
            r#"{{"access_token":"at-{n}-{}","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-{n}-{}","scope":"openid"}}"#,
            "x".repeat(24),
            "y".repeat(24)
        );
        reply(200, "application/json", body, None)
    }
}
