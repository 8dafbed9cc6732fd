//! Sequential HTTPS GETs of a 1 KiB body from a local rustls server (keep-alive, TLS 1.3,
//! an rcgen root and leaf), over one client, in one run: Hearth's `HttpsClient` against
//! reqwest 0.12 (rustls, the same root). Also the first request of a new client (connect,
//! full handshake, request). Prints requests per second and the ratios.
//!
//! Run: `cargo bench -p hearth-net-policy --bench requests`

use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use hearth_net_policy::{HttpsClient, TlsPolicy};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::ServerConfig;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

/// A keep-alive HTTPS server answering every GET with 1 KiB.
async fn server(config: Arc<ServerConfig>) -> u16 {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut reply = b"HTTP/1.1 200 OK\r\ncontent-length: 1024\r\n\r\n".to_vec();
    reply.extend(std::iter::repeat_n(b'x', 1024));
    let reply: &'static [u8] = Box::leak(reply.into_boxed_slice());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
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
                        if s.write_all(reply).await.is_err() {
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
    port
}

fn main() {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &root)
        .unwrap();
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let port = rt.block_on(server(Arc::new(config)));
    let url = format!("https://localhost:{port}/");

    let policy = TlsPolicy::new()
        .add_root_der(root.der().to_vec())
        .build()
        .unwrap();
    let hearth = HttpsClient::new(&policy).without_proxy();
    let reqwest_client = || {
        reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_der(root.der()).unwrap())
            .no_proxy()
            .build()
            .unwrap()
    };
    let peer = reqwest_client();
    // Both answer before timing.
    assert_eq!(rt.block_on(hearth.get(&url)).unwrap().body.len(), 1024);
    let body = rt.block_on(async { peer.get(&url).send().await.unwrap().bytes().await.unwrap() });
    assert_eq!(body.len(), 1024);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(30)
        .configure_from_args();
    {
        let mut g = c.benchmark_group("https_get_1k_keepalive");
        g.bench_function("hearth", |b| {
            b.to_async(&rt)
                .iter(|| async { hearth.get(&url).await.unwrap() })
        });
        g.bench_function("reqwest-0.12", |b| {
            b.to_async(&rt)
                .iter(|| async { peer.get(&url).send().await.unwrap().bytes().await.unwrap() })
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("https_get_1k_first_request");
        g.bench_function("hearth", |b| {
            b.to_async(&rt).iter(|| async {
                HttpsClient::new(&policy)
                    .without_proxy()
                    .get(&url)
                    .await
                    .unwrap()
            })
        });
        g.bench_function("reqwest-0.12", |b| {
            b.to_async(&rt).iter(|| async {
                let fresh = reqwest_client();
                fresh.get(&url).send().await.unwrap().bytes().await.unwrap()
            })
        });
        g.finish();
    }
    c.final_summary();

    for group in ["https_get_1k_keepalive", "https_get_1k_first_request"] {
        if let (Some(h), Some(r)) = (
            median_ns(&format!("{group}/hearth")),
            median_ns(&format!("{group}/reqwest-0.12")),
        ) {
            println!(
                "{group}: hearth {:.0} req/s ({:.1} µs), reqwest 0.12 {:.0} req/s ({:.1} µs): hearth is {:.2}x reqwest's requests per second",
                1e9 / h,
                h / 1e3,
                1e9 / r,
                r / 1e3,
                r / h
            );
        }
    }
}
