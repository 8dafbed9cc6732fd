//! HTTPS through a real CONNECT proxy (an in-test one on loopback that dials whatever it
//! is asked to, as a corporate proxy does): the request reaches the target through it, the
//! target's pin is still enforced (a proxy that swaps servers is caught), `NO_PROXY` is
//! honoured, and a refusal says so without its credentials.

use std::sync::{Arc, Mutex};

use hearth_net_policy::{Error, HttpsClient, Pin, PinPolicy, Proxy, TlsPolicy};
use rcgen::{CertificateParams, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TLS server for `name` answering every request with 200 `ok`: (port, its pin).
async fn tls_server(name: &str) -> (u16, Pin) {
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec![name.to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let pin = Pin::of_certificate(&der).unwrap();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![der],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (port, pin)
}

/// A CONNECT proxy that records each request head and tunnels to 127.0.0.1 at the port
/// asked for — or to `swap_to` instead when set (a hostile proxy). `reply` overrides its
/// answer (e.g. 407).
async fn proxy(
    swap_to: Option<u16>,
    reply: Option<&'static str>,
) -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let sink = Arc::clone(&sink);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read_exact(&mut byte).await.is_err() {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                sink.lock().unwrap().push(head.clone());
                if let Some(reply) = reply {
                    let _ = client.write_all(reply.as_bytes()).await;
                    return;
                }
                let asked: u16 = head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|t| t.rsplit_once(':'))
                    .and_then(|(_, p)| p.parse().ok())
                    .unwrap_or(0);
                let Ok(mut upstream) =
                    TcpStream::connect(("127.0.0.1", swap_to.unwrap_or(asked))).await
                else {
                    return;
                };
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (port, log)
}

fn client(pin: &Pin, proxy: Proxy) -> HttpsClient {
    let pins = PinPolicy::new()
        .self_signed("nas.test", [pin.to_string()])
        .unwrap();
    HttpsClient::new(&TlsPolicy::new().pins(pins).build().unwrap()).with_proxy(proxy)
}

#[tokio::test]
async fn requests_reach_the_target_through_the_proxy_with_its_credentials() {
    let (target, pin) = tls_server("nas.test").await;
    let (proxy_port, log) = proxy(None, None).await;
    let proxy = Proxy::new(&format!("http://alice:s3cret@127.0.0.1:{proxy_port}")).unwrap();
    // `nas.test` does not resolve here: only the proxy could have reached it.
    let response = client(&pin, proxy)
        .get(&format!("https://nas.test:{target}/"))
        .await
        .unwrap();
    assert_eq!(&response.body[..], b"ok");
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 1);
    assert!(
        log[0].starts_with(&format!("CONNECT nas.test:{target} HTTP/1.1\r\n")),
        "{}",
        log[0]
    );
    // Basic alice:s3cret
    assert!(
        log[0].contains("Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"),
        "{}",
        log[0]
    );
}

#[tokio::test]
async fn a_proxy_that_swaps_the_server_is_caught_by_the_pin() {
    let (target, pin) = tls_server("nas.test").await;
    let (impostor, _) = tls_server("nas.test").await;
    let (proxy_port, _) = proxy(Some(impostor), None).await;
    let proxy = Proxy::new(&format!("http://127.0.0.1:{proxy_port}")).unwrap();
    let err = client(&pin, proxy)
        .get(&format!("https://nas.test:{target}/"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::PinMismatch(_)), "{err}");
}

#[tokio::test]
async fn no_proxy_hosts_and_loopback_go_direct() {
    let (target, pin) = tls_server("nas.test").await;
    let (proxy_port, log) = proxy(None, None).await;
    let proxy = Proxy::new(&format!("http://127.0.0.1:{proxy_port}"))
        .unwrap()
        .no_proxy("example.org,.test");
    let err = client(&pin, proxy.clone())
        .get(&format!("https://nas.test:{target}/"))
        .await
        .unwrap_err();
    // Direct: `nas.test` does not resolve.
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    // Loopback is never proxied.
    let loopback = PinPolicy::new()
        .self_signed("127.0.0.1", [pin.to_string()])
        .unwrap();
    // (Pinned-only: the pin is the identity, the certificate's name is not checked.)
    let response = HttpsClient::new(&TlsPolicy::new().pins(loopback).build().unwrap())
        .with_proxy(proxy)
        .get(&format!("https://127.0.0.1:{target}/"))
        .await
        .unwrap();
    assert_eq!(&response.body[..], b"ok");
    assert!(log.lock().unwrap().is_empty(), "went through the proxy");
}

#[tokio::test]
async fn a_refusing_proxy_says_so_without_its_credentials() {
    let (target, pin) = tls_server("nas.test").await;
    let (proxy_port, _) = proxy(
        None,
        Some("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n"),
    )
    .await;
    let proxy = Proxy::new(&format!("http://bob:hunter2@127.0.0.1:{proxy_port}")).unwrap();
    let err = client(&pin, proxy)
        .get(&format!("https://nas.test:{target}/"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Proxy { .. }), "{text}");
    assert!(
        text.contains("407") && !text.contains("hunter2") && !text.contains("bob"),
        "{text}"
    );
}
