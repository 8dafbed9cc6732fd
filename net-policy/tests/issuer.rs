//! An issuer's metadata and keys over HTTPS (feature `issuer`): discovery against a real
//! rustls server (pinned rcgen certificate), the RFC 8414 fallback, every refusal, and
//! `IssuerKeys` keeping a JWKS fresh in the background and on an unknown key id, on both
//! kinds of tokio runtime.
#![cfg(feature = "issuer")]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hearth_net_policy::{
    Error, ErrorKind, HttpsClient, IssuerKeys, IssuerMetadata, KeyRefresh, Pin, PinPolicy,
    TlsPolicy,
};
use hearth_token_guard::jose::{Algorithm, JwksCache};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// What the server answers, by path: status, `Cache-Control`, body.
type Routes = Arc<Mutex<HashMap<String, (u16, &'static str, String)>>>;

struct Server {
    base: String,
    routes: Routes,
    hits: Arc<AtomicUsize>,
    client: HttpsClient,
}

/// A TLS server on its own thread and runtime, so that it outlives any test runtime.
fn server() -> Server {
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let routes: Routes = Arc::default();
    let hits = Arc::new(AtomicUsize::new(0));
    let (r, h) = (Arc::clone(&routes), Arc::clone(&hits));
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, routes, hits) = (acceptor.clone(), Arc::clone(&r), Arc::clone(&h));
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req: hyper::Request<_>| {
                        hits.fetch_add(1, Ordering::SeqCst);
                        let route = routes.lock().unwrap().get(req.uri().path()).cloned();
                        let (status, cache, body) =
                            route.unwrap_or((404, "no-store", String::new()));
                        let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
                        *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                        response
                            .headers_mut()
                            .insert("cache-control", cache.parse().unwrap());
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
    });
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [pin.to_string()])
        .unwrap();
    let client = HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap()).without_proxy();
    Server {
        base: format!("https://127.0.0.1:{port}"),
        routes,
        hits,
        client,
    }
}

impl Server {
    fn route(&self, path: &str, status: u16, cache: &'static str, body: &str) {
        self.routes
            .lock()
            .unwrap()
            .insert(path.to_owned(), (status, cache, body.to_owned()));
    }
}

const KEY_A: &str =
    r#"{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}"#;
const KEY_B: &str = r#"{"kty":"EC","crv":"P-256","kid":"b","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;

fn jwks(keys: &[&str]) -> String {
    format!(r#"{{"keys":[{}]}}"#, keys.join(","))
}

/// A token naming key `kid` (its signature is never checked: the key is looked up first).
fn token_for(kid: &str) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = format!(r#"{{"alg":"EdDSA","kid":"{kid}"}}"#);
    format!("{}.e30.c2ln", b64.encode(header))
}

#[tokio::test]
async fn discovery_finds_the_document_and_falls_back_to_rfc8414() {
    let s = server();
    let issuer = format!("{}/realms/a", s.base);
    let doc = format!(
        r#"{{"issuer":"{issuer}","jwks_uri":"{0}/jwks","revocation_endpoint":"{0}/revoke"}}"#,
        s.base
    );
    s.route("/realms/a/.well-known/openid-configuration", 200, "", &doc);
    let meta = IssuerMetadata::discover(&s.client, &issuer).await.unwrap();
    assert_eq!(meta.jwks_uri(), Some(format!("{}/jwks", s.base).as_str()));

    // An OAuth server without OpenID Connect: RFC 8414's path, the issuer's path last.
    let oauth = format!("{}/tenant", s.base);
    let doc = format!(
        r#"{{"issuer":"{oauth}","token_endpoint":"{}/token"}}"#,
        s.base
    );
    s.route(
        "/.well-known/oauth-authorization-server/tenant",
        200,
        "",
        &doc,
    );
    let meta = IssuerMetadata::discover(&s.client, &oauth).await.unwrap();
    assert_eq!(
        meta.token_endpoint(),
        Some(format!("{}/token", s.base).as_str())
    );
}

#[tokio::test]
async fn discovery_refuses_what_it_cannot_trust() {
    let s = server();
    let issuer = format!("{}/realms/b", s.base);
    let path = "/realms/b/.well-known/openid-configuration";
    // A document copied from another issuer.
    s.route(path, 200, "", r#"{"issuer":"https://id.example/realms/b"}"#);
    let e = IssuerMetadata::discover(&s.client, &issuer)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidMetadata { .. }), "{e}");
    assert_eq!(e.kind(), ErrorKind::Integrity);
    // A plain-HTTP endpoint to another host.
    let doc = format!(r#"{{"issuer":"{issuer}","token_endpoint":"http://id.example/t"}}"#);
    s.route(path, 200, "", &doc);
    let e = IssuerMetadata::discover(&s.client, &issuer)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("plain HTTP"), "{e}");
    // A server error, and no document at either path.
    s.route(path, 500, "", "oops");
    let e = IssuerMetadata::discover(&s.client, &issuer)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::HttpStatus { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "the server answered 500 Internal Server Error"
    );
    let e = IssuerMetadata::discover(&s.client, &format!("{}/none", s.base))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    // Not an issuer URL at all.
    for bad in ["http://id.example", "https://id.example/?x=1"] {
        assert!(
            IssuerMetadata::discover(&s.client, bad).await.is_err(),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn keys_that_cannot_be_fetched_fail_the_start_with_the_reason() {
    let s = server();
    let e = IssuerKeys::start(&s.client, &format!("{}/missing", s.base))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    s.route("/garbage", 200, "", r#"{"keys":"no"}"#);
    let e = IssuerKeys::start(&s.client, &format!("{}/garbage", s.base))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidMetadata { .. }), "{e}");
}

/// Polls `done` until it holds, for at most 30 s.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_refreshed_in_the_background_and_taken_without_waiting() {
    let s = server();
    s.route("/jwks", 200, "max-age=0", &jwks(&[KEY_A]));
    let refresh = KeyRefresh {
        shortest: Duration::from_millis(100),
        min_interval: Duration::from_millis(10),
        ..KeyRefresh::default()
    };
    let keys = IssuerKeys::start_with(&s.client, &format!("{}/jwks", s.base), refresh)
        .await
        .unwrap();
    let cache = JwksCache::new(keys);
    assert_eq!(cache.keys().unwrap().keys().len(), 1);
    // The issuer adds a key: the background refresh (max-age 0, so every 100 ms) brings
    // it, and the cache takes it with no unknown key id involved.
    s.route("/jwks", 200, "max-age=0", &jwks(&[KEY_A, KEY_B]));
    eventually("the second key arrives", || {
        cache.keys().unwrap().keys().len() == 2
    });
    // The issuer goes down: the keys at hand stay.
    s.route("/jwks", 503, "", "down");
    let hits = s.hits.load(Ordering::SeqCst);
    eventually("a failed refresh", || {
        s.hits.load(Ordering::SeqCst) > hits + 1
    });
    assert_eq!(cache.keys().unwrap().keys().len(), 2);
    // Dropped, it stops fetching.
    drop(cache);
    std::thread::sleep(Duration::from_millis(300));
    let hits = s.hits.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(500));
    assert!(s.hits.load(Ordering::SeqCst) <= hits + 1, "still fetching");
}

/// Waits for an unknown key's fetch however loaded the machine.
const PATIENT: KeyRefresh = KeyRefresh {
    shortest: Duration::from_secs(300),
    longest: Duration::from_secs(24 * 3600),
    min_interval: Duration::from_millis(10),
    wait: Duration::from_secs(30),
};

/// A key rotation seen first through a token: on a multi-threaded runtime (`waits`) the
/// one verification waits for the fetch; on a current-thread one it is refused and the
/// key serves the next.
async fn rotation_through_an_unknown_kid(waits: bool) {
    let s = server();
    s.route("/jwks", 200, "max-age=3600", &jwks(&[KEY_A]));
    let keys = IssuerKeys::start_with(&s.client, &format!("{}/jwks", s.base), PATIENT)
        .await
        .unwrap();
    let cache = JwksCache::new(keys);
    assert!(matches!(
        cache.verify(&token_for("b"), &Algorithm::ALL),
        Err(hearth_token_guard::Error::UnknownSigningKey)
    ));
    // The start's fetch and the unknown key's (in the background, without `waits`).
    let deadline = Instant::now() + Duration::from_secs(30);
    while s.hits.load(Ordering::SeqCst) < 2 {
        assert!(
            Instant::now() < deadline,
            "the unknown key's fetch never came"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    s.route("/jwks", 200, "max-age=3600", &jwks(&[KEY_A, KEY_B]));
    // Within the cache's interval (60 s) since the last refetch: no fetch, key still unknown.
    for _ in 0..20 {
        assert!(cache.verify(&token_for("c"), &Algorithm::ALL).is_err());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);

    let s2 = server();
    s2.route("/jwks", 200, "max-age=3600", &jwks(&[KEY_A]));
    let keys = IssuerKeys::start_with(&s2.client, &format!("{}/jwks", s2.base), PATIENT)
        .await
        .unwrap();
    let cache = JwksCache::new(keys);
    cache.keys().unwrap();
    s2.route("/jwks", 200, "max-age=3600", &jwks(&[KEY_A, KEY_B]));
    let first = cache.verify(&token_for("b"), &Algorithm::ALL).unwrap_err();
    if waits {
        // The key is found by the refetch; the signature ("sig") is then what fails.
        assert!(
            !matches!(first, hearth_token_guard::Error::UnknownSigningKey),
            "{first}"
        );
    } else {
        assert!(matches!(
            first,
            hearth_token_guard::Error::UnknownSigningKey
        ));
        let deadline = Instant::now() + Duration::from_secs(30);
        while cache.keys().unwrap().keys().len() < 2 {
            assert!(Instant::now() < deadline, "the fetched key never arrived");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert_eq!(cache.keys().unwrap().keys().len(), 2);
    let later = cache.verify(&token_for("b"), &Algorithm::ALL).unwrap_err();
    assert!(!matches!(
        later,
        hearth_token_guard::Error::UnknownSigningKey
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_kid_fetches_on_a_multi_threaded_runtime() {
    rotation_through_an_unknown_kid(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn an_unknown_kid_never_blocks_a_current_thread_runtime() {
    rotation_through_an_unknown_kid(false).await;
}
