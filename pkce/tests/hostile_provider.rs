//! A hostile provider, in this test: discovery, JWKS and token endpoint over HTTPS (rustls,
//! a pinned rcgen certificate), answering each sign-in with a crafted ID token. Every
//! forgery is refused with `Error::InvalidIdToken` (or the discovery error) and nothing is
//! stored; an unknown `kid` asked twice costs one JWKS fetch.
#![cfg(feature = "oidc")]

use std::convert::Infallible;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use bytes::Bytes;
use hearth_net_policy::{HttpsClient, Pin, PinPolicy, TlsPolicy};
use hearth_pkce::{Error, PersistTokens, Provider, TokenSet};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, KeyPair};
use ring::rand::SystemRandom;
use ring::signature::{self, RsaKeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const CLIENT: &str = "hearth-app";
const REDIRECT: &str = "http://127.0.0.1:4444/callback";

struct Hostile {
    base: Mutex<String>,
    /// The issuer the discovery document names (the real one unless overridden).
    named_issuer: Mutex<Option<String>>,
    id_token: Mutex<String>,
    jwks: String,
    jwks_fetches: AtomicUsize,
    /// The device grant's answers, in order (then tokens).
    device_answers: Mutex<Vec<&'static str>>,
    device_polls: Mutex<Vec<std::time::Instant>>,
    /// More discovery members (`,"name":value…`).
    extra_metadata: Mutex<String>,
    /// The revocation endpoint's answers, in order (then 200).
    revoke_answers: Mutex<Vec<(u16, &'static str)>>,
    /// The authorization endpoint's own query (`?tenant=…`), if any.
    auth_query: Mutex<String>,
    /// The pushed authorization endpoint's answer, and the forms pushed to it.
    par_answer: Mutex<String>,
    par_forms: Mutex<Vec<String>>,
}

/// A 2048-bit RSA key made by `openssl genpkey`: PKCS#8 DER, and the public key's PEM.
fn rsa_key(dir: &std::path::Path) -> (Vec<u8>, String) {
    let pem = dir.join("rsa.pem");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&pem)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is installed")
        .success();
    assert!(ok);
    let der = Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    let public = Command::new("openssl")
        .args(["pkey", "-pubout", "-in"])
        .arg(&pem)
        .output()
        .unwrap();
    (der.stdout, String::from_utf8(public.stdout).unwrap())
}

struct Fixture {
    server: Arc<Hostile>,
    rsa: RsaKeyPair,
    rsa_public_pem: String,
    n: Vec<u8>,
    client: HttpsClient,
    issuer: String,
}

async fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("hearth-hostile-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (der, rsa_public_pem) = rsa_key(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let rsa = RsaKeyPair::from_pkcs8(&der).unwrap();
    let public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
    let jwks = format!(
        r#"{{"keys":[{{"kty":"RSA","kid":"rsa1","use":"sig","alg":"RS256","n":"{}","e":"{}"}}]}}"#,
        B64.encode(&public.n),
        B64.encode(&public.e)
    );
    let server = Arc::new(Hostile {
        base: Mutex::new(String::new()),
        named_issuer: Mutex::new(None),
        id_token: Mutex::new(String::new()),
        jwks,
        jwks_fetches: AtomicUsize::new(0),
        device_answers: Mutex::new(Vec::new()),
        device_polls: Mutex::new(Vec::new()),
        revoke_answers: Mutex::new(Vec::new()),
        extra_metadata: Mutex::new(String::new()),
        auth_query: Mutex::new(String::new()),
        par_answer: Mutex::new(String::new()),
        par_forms: Mutex::new(Vec::new()),
    });
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
    let base = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    *server.base.lock().unwrap() = base.clone();
    let shared = Arc::clone(&server);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, server) = (acceptor.clone(), Arc::clone(&shared));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let server = Arc::clone(&server);
                        async move {
                            let path = req.uri().path().to_owned();
                            let form = http_body_util::BodyExt::collect(req.into_body())
                                .await
                                .unwrap()
                                .to_bytes();
                            let (status, body) =
                                answer(&server, &path, &String::from_utf8_lossy(&form));
                            let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
                            *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            r.headers_mut()
                                .insert("content-type", "application/json".parse().unwrap());
                            Ok::<_, Infallible>(r)
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [pin.to_string()])
        .unwrap();
    let client = HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap()).without_proxy();
    Fixture {
        server,
        n: public.n,
        rsa,
        rsa_public_pem,
        client,
        issuer: base,
    }
}

fn answer(server: &Hostile, path: &str, form: &str) -> (u16, String) {
    let base = server.base.lock().unwrap().clone();
    if path == "/token" && form.contains("device_code=") {
        server
            .device_polls
            .lock()
            .unwrap()
            .push(std::time::Instant::now());
        let mut answers = server.device_answers.lock().unwrap();
        if !answers.is_empty() {
            return (400, format!(r#"{{"error":"{}"}}"#, answers.remove(0)));
        }
    }
    if path == "/revoke" {
        let mut answers = server.revoke_answers.lock().unwrap();
        if !answers.is_empty() {
            let (status, error) = answers.remove(0);
            return (status, format!(r#"{{"error":"{error}"}}"#));
        }
        return (200, String::new());
    }
    if path == "/par" {
        server.par_forms.lock().unwrap().push(form.to_owned());
        return (201, server.par_answer.lock().unwrap().clone());
    }
    if path == "/device" {
        return (
            200,
            format!(
                r#"{{"device_code":"dc-secret","user_code":"WDJB-MJHT","verification_uri":"{base}/activate","expires_in":600,"interval":1}}"#
            ),
        );
    }
    let body = match path {
        "/.well-known/openid-configuration" => {
            let named = server
                .named_issuer
                .lock()
                .unwrap()
                .clone()
                .unwrap_or(base.clone());
            let auth_query = server.auth_query.lock().unwrap().clone();
            format!(
                r#"{{"issuer":"{named}","authorization_endpoint":"{base}/auth{auth_query}","token_endpoint":"{base}/token","jwks_uri":"{base}/jwks","device_authorization_endpoint":"{base}/device","revocation_endpoint":"{base}/revoke","end_session_endpoint":"{base}/logout"{}}}"#,
                server.extra_metadata.lock().unwrap()
            )
        }
        "/jwks" => {
            server.jwks_fetches.fetch_add(1, Ordering::SeqCst);
            server.jwks.clone()
        }
        "/token" => format!(
            r#"{{"access_token":"at-1","token_type":"Bearer","expires_in":300,"refresh_token":"rt-1","id_token":"{}"}}"#,
            server.id_token.lock().unwrap()
        ),
        _ => "{}".into(),
    };
    (200, body)
}

impl Fixture {
    fn rs256(&self, kid: &str, claims: &str) -> String {
        self.rs256_typed(kid, "JWT", claims)
    }

    fn rs256_typed(&self, kid: &str, typ: &str, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(format!(r#"{{"alg":"RS256","kid":"{kid}","typ":"{typ}"}}"#)),
            B64.encode(claims)
        );
        let mut sig = vec![0; self.rsa.public().modulus_len()];
        self.rsa
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    fn hs256(&self, key: &[u8], claims: &str) -> String {
        let input = format!(
            "{}.{}",
            B64.encode(r#"{"alg":"HS256","kid":"rsa1"}"#),
            B64.encode(claims)
        );
        let tag = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key),
            input.as_bytes(),
        );
        format!("{input}.{}", B64.encode(tag.as_ref()))
    }

    fn claims(&self, nonce: &str, aud: &str, exp: u64) -> String {
        format!(
            r#"{{"iss":"{}","sub":"mallory","aud":"{aud}","exp":{exp},"iat":{},"nonce":"{nonce}"}}"#,
            self.issuer,
            now()
        )
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Records every save: a refused sign-in must make none.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

#[async_trait::async_trait]
impl PersistTokens for Recorder {
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        self.0
            .lock()
            .unwrap()
            .push(tokens.access_token.expose_secret().to_owned());
        Ok(())
    }

    async fn clear(&self) -> Result<(), Error> {
        self.0.lock().unwrap().push("<cleared>".into());
        Ok(())
    }
}

/// Keeps every token set saved.
#[derive(Default)]
struct Saved(Mutex<Vec<TokenSet>>);

#[async_trait::async_trait]
impl PersistTokens for Saved {
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        self.0.lock().unwrap().push(tokens.clone());
        Ok(())
    }

    async fn clear(&self) -> Result<(), Error> {
        self.0.lock().unwrap().clear();
        Ok(())
    }
}

/// One sign-in whose token response carries `make(nonce)`; the callback forged here.
async fn attempt(
    f: &Fixture,
    provider: &Provider,
    make: impl Fn(&str) -> String,
    store: &Recorder,
) -> Result<hearth_pkce::SignIn, Error> {
    let request = provider.authorization_request(REDIRECT)?;
    attempt_request(f, provider, request, make, store).await
}

/// [`attempt`] with the request made by the caller.
async fn attempt_request(
    f: &Fixture,
    provider: &Provider,
    request: hearth_pkce::AuthorizationRequest,
    make: impl Fn(&str) -> String,
    store: &Recorder,
) -> Result<hearth_pkce::SignIn, Error> {
    let (url, pending) = provider.start(request).await?;
    let param = |name: &str| {
        url.split(['?', '&'])
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_owned()
    };
    *f.server.id_token.lock().unwrap() = make(&param("nonce"));
    let grant = pending.complete(&format!("{REDIRECT}?code=c-1&state={}", param("state")))?;
    provider.exchange_and_store(grant, store).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forged_id_token_is_refused_and_nothing_is_stored() {
    let f = fixture("forged").await;
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    let store = Recorder::default();
    // The honest token first: the fixture works.
    let ok = attempt(
        &f,
        &provider,
        |n| f.rs256("rsa1", &f.claims(n, CLIENT, now() + 300)),
        &store,
    )
    .await
    .unwrap();
    assert_eq!(ok.claims.unwrap().sub, "mallory");
    assert_eq!(store.0.lock().unwrap().len(), 1);
    store.0.lock().unwrap().clear();

    type Forge<'a> = Box<dyn Fn(&str) -> String + 'a>;
    let cases: Vec<(&str, &str, Forge<'_>)> = vec![
        (
            "wrong nonce",
            "nonce is not",
            Box::new(|_| f.rs256("rsa1", &f.claims("another-sign-in", CLIENT, now() + 300))),
        ),
        (
            "wrong aud",
            "aud",
            Box::new(|n| f.rs256("rsa1", &f.claims(n, "another-app", now() + 300))),
        ),
        (
            "expired",
            "expired",
            Box::new(|n| f.rs256("rsa1", &f.claims(n, CLIENT, now() - 3600))),
        ),
        (
            "alg none",
            "none",
            Box::new(|n| {
                format!(
                    "{}.{}.",
                    B64.encode(r#"{"alg":"none"}"#),
                    B64.encode(f.claims(n, CLIENT, now() + 300))
                )
            }),
        ),
        (
            "HS256 keyed with the RSA public key (PEM)",
            "HMAC",
            Box::new(|n| {
                f.hs256(
                    f.rsa_public_pem.as_bytes(),
                    &f.claims(n, CLIENT, now() + 300),
                )
            }),
        ),
        (
            "HS256 keyed with the RSA modulus",
            "HMAC",
            Box::new(|n| f.hs256(&f.n, &f.claims(n, CLIENT, now() + 300))),
        ),
        (
            "an access token of the same issuer (typ at+jwt)",
            "typ",
            Box::new(|n| f.rs256_typed("rsa1", "at+jwt", &f.claims(n, CLIENT, now() + 300))),
        ),
        (
            "no nonce",
            "no nonce",
            Box::new(|_| {
                f.rs256(
                    "rsa1",
                    &format!(
                        r#"{{"iss":"{}","sub":"m","aud":"{CLIENT}","exp":{},"iat":{}}}"#,
                        f.issuer,
                        now() + 300,
                        now()
                    ),
                )
            }),
        ),
        (
            "several audiences without azp",
            "azp",
            Box::new(|n| {
                f.rs256(
                    "rsa1",
                    &f.claims(n, CLIENT, now() + 300).replace(
                        &format!(r#""aud":"{CLIENT}""#),
                        &format!(r#""aud":["{CLIENT}","other"]"#),
                    ),
                )
            }),
        ),
        (
            "a wrong c_hash",
            "c_hash",
            Box::new(|n| {
                f.rs256(
                    "rsa1",
                    &f.claims(n, CLIENT, now() + 300)
                        .replace('}', r#","c_hash":"AAAAAAAAAAAAAAAAAAAAAA"}"#),
                )
            }),
        ),
    ];
    for (what, needle, forge) in cases {
        let e = attempt(&f, &provider, forge, &store).await.unwrap_err();
        assert!(matches!(e, Error::InvalidIdToken { .. }), "{what}: {e}");
        assert!(e.to_string().contains(needle), "{what}: {e}");
        assert_eq!(e.kind(), hearth_pkce::ErrorKind::Integrity);
        assert!(store.0.lock().unwrap().is_empty(), "{what}: stored");
        assert!(
            !e.to_string().contains("at-1"),
            "{what}: the message names a token"
        );
    }
    // Forged with the issuer's key under another kid, twice: one JWKS refetch in all.
    let before = f.server.jwks_fetches.load(Ordering::SeqCst);
    for _ in 0..2 {
        let e = attempt(
            &f,
            &provider,
            |n| f.rs256("rotated?", &f.claims(n, CLIENT, now() + 300)),
            &store,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("does not publish"), "{e}");
    }
    assert_eq!(
        f.server.jwks_fetches.load(Ordering::SeqCst),
        before + 1,
        "no refetch storm"
    );
    assert!(store.0.lock().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_discovery_document_naming_another_issuer_is_refused() {
    let f = fixture("issuer").await;
    *f.server.named_issuer.lock().unwrap() = Some("https://accounts.example".into());
    let e = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("another issuer"), "{e}");
    assert_eq!(e.kind(), hearth_pkce::ErrorKind::Integrity);
    assert_eq!(
        f.server.jwks_fetches.load(Ordering::SeqCst),
        0,
        "no keys fetched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_grant_slows_down_when_told_and_stops_on_refusal() {
    let f = fixture("device").await;
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    *f.server.id_token.lock().unwrap() = f.rs256(
        "rsa1",
        &format!(
            r#"{{"iss":"{}","sub":"tv","aud":"{CLIENT}","exp":{},"iat":{}}}"#,
            f.issuer,
            now() + 300,
            now()
        ),
    );
    *f.server.device_answers.lock().unwrap() = vec![
        "authorization_pending",
        "slow_down",
        "authorization_pending",
    ];
    let mut device = provider.device_authorization("openid").await.unwrap();
    assert_eq!(device.interval, std::time::Duration::from_secs(1));
    let signed = provider.poll_device(&mut device).await.unwrap();
    assert_eq!(signed.claims.unwrap().sub, "tv");
    assert_eq!(
        device.interval,
        std::time::Duration::from_secs(6),
        "slow_down added 5 s"
    );
    let polls = f.server.device_polls.lock().unwrap().clone();
    assert_eq!(polls.len(), 4);
    // After the slow_down the device waited the longer interval (never less).
    assert!(polls[2] - polls[1] >= std::time::Duration::from_secs(6));
    assert!(!format!("{device:?}").contains("dc-secret"));

    for (answer, expired) in [("expired_token", true), ("access_denied", false)] {
        *f.server.device_answers.lock().unwrap() = vec![answer];
        let mut device = provider.device_authorization("openid").await.unwrap();
        let e = provider.poll_device(&mut device).await.unwrap_err();
        if expired {
            assert!(matches!(e, Error::Expired), "{e}");
        } else {
            assert!(matches!(e, Error::Denied { .. }), "{e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_id_token_naming_another_user_ends_the_session() {
    let f = fixture("refresh-sub").await;
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    let store = Recorder::default();
    let signed = attempt(
        &f,
        &provider,
        |n| f.rs256("rsa1", &f.claims(n, CLIENT, now() + 300)),
        &store,
    )
    .await
    .unwrap();
    let store = Arc::new(Recorder::default());
    let session = hearth_pkce::Session::for_provider(&provider, signed)
        .with_persistence(Arc::clone(&store))
        .with_refresh_skew(std::time::Duration::from_secs(86_400));
    assert_eq!(session.claims().unwrap().sub, "mallory");

    // A refresh whose ID token is the same user's: accepted, and kept as the claims.
    let same = format!(
        r#"{{"iss":"{}","sub":"mallory","aud":"{CLIENT}","exp":{},"iat":{},"email":"m@x.test"}}"#,
        f.issuer,
        now() + 300,
        now()
    );
    *f.server.id_token.lock().unwrap() = f.rs256("rsa1", &same);
    session.fresh_tokens().await.unwrap();
    assert_eq!(session.claims().unwrap().email.as_deref(), Some("m@x.test"));
    assert_eq!(store.0.lock().unwrap().len(), 1, "the refreshed set saved");

    // Then one naming another user, properly signed: refused, the stored tokens are
    // cleared, and the session hands out nothing any more.
    let other = format!(
        r#"{{"iss":"{}","sub":"eve","aud":"{CLIENT}","exp":{},"iat":{}}}"#,
        f.issuer,
        now() + 300,
        now()
    );
    *f.server.id_token.lock().unwrap() = f.rs256("rsa1", &other);
    let e = session.fresh_tokens().await.unwrap_err();
    assert!(
        matches!(&e, Error::IdTokenChanged { reason } if reason.contains("another user")),
        "{e}"
    );
    assert_eq!(store.0.lock().unwrap().last().unwrap(), "<cleared>");
    let again = session
        .clone()
        .with_refresh_skew(std::time::Duration::ZERO)
        .fresh_tokens()
        .await
        .unwrap_err();
    assert!(matches!(again, Error::IdTokenChanged { .. }), "{again}");
    // Nor through `refresh` with an older access token.
    let stale = hearth_token_guard::AccessToken::new("at-0");
    assert!(matches!(
        session.refresh(&stale).await,
        Err(Error::IdTokenChanged { .. })
    ));
    assert_eq!(session.claims().unwrap().sub, "mallory", "never eve");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_id_token_that_cannot_be_tied_to_the_sign_in_is_dropped() {
    let f = fixture("refresh-unbound").await;
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    let store = Recorder::default();
    let signed = attempt(
        &f,
        &provider,
        |n| f.rs256("rsa1", &f.claims(n, CLIENT, now() + 300)),
        &store,
    )
    .await
    .unwrap();
    let signed_id = signed.tokens.id_token.clone().unwrap();
    let eve = format!(
        r#"{{"iss":"{}","sub":"eve","aud":"{CLIENT}","exp":{},"iat":{}}}"#,
        f.issuer,
        now() + 300,
        now()
    );
    *f.server.id_token.lock().unwrap() = f.rs256("rsa1", &eve);
    let eager = std::time::Duration::from_secs(86_400);

    // No provider: nothing can check eve's token, so it is neither kept nor stored.
    let saved = Arc::new(Saved::default());
    let bare = hearth_pkce::Session::new(provider.token_client().clone(), signed.tokens.clone())
        .with_refresh_skew(eager)
        .with_persistence(Arc::clone(&saved));
    let tokens = bare.fresh_tokens().await.unwrap();
    assert_eq!(
        tokens.id_token.as_ref(),
        Some(&signed_id),
        "the sign-in's kept"
    );
    let stored = saved.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(stored.id_token.as_ref(), Some(&signed_id), "and stored");

    // Nor does Provider::refresh hand out claims it cannot tie to a sign-in.
    let refresh = signed.tokens.refresh_token.clone().unwrap();
    let unbound = provider.refresh(&refresh, None).await.unwrap();
    assert!(unbound.claims.is_none() && unbound.tokens.id_token.is_none());
    let e = provider
        .refresh(&refresh, signed.claims.as_ref())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::IdTokenChanged { .. }), "{e}");

    // A provider session given bare tokens has no claims to compare with: the same.
    let session =
        hearth_pkce::Session::for_provider(&provider, signed.clone()).with_refresh_skew(eager);
    session.replace(signed.tokens.clone()).await.unwrap();
    let tokens = session.fresh_tokens().await.unwrap();
    assert_eq!(tokens.id_token.as_ref(), Some(&signed_id));
    assert!(session.claims().is_none(), "eve never becomes the baseline");

    // A sign-in at another issuer is not this session's.
    let mut foreign = signed.clone();
    foreign.claims.as_mut().unwrap().iss = "https://elsewhere.example".into();
    let e = session.replace_sign_in(foreign).await.unwrap_err();
    assert!(matches!(e, Error::InvalidIdToken { .. }), "{e}");
    assert!(session.claims().is_none());

    // With a sign-in's claims again, eve's token ends the session.
    session.replace_sign_in(signed).await.unwrap();
    assert_eq!(session.claims().unwrap().sub, "mallory");
    let e = session.fresh_tokens().await.unwrap_err();
    assert!(matches!(e, Error::IdTokenChanged { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_request_leaves_the_endpoints_own_query_and_needs_an_expiry() {
    let f = fixture("par").await;
    *f.server.auth_query.lock().unwrap() = "?tenant=t1".into();
    *f.server.extra_metadata.lock().unwrap() = format!(
        r#","pushed_authorization_request_endpoint":"{}/par""#,
        f.issuer
    );
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();

    *f.server.par_answer.lock().unwrap() = r#"{"request_uri":"urn:par:1","expires_in":60}"#.into();
    let request = provider.authorization_request(REDIRECT).unwrap();
    let (url, _) = provider.start(request).await.unwrap();
    assert_eq!(
        url,
        format!(
            "{}/auth?tenant=t1&client_id={CLIENT}&request_uri=urn%3Apar%3A1",
            f.issuer
        )
    );
    let pushed = f.server.par_forms.lock().unwrap().last().unwrap().clone();
    assert!(
        !pushed.contains("tenant"),
        "the endpoint's own query is not pushed: {pushed}"
    );
    assert_eq!(pushed.matches("client_id=").count(), 1, "{pushed}");
    assert!(
        pushed.contains("code_challenge=") && pushed.contains("state="),
        "{pushed}"
    );

    // A request built for another endpoint is not pushed (its parameters cannot be told
    // from the endpoint's own).
    let elsewhere = hearth_pkce::AuthorizationRequest::new(
        &format!("{}/other?tenant=t1", f.issuer),
        CLIENT,
        REDIRECT,
    );
    let e = provider.start(elsewhere).await.unwrap_err();
    assert!(matches!(e, Error::InvalidUrl { .. }), "{e}");

    // RFC 9126 §2.2: `expires_in` is required, and a request_uri that is already over is
    // no request_uri.
    for answer in [
        r#"{"request_uri":"urn:par:2"}"#,
        r#"{"request_uri":"urn:par:2","expires_in":0}"#,
        r#"{"request_uri":"urn:par:2","expires_in":"60"}"#,
        r#"{"expires_in":60}"#,
    ] {
        *f.server.par_answer.lock().unwrap() = answer.into();
        let request = provider.authorization_request(REDIRECT).unwrap();
        let e = provider.start(request).await.unwrap_err();
        assert!(
            matches!(e, Error::MalformedTokenResponse { .. }),
            "{answer}: {e}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_asked_for_is_checked_against_auth_time() {
    let f = fixture("max-age").await;
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    let with_auth_time = |nonce: &str, auth_time: Option<u64>| {
        let claims = f.claims(nonce, CLIENT, now() + 300);
        let claims = match auth_time {
            Some(t) => format!(r#"{},"auth_time":{t}}}"#, &claims[..claims.len() - 1]),
            None => claims,
        };
        f.rs256("rsa1", &claims)
    };
    let request = || {
        provider
            .authorization_request(REDIRECT)
            .unwrap()
            .max_age(std::time::Duration::from_secs(60))
    };
    for (what, auth_time) in [("an hour ago", Some(now() - 3600)), ("not said", None)] {
        let store = Recorder::default();
        let e = attempt_request(
            &f,
            &provider,
            request(),
            |n| with_auth_time(n, auth_time),
            &store,
        )
        .await
        .unwrap_err();
        assert!(matches!(e, Error::InvalidIdToken { .. }), "{what}: {e}");
        assert!(store.0.lock().unwrap().is_empty(), "{what}: nothing stored");
    }
    let store = Recorder::default();
    let ok = attempt_request(
        &f,
        &provider,
        request(),
        |n| with_auth_time(n, Some(now() - 5)),
        &store,
    )
    .await
    .unwrap();
    assert!(ok.claims.unwrap().auth_time.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_gives_the_end_session_url_whatever_revocation_answered() {
    let f = fixture("logout").await;
    // No keys needed to sign out.
    let provider = Provider::discover_without_keys(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    let mut tokens = TokenSet::new(hearth_token_guard::AccessToken::new("at-1"));
    tokens.refresh_token = Some(hearth_token_guard::RefreshToken::new("rt-1"));
    let end = format!("{}/logout?client_id={CLIENT}", f.issuer);

    // A provider that revokes refresh tokens and not access tokens: no failure.
    *f.server.revoke_answers.lock().unwrap() = vec![(200, ""), (400, "unsupported_token_type")];
    let logout = provider.logout(&tokens, None).await;
    assert!(logout.revoked && logout.error.is_none(), "{logout:?}");
    assert_eq!(logout.end_session_url.as_deref(), Some(end.as_str()));

    // The refresh token's revocation fails: reported, and the URL is still given.
    *f.server.revoke_answers.lock().unwrap() = vec![(503, "temporarily_unavailable")];
    let logout = provider.logout(&tokens, None).await;
    assert!(!logout.revoked);
    let e = logout.error.as_ref().expect("the failure is kept");
    assert!(e.is_retryable(), "{e}");
    assert_eq!(logout.end_session_url.as_deref(), Some(end.as_str()));
    assert!(!format!("{logout:?}").contains("rt-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_algorithms_the_provider_publishes_are_accepted() {
    let f = fixture("algs").await;
    let store = Recorder::default();
    let honest = |n: &str| f.rs256("rsa1", &f.claims(n, CLIENT, now() + 300));
    // It says it signs ID tokens with ES256 only: an RS256 one (under a key it also
    // publishes) is not its ID token.
    *f.server.extra_metadata.lock().unwrap() =
        r#","id_token_signing_alg_values_supported":["ES256"]"#.into();
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    let e = attempt(&f, &provider, honest, &store).await.unwrap_err();
    assert!(matches!(e, Error::InvalidIdToken { .. }), "{e}");
    assert!(store.0.lock().unwrap().is_empty());
    // HS256 only (which Hearth never verifies): nothing is accepted.
    *f.server.extra_metadata.lock().unwrap() =
        r#","id_token_signing_alg_values_supported":["HS256"]"#.into();
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    let e = attempt(&f, &provider, honest, &store).await.unwrap_err();
    assert!(matches!(e, Error::InvalidIdToken { .. }), "{e}");
    assert!(store.0.lock().unwrap().is_empty(), "nothing stored");
    // RS256 among them: accepted.
    *f.server.extra_metadata.lock().unwrap() =
        r#","id_token_signing_alg_values_supported":["RS256","ES256"]"#.into();
    let provider = Provider::discover(&f.client, &f.issuer, CLIENT)
        .await
        .unwrap();
    attempt(&f, &provider, honest, &store).await.unwrap();
}
