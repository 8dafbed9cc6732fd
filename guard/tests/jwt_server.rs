//! JWT bearer tokens end to end: a guarded server in a child process takes its issuer's
//! keys from a JWKS that this process serves over HTTPS (rustls, an rcgen CA), fetched
//! and kept fresh by `hearth_net_policy::IssuerKeys`; tokens signed here are sent over
//! TCP with hand-written HTTP/1.1.
//!
//! This file has its own `main` (`harness = false`): with `HEARTH_JWT_SERVER` set the
//! binary is the guarded server (it prints its port), otherwise it is the issuer and the
//! client. It prints libtest-style lines so the suite's totals include it.

#[path = "../../tests-common/libtest.rs"]
mod libtest;

use std::convert::Infallible;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD as B64};
use bytes::Bytes;
use hearth_guard::{Caller, JwtBearer, Limit, LocalGuard, ServeBody, ServeOptions, serve};
use hearth_net_policy::{HttpsClient, IssuerKeys, IssuerMetadata, KeyRefresh, TlsPolicy};
use hearth_token_guard::jose::JwksCache;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use ring::hmac;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

const SERVER_ENV: &str = "HEARTH_JWT_SERVER";
/// The issuer's path on the test server; the issuer is `https://127.0.0.1:PORT/realms/jan`.
const REALM: &str = "/realms/jan";
/// The issuer URL, once the server is up (the same in both processes).
static ISS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
const AUD: &str = "jan-api";
/// The guard's refetch interval for unknown key ids: longer than any run, so that a
/// flood of made-up key ids after the rotation check costs no fetch at all.
const MIN_REFETCH: Duration = Duration::from_secs(600);
/// How long the client waits for an answer before calling the server hung.
const PATIENCE: Duration = Duration::from_secs(30);

fn main() {
    if let Ok(config) = std::env::var(SERVER_ENV) {
        server(&config);
        return;
    }
    let issuer = Issuer::new();
    let (issuer_url, root_der) = start_issuer(Arc::clone(&issuer));
    ISS.set(issuer_url.clone()).unwrap();
    let dir = std::env::temp_dir().join(format!("hearth-jwt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let root = dir.join("root.der");
    std::fs::write(&root, &root_der).unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(SERVER_ENV, format!("{issuer_url} {}", root.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    let t = Target { port, issuer };
    let checks: Vec<libtest::Check<'_, Target>> = vec![
        ("a_valid_access_token_is_admitted_with_its_sub", admitted),
        // Before any made-up key id: the interval allows one refetch, and it is this one.
        (
            "a_rotated_key_is_fetched_and_its_first_token_admitted",
            rotated,
        ),
        ("every_bad_token_is_401_invalid_token", refused),
        ("made_up_key_ids_cost_no_fetch_within_the_interval", flood),
    ];
    let failed = libtest::run(&checks, &t);
    stop(&mut child);
    let _ = std::fs::remove_dir_all(&dir);
    if failed > 0 {
        std::process::exit(101);
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The guarded server: RFC 9068 access tokens from the issuer for `AUD`, `/media` needing
/// `media:read`; the issuer's metadata and keys over HTTPS through the test CA.
fn server(config: &str) {
    let (issuer, root) = config.split_once(' ').unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let policy = TlsPolicy::new()
            .add_root_der(std::fs::read(root).unwrap())
            .build()
            .unwrap();
        let client = HttpsClient::new(&policy).without_proxy();
        let refresh = KeyRefresh {
            min_interval: Duration::from_millis(50),
            // However loaded the machine, the rotation's fetch is waited for.
            wait: PATIENCE,
            ..KeyRefresh::default()
        };
        let meta = IssuerMetadata::discover(&client, issuer).await.unwrap();
        let jwks_uri = meta.jwks_uri().unwrap();
        let keys = IssuerKeys::start_with(&client, jwks_uri, refresh)
            .await
            .unwrap();
        let cache = JwksCache::new(keys).min_refetch(MIN_REFETCH);
        // Failed tokens are limited per peer (10 a minute by default); the checks here
        // send a few hundred from one address on purpose.
        let failures = Limit::sliding_window(10_000, Duration::from_secs(3600)).unwrap();
        let guard = LocalGuard::new()
            .jwt_bearer(JwtBearer::new(cache, issuer, AUD))
            .failed_auth_limit(failures)
            .unwrap()
            .require("/media", "media:read")
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        let handler = |request: hearth_guard::GuardedRequest| async move {
            let text = match request.extensions().get::<Caller>() {
                Some(Caller::Jwt { sub, .. }) => format!("sub={sub}"),
                other => format!("{other:?}"),
            };
            http::Response::new(ServeBody::new(Full::new(Bytes::from(text))))
        };
        serve(listener, Arc::new(guard), ServeOptions::default(), handler)
            .await
            .unwrap();
    });
}

/// An issuer: the ES256 keys it publishes, and how often its JWKS was fetched.
struct Issuer {
    published: Mutex<Vec<(String, Arc<EcdsaKeyPair>)>>,
    fetches: AtomicUsize,
}

impl Issuer {
    fn new() -> Arc<Self> {
        let issuer = Arc::new(Self {
            published: Mutex::new(Vec::new()),
            fetches: AtomicUsize::new(0),
        });
        issuer.publish("k1", key_pair());
        issuer
    }

    fn publish(&self, kid: &str, pair: Arc<EcdsaKeyPair>) {
        self.published.lock().unwrap().push((kid.to_owned(), pair));
    }

    fn key(&self, kid: &str) -> Arc<EcdsaKeyPair> {
        let keys = self.published.lock().unwrap();
        Arc::clone(&keys.iter().find(|(k, _)| k == kid).unwrap().1)
    }

    fn jwks(&self) -> String {
        let keys = self.published.lock().unwrap();
        let jwks: Vec<String> = keys.iter().map(|(kid, pair)| jwk(kid, pair)).collect();
        format!(r#"{{"keys":[{}]}}"#, jwks.join(","))
    }
}

fn key_pair() -> Arc<EcdsaKeyPair> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap(),
    )
}

fn jwk(kid: &str, pair: &EcdsaKeyPair) -> String {
    let p = pair.public_key().as_ref();
    format!(
        r#"{{"kty":"EC","crv":"P-256","use":"sig","kid":"{kid}","x":"{}","y":"{}"}}"#,
        B64.encode(&p[1..33]),
        B64.encode(&p[33..])
    )
}

/// The public key as the PEM a confused verifier would use as an HMAC key.
fn public_pem(pair: &EcdsaKeyPair) -> String {
    // SubjectPublicKeyInfo for id-ecPublicKey / prime256v1, then the uncompressed point.
    let mut der = vec![
        0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08,
        0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
    ];
    der.extend_from_slice(pair.public_key().as_ref());
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der)
    )
}

fn sign(pair: &EcdsaKeyPair, header: &str, claims: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(claims));
    let sig = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    format!("{input}.{}", B64.encode(sig.as_ref()))
}

fn es256(kid: &str) -> String {
    format!(r#"{{"alg":"ES256","kid":"{kid}","typ":"at+jwt"}}"#)
}

fn iss() -> &'static str {
    ISS.get().expect("the issuer is up")
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims_with(iss: &str, aud: &str, exp: u64) -> String {
    format!(
        r#"{{"iss":"{iss}","aud":"{aud}","sub":"alice","exp":{exp},"iat":{},"scope":"media:read"}}"#,
        now()
    )
}

fn claims() -> String {
    claims_with(iss(), AUD, now() + 300)
}

/// Good claims, bound to a DPoP key (RFC 9449 §6.1).
fn bound_claims() -> String {
    let claims = claims();
    format!(
        r#"{},"cnf":{{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}}}"#,
        &claims[..claims.len() - 1]
    )
}

/// Serves the issuer's metadata and `/jwks` over HTTPS with a leaf from a fresh CA;
/// returns the issuer URL and the CA.
fn start_issuer(issuer: Arc<Issuer>) -> (String, Vec<u8>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &root)
        .unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let port = std_listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, issuer) = (acceptor.clone(), Arc::clone(&issuer));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        let issuer = Arc::clone(&issuer);
                        async move {
                            if req.uri().path() == format!("{REALM}/.well-known/openid-configuration") {
                                let base = format!("https://127.0.0.1:{port}");
                                let meta = format!(
                                    r#"{{"issuer":"{base}{REALM}","jwks_uri":"{base}/jwks","token_endpoint":"{base}/token"}}"#
                                );
                                return Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(meta))));
                            }
                            issuer.fetches.fetch_add(1, Ordering::SeqCst);
                            let mut response =
                                hyper::Response::new(Full::new(Bytes::from(issuer.jwks())));
                            let headers = response.headers_mut();
                            headers.insert(
                                "content-type",
                                "application/jwk-set+json".parse().unwrap(),
                            );
                            headers.insert("cache-control", "max-age=3600".parse().unwrap());
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    (
        format!("https://127.0.0.1:{port}{REALM}"),
        root.der().to_vec(),
    )
}

struct Target {
    port: u16,
    issuer: Arc<Issuer>,
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Target {
    fn get(&self, path: &str, token: &str) -> Reply {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let raw = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {token}\r\n\
             Connection: close\r\n\r\n",
            self.port
        );
        s.write_all(raw.as_bytes()).unwrap();
        let mut reply = String::new();
        s.read_to_string(&mut reply).unwrap();
        let (head, body) = reply.split_once("\r\n\r\n").unwrap();
        Reply {
            status: head[9..12].parse().unwrap(),
            head: head.to_ascii_lowercase(),
            body: body.to_owned(),
        }
    }

    fn assert_invalid_token(&self, what: &str, token: &str) {
        let reply = self.get("/media/1", token);
        assert_eq!(reply.status, 401, "{what}: {}", reply.body);
        assert!(
            reply
                .head
                .contains("www-authenticate: bearer error=\"invalid_token\""),
            "{what}: {}",
            reply.head
        );
    }
}

fn admitted(t: &Target) {
    let token = sign(&t.issuer.key("k1"), &es256("k1"), &claims());
    let reply = t.get("/media/1", &token);
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "sub=alice");
}

fn refused(t: &Target) {
    let k1 = t.issuer.key("k1");
    let stranger = key_pair();
    let hs256 = |key: &[u8]| {
        let header = r#"{"alg":"HS256","kid":"k1","typ":"at+jwt"}"#;
        let input = format!("{}.{}", B64.encode(header), B64.encode(claims()));
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), input.as_bytes());
        format!("{input}.{}", B64.encode(tag.as_ref()))
    };
    let cases = [
        (
            "expired",
            sign(&k1, &es256("k1"), &claims_with(iss(), AUD, now() - 3600)),
        ),
        (
            "wrong aud",
            sign(
                &k1,
                &es256("k1"),
                &claims_with(iss(), "other-api", now() + 300),
            ),
        ),
        (
            "wrong iss",
            sign(
                &k1,
                &es256("k1"),
                &claims_with("https://evil.example", AUD, now() + 300),
            ),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
                B64.encode(claims())
            ),
        ),
        (
            "HS256 keyed with the public key's PEM",
            hs256(public_pem(&k1).as_bytes()),
        ),
        (
            "HS256 keyed with the public JWK",
            hs256(jwk("k1", &k1).as_bytes()),
        ),
        (
            "not an access token",
            sign(&k1, r#"{"alg":"ES256","kid":"k1","typ":"JWT"}"#, &claims()),
        ),
        (
            "signed by a stranger under k1",
            sign(&stranger, &es256("k1"), &claims()),
        ),
        ("unknown kid", sign(&stranger, &es256("nobody"), &claims())),
        (
            "DPoP-bound (cnf.jkt) but sent as a bearer token",
            sign(&k1, &es256("k1"), &bound_claims()),
        ),
    ];
    for (what, token) in cases {
        t.assert_invalid_token(what, &token);
    }
}

fn rotated(t: &Target) {
    let before = t.issuer.fetches.load(Ordering::SeqCst);
    let k2 = key_pair();
    t.issuer.publish("k2", Arc::clone(&k2));
    let reply = t.get("/media/1", &sign(&k2, &es256("k2"), &claims()));
    assert_eq!(
        reply.status, 200,
        "the first token under k2: {}",
        reply.body
    );
    let after = t.issuer.fetches.load(Ordering::SeqCst);
    assert_eq!(after, before + 1, "one fetch for the rotation");
    // The old key still works, with no fetch.
    let reply = t.get(
        "/media/1",
        &sign(&t.issuer.key("k1"), &es256("k1"), &claims()),
    );
    assert_eq!(reply.status, 200);
    assert_eq!(t.issuer.fetches.load(Ordering::SeqCst), after);
}

fn flood(t: &Target) {
    let before = t.issuer.fetches.load(Ordering::SeqCst);
    let stranger = key_pair();
    let started = Instant::now();
    for i in 0..200 {
        t.assert_invalid_token(
            "made-up kid",
            &sign(&stranger, &es256(&format!("x{i}")), &claims()),
        );
    }
    let fetched = t.issuer.fetches.load(Ordering::SeqCst) - before;
    // The guard asks again only after MIN_REFETCH (600 s) since the rotation's fetch.
    let allowed = usize::from(started.elapsed() >= MIN_REFETCH);
    assert!(
        fetched <= allowed,
        "{fetched} fetches for 200 made-up key ids"
    );
}
