//! HTTP/2 by ALPN against a real hyper HTTP/2 server over rustls: chosen when the server
//! offers it, one connection shared by sequential and concurrent requests, HTTP/1.1 when
//! the server offers only that, and the pin checked on the HTTP/2 connection as on any.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hearth_net_policy::{Error, HttpsClient, Pin, PinPolicy, TlsPolicy};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{CertificateParams, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;

struct Server {
    port: u16,
    pin: Pin,
    connections: Arc<AtomicUsize>,
    /// (version, `:authority` or Host, Host header count) of each request.
    seen: Arc<Mutex<Vec<(http::Version, String, usize)>>>,
}

/// A TLS server offering `alpn`, answering HTTP/2 when ALPN chose `h2`, else HTTP/1.1.
async fn serve(alpn: &[&[u8]]) -> Server {
    serve_with(alpn, false).await
}

/// Like [`serve`]; with `hang_after_first`, each connection answers its first request
/// only and leaves every later one unanswered (a server that hung).
async fn serve_with(alpn: &[&[u8]], hang_after_first: bool) -> Server {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let pin = Pin::of_certificate(cert.der()).unwrap();
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (count, log) = (Arc::clone(&connections), Arc::clone(&seen));
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let (acceptor, log) = (acceptor.clone(), Arc::clone(&log));
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                let answered = Arc::new(AtomicUsize::new(0));
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let nth = answered.fetch_add(1, Ordering::SeqCst);
                    let authority = req
                        .uri()
                        .authority()
                        .map(|a| a.to_string())
                        .or_else(|| {
                            req.headers()
                                .get("host")
                                .map(|h| h.to_str().unwrap().to_owned())
                        })
                        .unwrap_or_default();
                    let hosts = req.headers().get_all("host").iter().count();
                    log.lock().unwrap().push((req.version(), authority, hosts));
                    async move {
                        if hang_after_first && nth > 0 {
                            std::future::pending::<()>().await;
                        }
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from("hello"))))
                    }
                });
                let io = TokioIo::new(tls);
                if h2 {
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(io, service)
                        .await;
                } else {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, service)
                        .await;
                }
            });
        }
    });
    Server {
        port,
        pin,
        connections,
        seen,
    }
}

fn client(pin: &Pin) -> HttpsClient {
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [pin.to_string()])
        .unwrap();
    HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap()).without_proxy()
}

#[tokio::test]
async fn http2_is_chosen_by_alpn_and_one_connection_carries_every_request() {
    let server = serve(&[b"h2", b"http/1.1"]).await;
    let client = client(&server.pin);
    let url = format!("https://127.0.0.1:{}/x?y=1", server.port);
    for _ in 0..10 {
        let r = client.get(&url).await.unwrap();
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(&r.body[..], b"hello");
    }
    // Concurrent requests are multiplexed on the kept connection.
    let mut all = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url) = (client.clone(), url.clone());
        all.spawn(async move { client.get(&url).await });
    }
    while let Some(r) = all.join_next().await {
        assert_eq!(r.unwrap().unwrap().version, http::Version::HTTP_2);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    let seen = server.seen.lock().unwrap();
    assert_eq!(seen.len(), 26);
    for (version, authority, hosts) in seen.iter() {
        assert_eq!(*version, http::Version::HTTP_2);
        assert_eq!(authority, &format!("127.0.0.1:{}", server.port));
        assert_eq!(*hosts, 0, "HTTP/2 carries the authority, not a Host header");
    }
}

#[tokio::test]
async fn a_server_offering_only_http1_gets_http1_with_keep_alive() {
    let server = serve(&[b"http/1.1"]).await;
    let client = client(&server.pin);
    let url = format!("https://127.0.0.1:{}/", server.port);
    for _ in 0..5 {
        let r = client.get(&url).await.unwrap();
        assert_eq!(r.version, http::Version::HTTP_11);
    }
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
    let seen = server.seen.lock().unwrap();
    assert!(seen.iter().all(|(_, _, hosts)| *hosts == 1));
}

#[tokio::test]
async fn the_pin_is_checked_on_an_http2_connection_too() {
    let server = serve(&[b"h2"]).await;
    let other = serve(&[b"h2"]).await;
    let err = client(&other.pin)
        .get(&format!("https://127.0.0.1:{}/", server.port))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PinMismatch(_)), "{err}");
    assert!(server.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_request_that_times_out_on_a_shared_connection_takes_it_out_of_the_pool() {
    let server = serve_with(&[b"h2"], true).await;
    let client = client(&server.pin).with_timeouts(hearth_net_policy::Timeouts {
        overall: std::time::Duration::from_millis(500),
        ..hearth_net_policy::Timeouts::default()
    });
    let url = format!("https://127.0.0.1:{}/", server.port);
    assert_eq!(
        client.get(&url).await.unwrap().version,
        http::Version::HTTP_2
    );
    let err = client.get(&url).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    // The hung connection is gone: the next request opens a new one and is answered.
    assert_eq!(&client.get(&url).await.unwrap().body[..], b"hello");
    assert_eq!(server.connections.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_host_header_must_name_the_urls_host() {
    let server = serve(&[b"h2", b"http/1.1"]).await;
    let client = client(&server.pin);
    let url = format!("https://127.0.0.1:{}/", server.port);
    let with_host = |host: &str| {
        http::Request::get(&url)
            .header("host", host)
            .body(Bytes::new())
            .unwrap()
    };
    let err = client
        .send(with_host("internal-admin.example"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidUrl { .. }), "{err}");
    let mut twice = with_host(&format!("127.0.0.1:{}", server.port));
    twice.headers_mut().append(
        "host",
        format!("127.0.0.1:{}", server.port).parse().unwrap(),
    );
    assert!(matches!(
        client.send(twice).await,
        Err(Error::InvalidUrl { .. })
    ));
    assert!(server.seen.lock().unwrap().is_empty(), "nothing was sent");
    // The same host, spelled as the URL spells it, is fine.
    client
        .send(with_host(&format!("127.0.0.1:{}", server.port)))
        .await
        .unwrap();
}
