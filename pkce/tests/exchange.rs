//! The token exchange and refresh against an in-test authorization server over HTTPS with
//! a pinned rcgen certificate, which enforces PKCE S256, single-use codes and the redirect
//! URI like a real one.
#![cfg(feature = "client")]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use hearth_net_policy::{HttpsClient, Pin, PinPolicy, TlsPolicy};
use hearth_pkce::{AuthorizationRequest, Error, Session, TokenClient};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const REDIRECT: &str = "http://127.0.0.1:43123/callback";

#[derive(Default)]
struct AuthServer {
    /// code -> (S256 challenge, redirect URI); removed when used.
    codes: Mutex<HashMap<String, (String, String)>>,
    refreshes: AtomicUsize,
    rotate: bool,
}

fn decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 2;
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

impl AuthServer {
    fn token(&self, body: &str) -> (u16, String) {
        let form: HashMap<String, String> = body
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let err = |e: &str| {
            (
                400,
                format!(r#"{{"error":"{e}","error_description":"refused by the test server"}}"#),
            )
        };
        match form.get("grant_type").map(String::as_str) {
            Some("authorization_code") => {
                let Some((challenge, redirect)) = self
                    .codes
                    .lock()
                    .unwrap()
                    .remove(form.get("code").map_or("", |c| c.as_str()))
                else {
                    return err("invalid_grant");
                };
                let verifier = form.get("code_verifier").cloned().unwrap_or_default();
                let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
                    ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes()),
                );
                if computed != challenge || form.get("redirect_uri") != Some(&redirect) {
                    return err("invalid_grant");
                }
                (200, r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1","scope":"openid"}"#.into())
            }
            Some("refresh_token") => {
                let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                // Keeps the first refresh in flight a while longer. The single-request
                // check does not rely on it: `tokio::join!` polls the second caller as soon
                // as the first is waiting on the network, so they always overlap, and the
                // answer (one request) is the same however fast or slow this is.
                std::thread::sleep(Duration::from_millis(100));
                if self.rotate {
                    (
                        200,
                        format!(
                            r#"{{"access_token":"at-r{n}","token_type":"bearer","refresh_token":"rt-r{n}"}}"#
                        ),
                    )
                } else {
                    (
                        200,
                        format!(r#"{{"access_token":"at-r{n}","token_type":"bearer"}}"#),
                    )
                }
            }
            _ => err("unsupported_grant_type"),
        }
    }
}

/// Starts the server; returns the token endpoint URL and a client pinned to its key.
async fn start(server: Arc<AuthServer>) -> (String, HttpsClient) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pin = Pin::of_certificate(cert.der()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, server) = (acceptor.clone(), Arc::clone(&server));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let server = Arc::clone(&server);
                    async move {
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let (status, json) = tokio::task::spawn_blocking(move || {
                            server.token(std::str::from_utf8(&body).unwrap())
                        })
                        .await
                        .unwrap();
                        let mut r = hyper::Response::new(Full::new(Bytes::from(json)));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [pin.to_string()])
        .unwrap();
    let client = HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap());
    (format!("https://127.0.0.1:{port}/token"), client)
}

/// A grant as the loopback receiver would produce it, with the code registered on the server.
fn grant(server: &AuthServer, code: &str) -> hearth_pkce::AuthorizationCodeGrant {
    let (url, pending) =
        AuthorizationRequest::new("https://as.example/authorize", "client-1", REDIRECT)
            .build()
            .unwrap();
    let param = |name: &str| {
        url.split(['?', '&'])
            .find_map(|p| p.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    server
        .codes
        .lock()
        .unwrap()
        .insert(code.into(), (param("code_challenge"), REDIRECT.into()));
    pending
        .complete(&format!("{REDIRECT}?code={code}&state={}", param("state")))
        .unwrap()
}

#[tokio::test]
async fn the_code_is_exchanged_once_with_its_verifier() {
    let server = Arc::new(AuthServer::default());
    let (endpoint, http) = start(Arc::clone(&server)).await;
    let tokens = TokenClient::new(http, &endpoint, "client-1");

    let set = tokens.exchange(grant(&server, "code-1")).await.unwrap();
    assert_eq!(set.access_token.expose_secret(), "at-1");
    assert_eq!(set.token_type, "bearer");
    assert_eq!(set.refresh_token.as_ref().unwrap().expose_secret(), "rt-1");
    assert!(set.expires_at.is_some());
    assert!(!format!("{set:?}").contains("at-1"), "no token in Debug");

    // A second use of the same code is refused by the server.
    let mut replay = grant(&server, "code-2");
    server.codes.lock().unwrap().remove("code-2");
    replay.code = hearth_token_guard::AuthorizationCode::new("code-1");
    let err = tokens.exchange(replay).await.unwrap_err();
    assert!(
        matches!(&err, Error::TokenRequest { status: 400, error, .. } if error == "invalid_grant"),
        "{err:?}"
    );

    // A verifier that does not match the challenge is refused.
    let mut wrong = grant(&server, "code-3");
    wrong.verifier = hearth_pkce::CodeVerifier::generate().unwrap();
    assert!(matches!(
        tokens.exchange(wrong).await,
        Err(Error::TokenRequest { .. })
    ));
}

#[tokio::test]
async fn concurrent_refreshes_make_one_request_and_keep_a_rotated_token() {
    let server = Arc::new(AuthServer {
        rotate: true,
        ..AuthServer::default()
    });
    let (endpoint, http) = start(Arc::clone(&server)).await;
    let tokens = TokenClient::new(http, &endpoint, "client-1");
    let set = tokens.exchange(grant(&server, "code-1")).await.unwrap();
    let session = Arc::new(Session::new(tokens, set));
    let stale = session.access_token().await;
    let (a, b) = tokio::join!(session.refresh(&stale), session.refresh(&stale));
    assert_eq!(a.unwrap().expose_secret(), "at-r1");
    assert_eq!(b.unwrap().expose_secret(), "at-r1");
    assert_eq!(
        server.refreshes.load(Ordering::SeqCst),
        1,
        "one refresh request for two callers"
    );
}

#[tokio::test]
async fn a_refresh_without_rotation_keeps_the_refresh_token() {
    let server = Arc::new(AuthServer::default());
    let (endpoint, http) = start(Arc::clone(&server)).await;
    let tokens = TokenClient::new(http, &endpoint, "client-1");
    let set = tokens
        .refresh(&hearth_token_guard::RefreshToken::new("rt-kept"))
        .await
        .unwrap();
    assert_eq!(set.access_token.expose_secret(), "at-r1");
    assert_eq!(set.refresh_token.unwrap().expose_secret(), "rt-kept");
}

#[test]
fn malformed_token_responses_are_typed_errors() {
    use hearth_pkce::parse_token_response;
    for (status, body) in [
        (200, &b"not json"[..]),
        (200, b"[]"),
        (200, br#"{"token_type":"bearer"}"#),
        (200, br#"{"access_token":"a"}"#),
        (
            200,
            br#"{"access_token":"a","token_type":"bearer","expires_in":-1}"#,
        ),
        (400, br#"{"nothing":"here"}"#),
    ] {
        assert!(
            matches!(
                parse_token_response(status, body),
                Err(Error::MalformedTokenResponse { .. })
            ),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let err = parse_token_response(
        401,
        br#"{"error":"invalid_client","error_description":"no\u0007bell"}"#,
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::TokenRequest { description: Some(d), .. } if d == "nobell"),
        "{err:?}"
    );
}
