//! The redirect matrix against real TLS servers on loopback (tokio-rustls, one rcgen
//! certificate pinned by the client): 301/302/303/307/308 × same or cross origin × GET or
//! POST, each with a bearer token, `Cookie`, `Proxy-Authorization`,
//! `X-Api-Key`, a caller-named sensitive header and an ordinary one; the request the second
//! hop delivers is checked header by header where it lands. Relative `Location`s too.

use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use hearth_net_policy::{Error, HttpsClient, Pin, PinPolicy, TlsPolicy, with_bearer};
use hearth_token_guard::AccessToken;
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Every test server's TLS: one self-signed certificate, and its pin.
fn tls() -> &'static (TlsAcceptor, Pin) {
    static TLS: OnceLock<(TlsAcceptor, Pin)> = OnceLock::new();
    TLS.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let pin = Pin::of_certificate(cert.der()).unwrap();
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .unwrap();
        (TlsAcceptor::from(Arc::new(config)), pin)
    })
}

/// A request as a server received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn read_request(s: &mut (impl AsyncRead + Unpin)) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, path) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some(Seen {
        method,
        path,
        headers,
        body,
    })
}

fn client() -> HttpsClient {
    // Only the pinned certificate is trusted: every hop is TLS to the test servers.
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [tls().1.to_string()])
        .unwrap();
    let policy = TlsPolicy::new().pins(pins).build().unwrap();
    HttpsClient::new(&policy)
        .without_proxy()
        .with_sensitive_header(http::HeaderName::from_static("x-emby-token"))
}

fn request(port: u16, post: bool) -> http::Request<Bytes> {
    let builder = http::Request::builder()
        .method(if post { "POST" } else { "GET" })
        .uri(format!("https://127.0.0.1:{port}/start"))
        .header("cookie", "session=COOKIE-SECRET")
        .header("proxy-authorization", "Basic UFJPWFktU0VDUkVU")
        .header("x-api-key", "APIKEY-SECRET")
        .header("x-emby-token", "EMBY-SECRET")
        .header("x-trace", "kept");
    let builder = if post {
        builder.header("content-type", "application/x-www-form-urlencoded")
    } else {
        builder
    };
    let body = if post {
        Bytes::from_static(b"refresh_token=RT-SECRET")
    } else {
        Bytes::new()
    };
    let mut req = builder.body(body).unwrap();
    with_bearer(&mut req, &AccessToken::new("BEARER-SECRET")).unwrap();
    req
}

const CREDENTIALS: [&str; 5] = [
    "authorization",
    "cookie",
    "proxy-authorization",
    "x-api-key",
    "x-emby-token",
];

#[tokio::test]
async fn the_redirect_matrix() {
    for status in [301u16, 302, 303, 307, 308] {
        for cross in [false, true] {
            for post in [false, true] {
                let case = format!("{status} cross={cross} post={post}");
                let (target_port, target_log) = serve(|_| None).await;
                let location_for = |first: u16| {
                    if cross {
                        format!("https://127.0.0.1:{target_port}/next")
                    } else {
                        format!("https://127.0.0.1:{first}/next")
                    }
                };
                let (first, first_log) = serve(|own| {
                    Some(format!(
                        "HTTP/1.1 {status} Moved\r\nlocation: {}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                        location_for(own)
                    ))
                })
                .await;
                let result = client()
                    .send_following_redirects(request(first, post))
                    .await;
                let to_get = status == 303 || (post && matches!(status, 301 | 302));
                let keeps_body = post && !to_get;
                if cross && keeps_body {
                    let err = result.unwrap_err();
                    assert!(
                        matches!(err, Error::RedirectRefused { .. }),
                        "{case}: {err}"
                    );
                    assert!(target_log.lock().unwrap().is_empty(), "{case}: sent anyway");
                    continue;
                }
                let response = result.unwrap_or_else(|e| panic!("{case}: {e}"));
                assert_eq!(&response.body[..], b"ok", "{case}");
                let log = if cross { target_log } else { first_log };
                let seen = log
                    .lock()
                    .unwrap()
                    .iter()
                    .find(|s| s.path == "/next")
                    .cloned()
                    .unwrap_or_else(|| panic!("{case}: the second hop never arrived"));
                assert_eq!(seen.header("x-trace"), Some("kept"), "{case}");
                for name in CREDENTIALS {
                    assert_eq!(
                        seen.header(name).is_some(),
                        !cross,
                        "{case}: {name} {}",
                        if cross { "leaked" } else { "lost" }
                    );
                }
                if to_get {
                    assert_eq!(seen.method, "GET", "{case}");
                    assert!(seen.body.is_empty(), "{case}");
                    assert!(seen.header("content-type").is_none(), "{case}");
                    assert!(
                        seen.header("content-length").is_none_or(|v| v == "0"),
                        "{case}"
                    );
                } else {
                    assert_eq!(seen.method, if post { "POST" } else { "GET" }, "{case}");
                    if post {
                        assert_eq!(seen.body, b"refresh_token=RT-SECRET", "{case}");
                        assert!(seen.header("content-type").is_some(), "{case}");
                    }
                }
            }
        }
    }
}

/// A TLS server that records every request and answers `/start` with `redirect(its port)`
/// (if any) and everything else with 200.
async fn serve(redirect: impl FnOnce(u16) -> Option<String>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let redirect = redirect(port);
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (sink, redirect) = (Arc::clone(&sink), redirect.clone());
            tokio::spawn(async move {
                let Ok(mut s) = tls().0.accept(tcp).await else {
                    return;
                };
                let Some(seen) = read_request(&mut s).await else {
                    return;
                };
                let reply = match (&redirect, seen.path.as_str()) {
                    (Some(r), "/start") => r.clone(),
                    _ => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
                        .to_owned(),
                };
                sink.lock().unwrap().push(seen);
                let _ = s.write_all(reply.as_bytes()).await;
                let _ = s.shutdown().await;
            });
        }
    });
    (port, log)
}

#[tokio::test]
async fn relative_locations_resolve_against_the_request() {
    for (location, path) in [
        ("next", "/next"),
        ("./next?x=1", "/next?x=1"),
        ("/a/../next", "/next"),
        ("?q=2", "/start?q=2"),
    ] {
        let (port, log) = serve(|_| {
            Some(format!(
                "HTTP/1.1 302 Found\r\nlocation: {location}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            ))
        })
        .await;
        let req = http::Request::get(format!("https://127.0.0.1:{port}/start"))
            .body(Bytes::new())
            .unwrap();
        let result = client().send_following_redirects(req).await;
        result.unwrap_or_else(|e| panic!("{location}: {e}"));
        let paths: Vec<String> = log.lock().unwrap().iter().map(|s| s.path.clone()).collect();
        assert_eq!(paths, ["/start", path], "{location}");
    }
}
