//! Real TLS handshakes (rustls client and server, rcgen certificates) against the policy:
//! CA-issued chains with an intermediate, self-signed leaves, expired and wrong-name
//! certificates, pins on each link of the verified path, a pin that only matches a
//! certificate the server sent but that is not in the path, report-only, expiry, and
//! protocol versions.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hearth_net_policy::{
    AfterExpiry, CertificateProblem, Pin, PinFailure, PinPolicy, TlsPolicy, UntrustedReason,
};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use rustls::{CertificateError, ClientConfig, ClientConnection, ServerConfig, ServerConnection};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

struct Pki {
    root: CertifiedIssuer<'static, KeyPair>,
    inter: CertifiedIssuer<'static, KeyPair>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    p
}

fn pki() -> Pki {
    let root =
        CertifiedIssuer::self_signed(ca_params("Test Root"), KeyPair::generate().unwrap()).unwrap();
    let inter = CertifiedIssuer::signed_by(
        ca_params("Test Intermediate"),
        KeyPair::generate().unwrap(),
        &root,
    )
    .unwrap();
    Pki { root, inter }
}

/// A leaf for `names` signed by the intermediate: (chain, key).
fn leaf(
    pki: &Pki,
    names: &[&str],
    params: impl FnOnce(&mut CertificateParams),
) -> (Vec<CertificateDer<'static>>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params(&mut p);
    let cert = p.signed_by(&key, &pki.inter).unwrap();
    (vec![cert.der().clone(), pki.inter.der().clone()], key)
}

fn self_signed(names: &[&str]) -> (Vec<CertificateDer<'static>>, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let p =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = p.self_signed(&key).unwrap();
    (vec![cert.der().clone()], key)
}

fn server(
    chain: Vec<CertificateDer<'static>>,
    key: &KeyPair,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Arc::new(
        ServerConfig::builder_with_protocol_versions(versions)
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap(),
    )
}

/// Runs a handshake over memory; returns the client's error if any.
fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
    name: &str,
) -> Result<(), rustls::Error> {
    let mut c = ClientConnection::new(client, name.to_owned().try_into().unwrap())?;
    let mut s = ServerConnection::new(server)?;
    for _ in 0..20 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).unwrap();
        if !buf.is_empty() {
            s.read_tls(&mut &buf[..]).unwrap();
            if let Err(server_err) = s.process_new_packets() {
                // Deliver the server's alert so the client reports it.
                let mut alert = Vec::new();
                let _ = s.write_tls(&mut alert);
                let _ = c.read_tls(&mut &alert[..]);
                return Err(c.process_new_packets().err().unwrap_or(server_err));
            }
        }
        let mut buf = Vec::new();
        s.write_tls(&mut buf).unwrap();
        if !buf.is_empty() {
            c.read_tls(&mut &buf[..]).unwrap();
            c.process_new_packets()?;
        }
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    panic!("handshake did not finish");
}

fn client(pki: &Pki, pins: PinPolicy) -> Arc<ClientConfig> {
    TlsPolicy::new()
        .add_root_der(pki.root.der().to_vec())
        .pins(pins)
        .build()
        .unwrap()
        .config()
        .clone()
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The reason a certificate was refused, from the problem the verifier put in the error.
fn refusal(e: &rustls::Error) -> Option<&UntrustedReason> {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) => {
            o.0.downcast_ref::<CertificateProblem>().map(|p| &p.reason)
        }
        _ => None,
    }
}

fn pin_failure(e: &rustls::Error) -> Option<&PinFailure> {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) => {
            o.0.downcast_ref::<PinFailure>()
        }
        _ => None,
    }
}

#[test]
fn ca_issued_chain_with_an_intermediate_is_accepted() {
    let pki = pki();
    let (chain, key) = leaf(&pki, &["api.test"], |_| {});
    handshake(
        client(&pki, PinPolicy::new()),
        server(chain, &key, BOTH),
        "api.test",
    )
    .unwrap();
}

#[test]
fn a_pin_on_any_link_of_the_verified_path_is_accepted() {
    let pki = pki();
    let (chain, key) = leaf(&pki, &["api.test"], |_| {});
    let links = [
        Pin::of_certificate(&chain[0]).unwrap(),
        Pin::of_certificate(pki.inter.der()).unwrap(),
        Pin::of_certificate(pki.root.der()).unwrap(),
    ];
    for pin in links {
        let pins = PinPolicy::new().pin("api.test", [pin.to_string()]).unwrap();
        handshake(
            client(&pki, pins),
            server(chain.clone(), &key, BOTH),
            "api.test",
        )
        .unwrap();
    }
}

#[test]
fn a_pin_mismatch_fails_and_lists_the_chain_pins() {
    let pki = pki();
    let (chain, key) = leaf(&pki, &["api.test"], |_| {});
    let wrong = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let pins = PinPolicy::new().pin("*.test", [wrong]).unwrap();
    let err = handshake(
        client(&pki, pins),
        server(chain.clone(), &key, BOTH),
        "api.test",
    )
    .unwrap_err();
    let failure = pin_failure(&err).unwrap_or_else(|| panic!("{err:?}"));
    let leaf_pin = Pin::of_certificate(&chain[0]).unwrap();
    let root_pin = Pin::of_certificate(pki.root.der()).unwrap();
    assert_eq!(failure.presented.first(), Some(&leaf_pin));
    assert_eq!(failure.presented.last(), Some(&root_pin));
    let message = err.to_string();
    assert!(
        message.contains(&leaf_pin.to_string()) && message.contains(wrong),
        "{message}"
    );
}

#[test]
fn a_pin_matching_only_a_certificate_outside_the_verified_path_fails() {
    // The server appends an extra certificate whose key is pinned; it is not part of the
    // path from the leaf to the root, so it must not satisfy the pin (OkHttp CVE-2016-2402).
    let pki = pki();
    let (mut chain, key) = leaf(&pki, &["api.test"], |_| {});
    let (decoy, _) = self_signed(&["decoy.test"]);
    chain.push(decoy[0].clone());
    let pins = PinPolicy::new()
        .pin(
            "api.test",
            [Pin::of_certificate(&decoy[0]).unwrap().to_string()],
        )
        .unwrap();
    let err = handshake(client(&pki, pins), server(chain, &key, BOTH), "api.test").unwrap_err();
    assert!(pin_failure(&err).is_some(), "{err:?}");
}

#[test]
fn self_signed_servers_need_a_pinned_only_rule() {
    let pki = pki();
    let (chain, key) = self_signed(&["jellyfin.home.arpa"]);
    let pin = Pin::of_certificate(&chain[0]).unwrap().to_string();
    let unpinned = handshake(
        client(&pki, PinPolicy::new()),
        server(chain.clone(), &key, BOTH),
        "jellyfin.home.arpa",
    );
    let err = unpinned.unwrap_err();
    assert_eq!(refusal(&err), Some(&UntrustedReason::SelfSigned), "{err:?}");

    let pins = PinPolicy::new()
        .self_signed("jellyfin.home.arpa", [pin.as_str()])
        .unwrap();
    handshake(
        client(&pki, pins.clone()),
        server(chain.clone(), &key, BOTH),
        "jellyfin.home.arpa",
    )
    .unwrap();
    // Pins only: no root needed at all.
    let only = TlsPolicy::new()
        .pins(pins)
        .build()
        .unwrap()
        .config()
        .clone();
    handshake(
        only,
        server(chain.clone(), &key, BOTH),
        "jellyfin.home.arpa",
    )
    .unwrap();

    let other = PinPolicy::new()
        .self_signed(
            "jellyfin.home.arpa",
            ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
        )
        .unwrap();
    let err = handshake(
        client(&pki, other),
        server(chain, &key, BOTH),
        "jellyfin.home.arpa",
    )
    .unwrap_err();
    assert!(pin_failure(&err).is_some(), "{err:?}");
}

#[test]
fn a_pinned_certificate_without_its_private_key_fails_the_handshake_signature() {
    let pki = pki();
    let (chain, _real_key) = self_signed(&["jellyfin.home.arpa"]);
    let impostor_key = KeyPair::generate().unwrap();
    let pins = PinPolicy::new()
        .self_signed(
            "jellyfin.home.arpa",
            [Pin::of_certificate(&chain[0]).unwrap().to_string()],
        )
        .unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(impostor_key.serialize_der()));
    // rustls's own builders refuse a certificate with another key, so the impostor serves
    // the pair through a resolver, which does not check.
    #[derive(Debug)]
    struct Fixed(Arc<rustls::sign::CertifiedKey>);
    impl rustls::server::ResolvesServerCert for Fixed {
        fn resolve(
            &self,
            _: rustls::server::ClientHello<'_>,
        ) -> Option<Arc<rustls::sign::CertifiedKey>> {
            Some(Arc::clone(&self.0))
        }
    }
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider.key_provider.load_private_key(key).unwrap();
    let certified = Arc::new(rustls::sign::CertifiedKey::new(chain, signing));
    let server = ServerConfig::builder()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(certified)));
    let err = handshake(client(&pki, pins), Arc::new(server), "jellyfin.home.arpa").unwrap_err();
    assert!(
        matches!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::BadSignature)
                | rustls::Error::PeerMisbehaved(_)
        ),
        "{err:?}"
    );
}

#[test]
fn expired_and_wrong_name_certificates_are_refused_even_when_pinned() {
    let pki = pki();
    let (expired, key) = leaf(&pki, &["api.test"], |p| {
        p.not_before = rcgen::date_time_ymd(2000, 1, 1);
        p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    });
    let pins = PinPolicy::new()
        .pin(
            "api.test",
            [Pin::of_certificate(&expired[0]).unwrap().to_string()],
        )
        .unwrap();
    let err = handshake(client(&pki, pins), server(expired, &key, BOTH), "api.test").unwrap_err();
    assert!(
        matches!(refusal(&err), Some(UntrustedReason::Expired { .. })),
        "{err:?}"
    );

    let (chain, key) = leaf(&pki, &["other.test"], |_| {});
    let err = handshake(
        client(&pki, PinPolicy::new()),
        server(chain, &key, BOTH),
        "api.test",
    )
    .unwrap_err();
    assert_eq!(
        refusal(&err),
        Some(&UntrustedReason::NotValidForName {
            presented: vec!["other.test".into()]
        }),
        "{err:?}"
    );
}

#[test]
fn report_only_calls_back_and_lets_the_connection_through() {
    let pki = pki();
    let (chain, key) = leaf(&pki, &["api.test"], |_| {});
    let seen: Arc<Mutex<Vec<PinFailure>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let pins = PinPolicy::new()
        .pin(
            "api.test",
            ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="],
        )
        .unwrap()
        .report_only(move |f| sink.lock().unwrap().push(f.clone()));
    handshake(client(&pki, pins), server(chain, &key, BOTH), "api.test").unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].host, "api.test");
}

#[test]
fn expiry_behaviour_is_explicit() {
    let pki = pki();
    let (chain, key) = leaf(&pki, &["api.test"], |_| {});
    let wrong = ["sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="];
    let past = SystemTime::now() - Duration::from_secs(60);
    let ca_only = PinPolicy::new()
        .pin("api.test", wrong)
        .unwrap()
        .expires(past, AfterExpiry::CaOnly);
    handshake(
        client(&pki, ca_only),
        server(chain.clone(), &key, BOTH),
        "api.test",
    )
    .unwrap();
    let enforced = PinPolicy::new()
        .pin("api.test", wrong)
        .unwrap()
        .expires(past, AfterExpiry::KeepEnforcing);
    assert!(
        handshake(
            client(&pki, enforced),
            server(chain.clone(), &key, BOTH),
            "api.test"
        )
        .is_err()
    );
    let future = SystemTime::now() + Duration::from_secs(3600);
    let not_yet = PinPolicy::new()
        .pin("api.test", wrong)
        .unwrap()
        .expires(future, AfterExpiry::CaOnly);
    assert!(handshake(client(&pki, not_yet), server(chain, &key, BOTH), "api.test").is_err());
}

#[test]
fn tls13_only_refuses_a_tls12_server_and_tls12_is_accepted_by_default() {
    let pki = pki();
    let (chain, key) = leaf(&pki, &["api.test"], |_| {});
    let tls12 = server(chain, &key, &[&rustls::version::TLS12]);
    handshake(client(&pki, PinPolicy::new()), tls12.clone(), "api.test").unwrap();
    let strict = TlsPolicy::new()
        .add_root_der(pki.root.der().to_vec())
        .tls13_only()
        .build()
        .unwrap()
        .config()
        .clone();
    assert!(handshake(strict, tls12, "api.test").is_err());
}

/// The attacker's certificate for a pinned-only host: self-signed, expired, for another
/// name. Report-only reports the mismatch and still refuses: nothing CA-validates it.
#[test]
fn report_only_never_accepts_what_a_pinned_only_rule_refuses() {
    let (mine, _) = self_signed(&["nas.test"]);
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["evil.test".to_owned()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2000, 1, 1);
    p.not_after = rcgen::date_time_ymd(2001, 1, 1);
    let attacker = vec![p.self_signed(&key).unwrap().der().clone()];
    let seen: Arc<Mutex<Vec<PinFailure>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let pins = PinPolicy::new()
        .self_signed(
            "nas.test",
            [Pin::of_certificate(&mine[0]).unwrap().to_string()],
        )
        .unwrap()
        .report_only(move |f| sink.lock().unwrap().push(f.clone()));
    let config = TlsPolicy::new()
        .pins(pins)
        .build()
        .unwrap()
        .config()
        .clone();
    let err = handshake(config, server(attacker, &key, BOTH), "nas.test").unwrap_err();
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );
    assert_eq!(
        seen.lock().unwrap().len(),
        1,
        "the mismatch is still reported"
    );
}

/// Two roots cross-sign one intermediate (the same key and subject): whichever root the
/// pin names, the path through it is found, though webpki tries the other first.
#[test]
fn a_pin_on_either_root_of_a_cross_signed_pair_is_accepted() {
    let root_a =
        CertifiedIssuer::self_signed(ca_params("Root A"), KeyPair::generate().unwrap()).unwrap();
    let root_b =
        CertifiedIssuer::self_signed(ca_params("Root B"), KeyPair::generate().unwrap()).unwrap();
    let inter_key = KeyPair::generate().unwrap();
    let same_key = || KeyPair::from_pem(&inter_key.serialize_pem()).unwrap();
    let via_a = CertifiedIssuer::signed_by(ca_params("Cross Inter"), same_key(), &root_a).unwrap();
    let via_b = CertifiedIssuer::signed_by(ca_params("Cross Inter"), same_key(), &root_b).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["api.test".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &via_a)
        .unwrap();
    let chain = vec![leaf.der().clone(), via_a.der().clone(), via_b.der().clone()];
    let pin_of = |issuer: &CertifiedIssuer<'static, KeyPair>| {
        Pin::of_certificate(issuer.der()).unwrap().to_string()
    };
    let config = |pin: String| {
        TlsPolicy::new()
            .add_root_der(root_a.der().to_vec())
            .add_root_der(root_b.der().to_vec())
            .pins(PinPolicy::new().pin("api.test", [pin]).unwrap())
            .build()
            .unwrap()
            .config()
            .clone()
    };
    for pin in [pin_of(&root_a), pin_of(&root_b)] {
        handshake(
            config(pin),
            server(chain.clone(), &leaf_key, BOTH),
            "api.test",
        )
        .unwrap();
    }
    let err = handshake(
        config("sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into()),
        server(chain, &leaf_key, BOTH),
        "api.test",
    )
    .unwrap_err();
    let failure = pin_failure(&err).expect("a pin failure");
    // The pins of both paths' links: leaf, intermediate, and both roots.
    for root in [&root_a, &root_b] {
        assert!(
            failure
                .presented
                .contains(&Pin::of_certificate(root.der()).unwrap())
        );
    }
}

/// A pinned-only (self-signed) certificate past its dates is refused with the dates,
/// unless the policy opts out for a home server that cannot renew it today.
#[test]
fn an_expired_pinned_only_certificate_is_refused_unless_dates_are_ignored() {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec!["nas.test".to_owned()]).unwrap();
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let chain = vec![p.self_signed(&key).unwrap().der().clone()];
    let pin = Pin::of_certificate(&chain[0]).unwrap().to_string();
    let pins = || {
        PinPolicy::new()
            .self_signed("nas.test", [pin.clone()])
            .unwrap()
    };
    let config = |pins: PinPolicy| {
        TlsPolicy::new()
            .pins(pins)
            .build()
            .unwrap()
            .config()
            .clone()
    };
    let err = handshake(
        config(pins()),
        server(chain.clone(), &key, BOTH),
        "nas.test",
    )
    .unwrap_err();
    assert!(
        matches!(refusal(&err), Some(UntrustedReason::Expired { .. })),
        "{err:?}"
    );
    handshake(
        config(pins().ignore_validity_dates()),
        server(chain, &key, BOTH),
        "nas.test",
    )
    .unwrap();
}
