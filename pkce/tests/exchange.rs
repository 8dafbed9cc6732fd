//! The token exchange and refresh against an in-test authorization server over HTTPS with
//! a pinned rcgen certificate, which enforces PKCE S256, single-use codes and the redirect
//! URI like a real one.
#![cfg(feature = "client")]

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use hearth_net_policy::{HttpsClient, Pin, PinPolicy, TlsPolicy};
use hearth_pkce::{AuthorizationRequest, Error, PersistTokens, Session, TokenClient, TokenSet};
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
    /// Rotate refresh tokens, with RFC 9700 §4.14 reuse detection: a spent refresh token
    /// presented again revokes the grant.
    rotate: bool,
    /// Refresh tokens that are still valid (rotation only).
    live: Mutex<HashSet<String>>,
    /// Set when a spent refresh token was presented.
    reuse_detected: AtomicBool,
    /// Refuse every refresh with `invalid_grant`.
    refuse: AtomicBool,
    /// Extra delay before a refresh answer, in milliseconds.
    delay_ms: AtomicU64,
    /// The token endpoint URL and the pin of its certificate, once started.
    address: Mutex<Option<(String, String)>>,
    /// An answer to send to every token request instead (status, content type, body).
    canned: Mutex<Option<(u16, &'static str, String)>>,
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
                self.live.lock().unwrap().insert("rt-1".into());
                (200, r#"{"access_token":"at-1","token_type":"Bearer","expires_in":3600,"refresh_token":"rt-1","scope":"openid"}"#.into())
            }
            Some("refresh_token") => {
                let n = self.refreshes.fetch_add(1, Ordering::SeqCst) + 1;
                // Keeps the first refresh in flight a while longer. The single-request
                // check does not rely on it: `tokio::join!` polls the second caller as soon
                // as the first is waiting on the network, so they always overlap, and the
                // answer (one request) is the same however fast or slow this is.
                std::thread::sleep(Duration::from_millis(
                    100 + self.delay_ms.load(Ordering::SeqCst),
                ));
                if self.refuse.load(Ordering::SeqCst) {
                    return err("invalid_grant");
                }
                if self.rotate {
                    let used = form.get("refresh_token").cloned().unwrap_or_default();
                    let mut live = self.live.lock().unwrap();
                    if !live.remove(&used) {
                        self.reuse_detected.store(true, Ordering::SeqCst);
                        live.clear(); // the whole grant is revoked
                        return err("invalid_grant");
                    }
                    live.insert(format!("rt-r{n}"));
                    (
                        200,
                        format!(
                            r#"{{"access_token":"at-r{n}","token_type":"bearer","expires_in":3600,"refresh_token":"rt-r{n}"}}"#
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
/// An HTTPS client that trusts only the test server's pinned certificate.
fn pinned_client(pin: &str) -> HttpsClient {
    let pins = PinPolicy::new().self_signed("127.0.0.1", [pin]).unwrap();
    HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap())
}

async fn start(server: Arc<AuthServer>) -> (String, HttpsClient) {
    let server_address = Arc::clone(&server);
    let server_address = &server_address.address;
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
                        let canned = server.canned.lock().unwrap().clone();
                        let (status, content_type, json) = match canned {
                            Some(c) => c,
                            None => {
                                let (status, json) = tokio::task::spawn_blocking(move || {
                                    server.token(std::str::from_utf8(&body).unwrap())
                                })
                                .await
                                .unwrap();
                                (status, "application/json", json)
                            }
                        };
                        let mut r = hyper::Response::new(Full::new(Bytes::from(json)));
                        *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        r.headers_mut()
                            .insert("content-type", content_type.parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let endpoint = format!("https://127.0.0.1:{port}/token");
    *server_address.lock().unwrap() = Some((endpoint.clone(), pin.to_string()));
    (endpoint, pinned_client(&pin.to_string()))
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

/// Records every token set the session persists.
#[derive(Default, Clone)]
struct Saved(Arc<Mutex<Vec<String>>>);

#[async_trait::async_trait]
impl PersistTokens for Saved {
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        let rt = tokens
            .refresh_token
            .as_ref()
            .map(|r| r.expose_secret().to_owned())
            .unwrap_or_default();
        self.0.lock().unwrap().push(rt);
        Ok(())
    }

    async fn clear(&self) -> Result<(), Error> {
        self.0.lock().unwrap().push("<cleared>".into());
        Ok(())
    }
}

async fn rotating_session() -> (Arc<AuthServer>, Session, Saved) {
    let saved = Saved::default();
    let (server, session) = rotating_session_with(saved.clone()).await;
    (server, session, saved)
}

/// A signed-in session on a rotating server, persisting through `hook`.
async fn rotating_session_with(hook: impl PersistTokens + 'static) -> (Arc<AuthServer>, Session) {
    let server = Arc::new(AuthServer {
        rotate: true,
        ..AuthServer::default()
    });
    let (endpoint, http) = start(Arc::clone(&server)).await;
    let tokens = TokenClient::new(http, &endpoint, "client-1");
    let set = tokens.exchange(grant(&server, "code-1")).await.unwrap();
    // A skew longer than the token's hour: `fresh_tokens` always refreshes.
    let session = Session::new(tokens, set)
        .with_persistence(hook)
        .with_refresh_skew(Duration::from_secs(7200));
    (server, session)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_concurrent_fresh_tokens_make_one_request_and_keep_the_rotated_token() {
    let (server, session, saved) = rotating_session().await;
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let s = session.clone();
        all.spawn(async move { s.fresh_tokens().await });
    }
    // Every caller gets the same new set, though some joined while the request was out.
    let mut seen = HashSet::new();
    while let Some(r) = all.join_next().await {
        let set = r.unwrap().unwrap();
        seen.insert(set.refresh_token.unwrap().expose_secret().to_owned());
    }
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1, "one request");
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["rt-r1"]);
    assert_eq!(
        *saved.0.lock().unwrap(),
        ["rt-r1"],
        "persisted before handed out"
    );
    assert_eq!(
        session.tokens().refresh_token.unwrap().expose_secret(),
        "rt-r1"
    );
    // The rotated token is the one used next, and the server accepts it.
    let next = session.fresh_tokens().await.unwrap();
    assert_eq!(next.access_token.expose_secret(), "at-r2");
    assert!(!server.reuse_detected.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_cancelled_mid_refresh_loses_nothing() {
    let (server, session, saved) = rotating_session().await;
    server.delay_ms.store(400, Ordering::SeqCst);
    let stale = session.access_token();
    // The caller gives up long before the server answers.
    let gave_up = tokio::time::timeout(Duration::from_millis(50), session.refresh(&stale)).await;
    assert!(gave_up.is_err(), "the caller was cancelled");
    // The refresh goes on without it, and stores (and persists) the rotated token.
    let deadline = Instant::now() + Duration::from_secs(30);
    while session.tokens().refresh_token.unwrap().expose_secret() != "rt-r1" {
        assert!(Instant::now() < deadline, "the rotated token was lost");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(*saved.0.lock().unwrap(), ["rt-r1"]);
    server.delay_ms.store(0, Ordering::SeqCst);
    let next = session.refresh(&session.access_token()).await.unwrap();
    assert_eq!(next.expose_secret(), "at-r2");
    assert!(
        !server.reuse_detected.load(Ordering::SeqCst),
        "the spent token was never sent again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_error_reaches_every_waiter_and_the_spent_token_is_not_sent_again() {
    let (server, session, saved) = rotating_session().await;
    server.refuse.store(true, Ordering::SeqCst);
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let s = session.clone();
        all.spawn(async move { s.fresh_tokens().await });
    }
    while let Some(r) = all.join_next().await {
        let err = r.unwrap().unwrap_err();
        assert!(matches!(&err, Error::SignInRevoked { .. }), "{err}");
        assert_eq!(err.kind(), hearth_pkce::ErrorKind::Refused);
        assert!(!err.is_retryable());
    }
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);
    // The stored tokens were removed, once.
    assert_eq!(*saved.0.lock().unwrap(), ["<cleared>"]);
    saved.0.lock().unwrap().clear();
    // Later calls get the same refusal without another request.
    assert!(session.fresh_tokens().await.is_err());
    assert!(session.refresh(&session.access_token()).await.is_err());
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);
    assert!(saved.0.lock().unwrap().is_empty());
    // A new sign-in replaces the whole set and the refusal.
    let mut fresh = TokenSet::new(hearth_token_guard::AccessToken::new("at-new"));
    fresh.refresh_token = None;
    session.replace(fresh).await.unwrap();
    assert_eq!(
        *saved.0.lock().unwrap(),
        [""],
        "the old refresh token is gone"
    );
    assert!(session.tokens().refresh_token.is_none());
    let stale = session.access_token();
    assert_eq!(stale.expose_secret(), "at-new");
    assert!(matches!(
        session.refresh(&stale).await,
        Err(Error::NoRefreshToken)
    ));
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);
}

/// A hook that panics, then fails, then works: (calls, saved refresh tokens).
#[derive(Default, Clone)]
struct Flaky(Arc<Mutex<(usize, Vec<String>)>>);

#[async_trait::async_trait]
impl PersistTokens for Flaky {
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        let n = {
            let mut g = self.0.lock().unwrap();
            g.0 += 1;
            g.0
        };
        match n {
            1 => panic!("the hook broke"),
            2 => Err(Error::Persist {
                reason: "disk full".into(),
            }),
            _ => {
                let rt = tokens
                    .refresh_token
                    .as_ref()
                    .unwrap()
                    .expose_secret()
                    .to_owned();
                self.0.lock().unwrap().1.push(rt);
                Ok(())
            }
        }
    }

    async fn clear(&self) -> Result<(), Error> {
        unreachable!("never refused")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hook_that_panics_or_fails_loses_no_rotated_token_and_is_retried() {
    let hook = Flaky::default();
    let (server, session) = rotating_session_with(hook.clone()).await;
    // The hook panics: reported, and the rotated token is kept in memory.
    let err = session.fresh_tokens().await.unwrap_err();
    assert!(matches!(err, Error::Persist { .. }), "{err}");
    assert_eq!(
        session.tokens().refresh_token.unwrap().expose_secret(),
        "rt-r1"
    );
    // The next call saves again first (it fails once more, and says so) ...
    assert!(matches!(
        session.fresh_tokens().await,
        Err(Error::Persist { .. })
    ));
    assert_eq!(
        server.refreshes.load(Ordering::SeqCst),
        1,
        "no refresh while unsaved"
    );
    // ... then succeeds, and only then refreshes, with the rotated token.
    let next = session.fresh_tokens().await.unwrap();
    assert_eq!(next.refresh_token.unwrap().expose_secret(), "rt-r2");
    assert_eq!(hook.0.lock().unwrap().1, ["rt-r1", "rt-r2"]);
    assert!(!server.reuse_detected.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_sign_in_during_a_refresh_is_what_stays_stored() {
    let (server, session, saved) = rotating_session().await;
    server.delay_ms.store(300, Ordering::SeqCst);
    let refreshing = tokio::spawn({
        let s = session.clone();
        async move { s.fresh_tokens().await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut other = TokenSet::new(hearth_token_guard::AccessToken::new("at-other"));
    other.refresh_token = Some(hearth_token_guard::RefreshToken::new("rt-other"));
    session.replace(other).await.unwrap();
    // The old refresh completes at the server, but its tokens are not stored over the
    // new sign-in's; its waiter gets the current tokens.
    let got = refreshing.await.unwrap().unwrap();
    assert_eq!(got.access_token.expose_secret(), "at-other");
    assert_eq!(*saved.0.lock().unwrap(), ["rt-other"]);
    assert_eq!(
        session.tokens().refresh_token.unwrap().expose_secret(),
        "rt-other"
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
    assert!(matches!(
        parse_token_response(400, br#"{"nothing":"here"}"#),
        Err(Error::TokenEndpointStatus { status: 400 })
    ));
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

/// A canned answer: status, content type, body.
type Canned = (u16, &'static str, &'static str);
/// What a case expects of the client's result.
type Expect = fn(&Result<TokenSet, Error>) -> bool;

/// What real token endpoints send, through the client over HTTPS.
#[tokio::test]
async fn the_token_response_matrix_over_the_wire() {
    let server = Arc::new(AuthServer::default());
    let (endpoint, http) = start(Arc::clone(&server)).await;
    let tokens = TokenClient::new(http, &endpoint, "client-1");
    let json = "application/json";
    let cases: Vec<(Canned, Expect)> = vec![
        (
            (
                200,
                json,
                r#"{"access_token":"a","token_type":"Bearer","expires_in":"3600"}"#,
            ),
            |r| r.as_ref().is_ok_and(|s| s.expires_at.is_some()),
        ),
        (
            (
                200,
                json,
                r#"{"access_token":"a","token_type":"bearer","refresh_token":"","id_token":null,"extra":[1]}"#,
            ),
            // An empty refresh token is no rotation: the one used is kept.
            |r| {
                r.as_ref()
                    .is_ok_and(|s| s.refresh_token.as_ref().unwrap().expose_secret() == "rt-used")
            },
        ),
        (
            (
                502,
                "text/html",
                "<html><body>502 Bad Gateway</body></html>",
            ),
            |r| matches!(r, Err(e @ Error::TokenEndpointStatus { status: 502 }) if e.is_retryable()),
        ),
        (
            (
                400,
                json,
                r#"{"error":"invalid_grant","error_description":"expired"}"#,
            ),
            // On a refresh, invalid_grant means the sign-in is over.
            |r| matches!(r, Err(e @ Error::SignInRevoked { description: Some(d) }) if !e.is_retryable() && d == "expired"),
        ),
        (
            (200, json, r#"{"access_token":"a","token_type":"DPoP"}"#),
            |r| matches!(r, Err(Error::UnsupportedTokenType { .. })),
        ),
        (
            (200, json, r#"{"access_token":"a","token_type":"mac"}"#),
            |r| matches!(r, Err(Error::UnsupportedTokenType { .. })),
        ),
        ((200, json, r#"{"token_type":"bearer"}"#), |r| {
            matches!(r, Err(Error::MalformedTokenResponse { .. }))
        }),
    ];
    for ((status, content_type, body), expected) in cases {
        *server.canned.lock().unwrap() = Some((status, content_type, body.to_owned()));
        let result = tokens
            .refresh(&hearth_token_guard::RefreshToken::new("rt-used"))
            .await;
        assert!(expected(&result), "{status} {body}: {result:?}");
        if let Err(e) = &result {
            let text = e.to_string();
            assert!(!text.contains("rt-used") && !text.contains('{'), "{text}");
        }
    }
}

/// The vault two processes share in the persistence test.
#[cfg(feature = "storage")]
fn stored_tokens(dir: &std::path::Path) -> hearth_pkce::StoredTokens {
    use hearth_secure_storage::{Blocking, EncryptedFileStore, KeySource};
    let vault = EncryptedFileStore::open(dir.join("v"), KeySource::KeyFile(dir.join("k"))).unwrap();
    hearth_pkce::StoredTokens::new(
        Arc::new(Blocking::new(vault)),
        "app::acct::tokens".parse().unwrap(),
    )
}

/// Signs in and persists (process 1), then a second process loads the tokens, refreshes
/// and persists the rotated ones, which the first uses next: nothing is spent twice.
#[cfg(feature = "storage")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_persisted_by_one_process_are_used_by_another() {
    let (server, session, _) = rotating_session().await;
    let dir = std::env::temp_dir().join(format!("hearth-pkce-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let stored = stored_tokens(&dir);
    stored.save(&session.tokens()).await.unwrap();
    let (endpoint, pin) = server.address.lock().unwrap().clone().unwrap();

    let out = tokio::task::spawn_blocking({
        let dir = dir.clone();
        move || {
            std::process::Command::new(std::env::current_exe().unwrap())
                .args([
                    "--exact",
                    "second_process_refreshes_stored_tokens",
                    "--ignored",
                ])
                .env("HEARTH_TEST_DIR", &dir)
                .env("HEARTH_TEST_ENDPOINT", &endpoint)
                .env("HEARTH_TEST_PIN", &pin)
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(server.refreshes.load(Ordering::SeqCst), 1);
    let loaded = stored.load().await.unwrap().unwrap();
    assert_eq!(
        loaded.refresh_token.as_ref().unwrap().expose_secret(),
        "rt-r1"
    );
    // Process 1 starts again from what process 2 stored; the server accepts it.
    let (endpoint, pin) = server.address.lock().unwrap().clone().unwrap();
    let again = Session::new(
        TokenClient::new(pinned_client(&pin), &endpoint, "client-1"),
        loaded,
    )
    .with_refresh_skew(Duration::from_secs(7200));
    assert_eq!(
        again
            .fresh_tokens()
            .await
            .unwrap()
            .access_token
            .expose_secret(),
        "at-r2"
    );
    assert!(!server.reuse_detected.load(Ordering::SeqCst));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The second process of the test above (run by it, with its server's address).
#[cfg(feature = "storage")]
#[tokio::test]
#[ignore = "run as a child process by tokens_persisted_by_one_process_are_used_by_another"]
async fn second_process_refreshes_stored_tokens() {
    let dir = std::path::PathBuf::from(std::env::var_os("HEARTH_TEST_DIR").unwrap());
    let endpoint = std::env::var("HEARTH_TEST_ENDPOINT").unwrap();
    let pin = std::env::var("HEARTH_TEST_PIN").unwrap();
    let stored = stored_tokens(&dir);
    let tokens = stored
        .load()
        .await
        .unwrap()
        .expect("process 1 stored tokens");
    let session = Session::new(
        TokenClient::new(pinned_client(&pin), &endpoint, "client-1"),
        tokens,
    )
    .with_persistence(stored)
    .with_refresh_skew(Duration::from_secs(7200));
    let fresh = session.fresh_tokens().await.unwrap();
    assert_eq!(fresh.refresh_token.unwrap().expose_secret(), "rt-r1");
}
