//! Full TLS 1.3 handshakes per second, client and server in one thread over memory
//! buffers (rcgen ECDSA P-256 root and leaf, X25519, resumption off), with three client
//! verifiers in the same run: rustls's default WebPKI verifier, Hearth's verifier with a
//! CA-valid-and-pinned rule, and Hearth's pinned-only verifier (no path building).
//!
//! Run: `cargo bench -p hearth-net-policy --bench handshake`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::Criterion;
use hearth_net_policy::{Pin, PinPolicy, TlsPolicy};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

fn handshake(client: &Arc<ClientConfig>, server: &Arc<ServerConfig>) {
    let mut c = ClientConnection::new(Arc::clone(client), "api.test".try_into().unwrap()).unwrap();
    let mut s = ServerConnection::new(Arc::clone(server)).unwrap();
    let mut buf = Vec::with_capacity(4096);
    while c.is_handshaking() || s.is_handshaking() {
        buf.clear();
        c.write_tls(&mut buf).unwrap();
        s.read_tls(&mut &buf[..]).unwrap();
        s.process_new_packets().unwrap();
        buf.clear();
        s.write_tls(&mut buf).unwrap();
        c.read_tls(&mut &buf[..]).unwrap();
        c.process_new_packets().unwrap();
    }
}

fn main() {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let root = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["api.test".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &root)
        .unwrap();

    let tls13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];
    let mut server = ServerConfig::builder_with_protocol_versions(tls13)
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    server.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    server.send_tls13_tickets = 0;
    let server = Arc::new(server);

    let no_resumption = |mut c: ClientConfig| {
        c.resumption = rustls::client::Resumption::disabled();
        Arc::new(c)
    };
    let mut roots = RootCertStore::empty();
    roots.add(root.der().clone()).unwrap();
    let default = no_resumption(
        ClientConfig::builder_with_protocol_versions(tls13)
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let pin = Pin::of_certificate(root.der()).unwrap().to_string();
    let ca_pinned = TlsPolicy::new()
        .add_root_der(root.der().to_vec())
        .pins(PinPolicy::new().pin("api.test", [pin.as_str()]).unwrap())
        .tls13_only()
        .build()
        .unwrap();
    let ca_pinned = no_resumption(ClientConfig::clone(ca_pinned.config()));
    let ca_only = TlsPolicy::new()
        .add_root_der(root.der().to_vec())
        .tls13_only()
        .build()
        .unwrap();
    let ca_only = no_resumption(ClientConfig::clone(ca_only.config()));
    let leaf_pin = Pin::of_certificate(leaf.der()).unwrap().to_string();
    let pin_only = TlsPolicy::new()
        .pins(
            PinPolicy::new()
                .self_signed("api.test", [leaf_pin.as_str()])
                .unwrap(),
        )
        .tls13_only()
        .build()
        .unwrap();
    let pin_only = no_resumption(ClientConfig::clone(pin_only.config()));

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .sample_size(40)
        .configure_from_args();
    let mut g = c.benchmark_group("tls13_full_handshake");
    for (name, client) in [
        ("rustls-default", &default),
        ("hearth-ca-only", &ca_only),
        ("hearth-ca-pinned", &ca_pinned),
        ("hearth-pin-only", &pin_only),
    ] {
        g.bench_function(name, |b| b.iter(|| handshake(black_box(client), &server)));
    }
    g.finish();
    c.final_summary();

    let m = |f: &str| median_ns(&format!("tls13_full_handshake/{f}"));
    if let (Some(d), Some(p), Some(o)) = (
        m("rustls-default"),
        m("hearth-ca-pinned"),
        m("hearth-pin-only"),
    ) {
        let per_s = |ns: f64| 1e9 / ns;
        println!(
            "full handshakes/s: rustls default {:.0}, Hearth CA+pin {:.0} ({:+.1}% time vs default), Hearth pin-only {:.0} ({:+.1}%)",
            per_s(d),
            per_s(p),
            (p / d - 1.0) * 100.0,
            per_s(o),
            (o / d - 1.0) * 100.0
        );
    }
}
