//! The HTTPS client against real servers on loopback (tokio + rustls, rcgen certificates):
//! pinned self-signed servers, a pin mismatch that sends no request byte, plain HTTP
//! refused before any socket, redirects re-checked, timeouts.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hearth_net_policy::{Error, HttpsClient, Pin, PinPolicy, Timeouts, TlsPolicy};
use rcgen::{CertificateParams, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

struct Server {
    addr: SocketAddr,
    /// Application bytes (HTTP request bytes) the server received, over all connections.
    received: Arc<AtomicUsize>,
    /// Connections the server is done with (handshake failed, or answered, or closed).
    finished: Arc<AtomicUsize>,
}

impl Server {
    /// Waits until the server is done with `n` connections, so that every byte the client
    /// sent on them has been counted in `received`.
    async fn wait_finished(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.finished.load(Ordering::SeqCst) < n {
            assert!(
                Instant::now() < deadline,
                "the server never finished {n} connection(s)"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn cert(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.self_signed(&key).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

/// Serves `response` to every request; TLS when `tls` is given.
async fn serve(
    tls: Option<(CertificateDer<'static>, PrivateKeyDer<'static>)>,
    response: &'static str,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let done = Arc::clone(&finished);
    let acceptor = tls.map(|(c, k)| {
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![c], k)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (acceptor, counter, done) =
                (acceptor.clone(), Arc::clone(&counter), Arc::clone(&done));
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => {
                        if let Ok(stream) = a.accept(tcp).await {
                            answer(stream, &counter, response).await;
                        }
                    }
                    None => answer(tcp, &counter, response).await,
                }
                done.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    Server {
        addr,
        received,
        finished,
    }
}

async fn answer<S: AsyncReadExt + AsyncWriteExt + Unpin>(
    mut s: S,
    counter: &AtomicUsize,
    response: &str,
) {
    let mut buf = vec![0u8; 8192];
    let mut seen = Vec::new();
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                counter.fetch_add(n, Ordering::SeqCst);
                seen.extend_from_slice(&buf[..n]);
            }
        }
    }
    let _ = s.write_all(response.as_bytes()).await;
    let _ = s.shutdown().await;
}

const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello";

fn pinned_client(pin: &Pin) -> HttpsClient {
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [pin.to_string()])
        .unwrap();
    HttpsClient::new(
        &TlsPolicy::new()
            .pins(pins)
            .allow_loopback_http()
            .build()
            .unwrap(),
    )
}

#[tokio::test]
async fn a_pinned_self_signed_server_answers() {
    let (c, k) = cert(&["jellyfin.home.arpa"]);
    let pin = Pin::of_certificate(&c).unwrap();
    let server = serve(Some((c, k)), OK).await;
    let response = pinned_client(&pin)
        .get(&format!(
            "https://127.0.0.1:{}/System/Info",
            server.addr.port()
        ))
        .await
        .unwrap();
    assert_eq!(response.status, 200);
    assert_eq!(&response.body[..], b"hello");
}

#[tokio::test]
async fn a_pin_mismatch_aborts_before_any_request_byte_reaches_the_server() {
    let (c, k) = cert(&["jellyfin.home.arpa"]);
    let server = serve(Some((c, k)), OK).await;
    let wrong: Pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        .parse()
        .unwrap();
    let err = pinned_client(&wrong)
        .get(&format!("https://127.0.0.1:{}/", server.addr.port()))
        .await
        .unwrap_err();
    let Error::PinMismatch(failure) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(failure.presented.len(), 1);
    assert!(err.to_string().contains("sha256/"), "{err}");
    // Once the server is done with the connection, anything sent on it has been counted.
    server.wait_finished(1).await;
    assert_eq!(
        server.received.load(Ordering::SeqCst),
        0,
        "the server saw request bytes"
    );
}

#[tokio::test]
async fn plain_http_is_refused_before_any_socket_opens() {
    let client = HttpsClient::new(
        &TlsPolicy::new()
            .pins(
                PinPolicy::new()
                    .self_signed(
                        "x.test",
                        ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
                    )
                    .unwrap(),
            )
            .build()
            .unwrap(),
    );
    // 192.0.2.0/24 is TEST-NET-1: nothing answers there, and nothing is sent.
    let start = Instant::now();
    let err = client.get("http://192.0.2.1/").await.unwrap_err();
    assert!(matches!(err, Error::PlainHttpRefused { .. }), "{err:?}");
    // A connect to TEST-NET would hang until the 10 s connect timeout; the refusal is
    // immediate (the bound leaves room for a loaded machine).
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // Loopback is refused too unless allowed.
    let plain = serve(None, OK).await;
    let err = client
        .get(&format!("http://127.0.0.1:{}/", plain.addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PlainHttpRefused { .. }), "{err:?}");
    assert_eq!(plain.received.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn loopback_http_is_allowed_when_asked_and_redirects_are_rechecked() {
    let pin: Pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        .parse()
        .unwrap();
    let client = pinned_client(&pin);
    let plain = serve(None, OK).await;
    let ok = client
        .get(&format!("http://127.0.0.1:{}/", plain.addr.port()))
        .await
        .unwrap();
    assert_eq!(&ok.body[..], b"hello");

    let redirecting = serve(
        None,
        "HTTP/1.1 302 Found\r\nlocation: http://192.0.2.1/steal\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let err = client
        .get(&format!("http://127.0.0.1:{}/", redirecting.addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PlainHttpRefused { .. }), "{err:?}");

    let looping = serve(
        None,
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: /again\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let err = client
        .get(&format!("http://127.0.0.1:{}/", looping.addr.port()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::TooManyRedirects { limit: 5 }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_handshakes_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s); // accept, then say nothing
        }
    });
    let pin: Pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        .parse()
        .unwrap();
    let client = pinned_client(&pin).with_timeouts(Timeouts {
        handshake: Duration::from_millis(300),
        ..Timeouts::default()
    });
    let start = Instant::now();
    let err = client
        .get(&format!("https://127.0.0.1:{port}/"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                stage: "TLS handshake",
                ..
            }
        ),
        "{err:?}"
    );
    // Not before the timeout, and long before the 10 s defaults (the margin is for a
    // loaded machine).
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(6),
        "{waited:?}"
    );
}

#[tokio::test]
async fn a_body_cut_short_or_badly_framed_says_so() {
    let pin: Pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        .parse()
        .unwrap();
    for (response, truncated) in [
        (
            "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this",
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nabc",
            true,
        ),
        (
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nabc\r\n",
            false,
        ),
    ] {
        let server = serve(None, response).await;
        let err = pinned_client(&pin)
            .get(&format!("http://127.0.0.1:{}/", server.addr.port()))
            .await
            .unwrap_err();
        if truncated {
            assert!(matches!(err, Error::BodyTruncated), "{response:?}: {err}");
        } else {
            assert!(matches!(err, Error::BodyMalformed), "{response:?}: {err}");
        }
    }
}

#[tokio::test]
async fn oversize_bodies_are_cut_off() {
    let (c, k) = cert(&["x"]);
    let pin = Pin::of_certificate(&c).unwrap();
    let server = serve(Some((c, k)), OK).await;
    let err = pinned_client(&pin)
        .with_max_body(4)
        .get(&format!("https://127.0.0.1:{}/", server.addr.port()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { limit: 4 }), "{err:?}");
}

#[tokio::test]
async fn trust_on_first_use_shows_the_certificate_then_knows_it_then_reports_a_change() {
    use hearth_net_policy::{FilePinStore, PinStore, TrustDecision, trust_on_first_use};
    let (c, k) = cert(&["jellyfin.home.arpa"]);
    let pin = Pin::of_certificate(&c).unwrap();
    let server = serve(Some((c, k)), OK).await;
    let port = server.addr.port();
    let dir = std::env::temp_dir().join(format!("hearth-tofu-{}-{port}", std::process::id()));
    let store = FilePinStore::new(dir.join("pins"));

    let first = trust_on_first_use(&store, "127.0.0.1", port, Timeouts::default())
        .await
        .unwrap();
    let TrustDecision::FirstContact { chain } = first else {
        panic!("{first:?}")
    };
    assert_eq!(chain[0].pin, pin);
    assert_eq!(chain[0].subject, chain[0].issuer, "self-signed");
    assert!(chain[0].not_after.ends_with('Z'));
    server.wait_finished(1).await;
    assert_eq!(
        server.received.load(Ordering::SeqCst),
        0,
        "looking sent no request"
    );

    store.put("127.0.0.1", port, pin).unwrap(); // the user accepted
    let again = trust_on_first_use(&store, "127.0.0.1", port, Timeouts::default())
        .await
        .unwrap();
    assert_eq!(again, TrustDecision::Known { pin });
    // Another port of the same host is another server: not trusted by this pin.
    assert!(
        store
            .get("127.0.0.1", port.wrapping_add(1))
            .unwrap()
            .is_none()
    );

    // The server's key changes (simulated by remembering another key for it).
    let old: Pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        .parse()
        .unwrap();
    store.put("127.0.0.1", port, old).unwrap();
    let err = trust_on_first_use(&store, "127.0.0.1", port, Timeouts::default())
        .await
        .unwrap_err();
    let Error::PinChanged { old: o, new, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!((*o, *new), (old, pin));
    assert!(err.to_string().contains("changed"), "{err}");
    assert_eq!(
        std::fs::metadata(dir.join("pins"))
            .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777)
            .unwrap(),
        0o600
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn bearer_tokens_go_to_the_origin_only() {
    use hearth_net_policy::with_bearer;
    use hearth_token_guard::AccessToken;
    // The first server redirects to a second one on another port (another origin); the
    // second must not receive the token.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::<u8>::new()));
    let sink = Arc::clone(&seen);
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).await.unwrap();
        sink.lock().unwrap().extend_from_slice(&buf[..n]);
        let _ = s.write_all(OK.as_bytes()).await;
    });
    let redirect: &'static str = Box::leak(format!("HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{second}/\r\ncontent-length: 0\r\n\r\n").into_boxed_str());
    let first = serve(None, redirect).await;
    let pin: Pin = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
        .parse()
        .unwrap();
    let mut req = http::Request::get(format!("http://127.0.0.1:{}/", first.addr.port()))
        .body(bytes::Bytes::new())
        .unwrap();
    with_bearer(&mut req, &AccessToken::new("SECRET-TOKEN-123")).unwrap();
    let response = pinned_client(&pin)
        .send_following_redirects(req)
        .await
        .unwrap();
    assert_eq!(&response.body[..], b"hello");
    let second_request = String::from_utf8(seen.lock().unwrap().clone()).unwrap();
    assert!(
        second_request.starts_with("GET / HTTP/1.1"),
        "{second_request}"
    );
    assert!(
        !second_request
            .to_ascii_lowercase()
            .contains("authorization"),
        "{second_request}"
    );
}

/// A keep-alive TLS server: answers every request on a connection until the client closes
/// it (or, with `one_per_connection`, closes after each answer without saying so).
async fn keep_alive_server(one_per_connection: bool) -> (u16, Pin, Arc<AtomicUsize>) {
    let (c, k) = cert(&["x"]);
    let pin = Pin::of_certificate(&c).unwrap();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![c], k)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                loop {
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
                        if s.write_all(reply).await.is_err() {
                            return;
                        }
                        if one_per_connection {
                            let _ = s.shutdown().await;
                            return;
                        }
                    }
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
            });
        }
    });
    (port, pin, connections)
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused_per_origin() {
    let (port, pin, connections) = keep_alive_server(false).await;
    let client = pinned_client(&pin);
    for _ in 0..20 {
        let r = client
            .get(&format!("https://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!(&r.body[..], b"hello");
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one connection for 20 requests"
    );
    // Without reuse, one each.
    let fresh = pinned_client(&pin).with_pool(0, Duration::from_secs(1));
    for _ in 0..3 {
        fresh
            .get(&format!("https://127.0.0.1:{port}/"))
            .await
            .unwrap();
    }
    assert_eq!(connections.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn a_kept_connection_the_server_closed_is_replaced_not_an_error() {
    let (port, pin, connections) = keep_alive_server(true).await;
    let client = pinned_client(&pin);
    for _ in 0..5 {
        let r = client
            .get(&format!("https://127.0.0.1:{port}/"))
            .await
            .unwrap();
        assert_eq!(&r.body[..], b"hello");
    }
    // Each answer closes its connection; whether the client saw that before reusing it
    // or only when the reuse failed, every GET got through on a new one.
    assert_eq!(connections.load(Ordering::SeqCst), 5);
}

/// A pin for `127.0.0.1` applies to every spelling of that address in a URL: without it the
/// self-signed server has no trust at all (no roots), so only the pin can let it through.
#[tokio::test]
async fn a_pin_for_an_address_applies_to_its_other_spellings() {
    let (c, k) = cert(&["x"]);
    let pin = Pin::of_certificate(&c).unwrap();
    let server = serve(Some((c, k)), OK).await;
    let port = server.addr.port();
    for host in ["127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1"] {
        let response = pinned_client(&pin)
            .get(&format!("https://{host}:{port}/"))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(&response.body[..], b"hello", "{host}");
    }
    let other = PinPolicy::new()
        .self_signed("127.0.0.2", [pin.to_string()])
        .unwrap();
    let err = HttpsClient::new(&TlsPolicy::new().pins(other).build().unwrap())
        .get(&format!("https://127.1:{port}/"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UntrustedCertificate(_)), "{err}");
}

/// When no certificate arrives, `fetch_chain` says why: not TLS, closed, or silent.
#[tokio::test]
async fn fetch_chain_says_why_no_certificate_arrived() {
    use hearth_net_policy::fetch_chain;
    async fn answering(reply: Option<&'static [u8]>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    match reply {
                        Some(bytes) => {
                            let _ = s.write_all(bytes).await;
                            let _ = s.shutdown().await;
                        }
                        // Silent: hold the connection open.
                        None => tokio::time::sleep(Duration::from_secs(30)).await,
                    }
                });
            }
        });
        port
    }
    let short = Timeouts {
        handshake: Duration::from_millis(300),
        ..Timeouts::default()
    };
    let http = answering(Some(
        b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n",
    ))
    .await;
    let err = fetch_chain("127.0.0.1", http, short).await.unwrap_err();
    assert!(matches!(err, Error::Handshake(_)), "{err:?}");
    assert!(err.to_string().contains("did not answer in TLS"), "{err}");

    let closed = answering(Some(b"")).await;
    let err = fetch_chain("127.0.0.1", closed, short).await.unwrap_err();
    assert!(matches!(err, Error::HandshakeClosed { .. }), "{err:?}");
    assert!(err.to_string().contains("closed the connection"), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{closed}")),
        "{err}"
    );

    let silent = answering(None).await;
    let err = fetch_chain("127.0.0.1", silent, short).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                stage: "TLS handshake",
                ..
            }
        ),
        "{err:?}"
    );
}
