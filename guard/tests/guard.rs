//! `LocalGuard` decisions across its parts, in process: peers, DNS-rebinding vectors,
//! credentials, bypass, per-path limits and permissions, the layer's streamed body cap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hearth_guard::{Caller, Decision, DenyReason, Limit, LocalGuard, LocalGuardLayer, Network};
use hearth_token_guard::SessionToken;
use hearth_token_guard::apikey::{KeyRegistry, Role};
use http::Request;

fn head(host: Option<&str>, path: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    let mut r = Request::builder().uri(path);
    if let Some(h) = host {
        r = r.header("host", h);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    r.body(()).unwrap().into_parts().0
}

fn peer(addr: &str) -> SocketAddr {
    addr.parse().unwrap()
}

fn reason(d: Decision) -> Option<DenyReason> {
    match d {
        Decision::Deny(d) => Some(d.reason()),
        _ => None,
    }
}

/// Why `guard` refuses `path` with the API key `key` from 127.0.0.1 (`None`: admitted).
fn keyed(guard: &LocalGuard, path: &str, key: &str) -> Option<DenyReason> {
    let request = head(Some("127.0.0.1"), path, &[("x-api-key", key)]);
    reason(guard.check(&request, peer("127.0.0.1:1")))
}

fn open_guard() -> LocalGuard {
    LocalGuard::new().localhost_bypass(true)
}

#[test]
fn only_loopback_peers_by_default_and_private_ones_in_lan_mode() {
    let local = open_guard();
    let req = head(Some("localhost"), "/", &[]);
    for ok in [
        "127.0.0.1:1",
        "127.8.9.10:1",
        "[::1]:1",
        "[::ffff:127.0.0.1]:1",
    ] {
        assert_eq!(reason(local.check(&req, peer(ok))), None, "{ok}");
    }
    for bad in [
        "192.168.1.5:1",
        "10.0.0.1:1",
        "[fe80::1]:1",
        "8.8.8.8:1",
        "[::ffff:10.0.0.1]:1",
    ] {
        assert_eq!(
            reason(local.check(&req, peer(bad))),
            Some(DenyReason::PeerNotAllowed),
            "{bad}"
        );
    }
    let session = SessionToken::generate().unwrap();
    let bearer = format!("Bearer {}", session.expose_secret());
    let lan = LocalGuard::new()
        .network(Network::Lan)
        .allow_host("media.local:8096")
        .unwrap()
        .session_token(session);
    let req = head(Some("media.local:8096"), "/", &[("authorization", &bearer)]);
    for ok in [
        "192.168.1.5:1",
        "10.1.2.3:1",
        "172.16.0.9:1",
        "[fd00::5]:1",
        "[fe80::1]:1",
    ] {
        assert_eq!(reason(lan.check(&req, peer(ok))), None, "{ok}");
    }
    for bad in ["8.8.8.8:1", "172.32.0.1:1", "[2001:db8::1]:1"] {
        assert_eq!(
            reason(lan.check(&req, peer(bad))),
            Some(DenyReason::PeerNotAllowed),
            "{bad}"
        );
    }
}

#[test]
fn dns_rebinding_vectors_are_refused_even_from_loopback_with_the_bypass_on() {
    let guard = open_guard();
    let me = peer("127.0.0.1:40000");
    for host in [
        Some("evil.example"),
        Some("evil.example:8080"),
        Some(""),
        Some(":8080"),
        Some("[::1"),
        Some("::1"),
        Some("[::1]]"),
        Some("[::1]:8080x"),
        Some("127.0.0.1.evil.example"),
        None,
    ] {
        assert_eq!(
            reason(guard.check(&head(host, "/", &[]), me)),
            Some(DenyReason::HostNotAllowed),
            "{host:?}"
        );
    }
    for host in ["[::1]:8080", "[::1]", "127.0.0.1:8080", "localhost:8080"] {
        assert_eq!(
            reason(guard.check(&head(Some(host), "/", &[]), me)),
            None,
            "{host}"
        );
    }
    // An absolute-form URI must agree with the Host header.
    let mixed = head(Some("localhost:8080"), "http://evil.example:8080/", &[]);
    assert_eq!(
        reason(guard.check(&mixed, me)),
        Some(DenyReason::HostNotAllowed)
    );
    let agreeing = head(Some("localhost:8080"), "http://localhost:8080/", &[]);
    assert_eq!(reason(guard.check(&agreeing, me)), None);
}

#[test]
fn the_localhost_bypass_is_off_by_default() {
    let me = peer("127.0.0.1:40000");
    let req = head(Some("localhost"), "/", &[]);
    assert_eq!(
        reason(LocalGuard::new().check(&req, me)),
        Some(DenyReason::MissingCredentials)
    );
    assert!(matches!(
        open_guard().check(&req, me),
        Decision::Allow(Caller::LocalBypass)
    ));
}

#[test]
fn session_token_and_registry_keys_are_both_accepted_and_nothing_else() {
    let dir = std::env::temp_dir().join(format!("hearth-guard-unit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = KeyRegistry::open(dir.join("keys"));
    let (key, record) = registry.create(Role::Curator, "tool", None).unwrap();
    let session = SessionToken::generate().unwrap();
    let guard = LocalGuard::new()
        .session_token(session.clone())
        .key_registry(registry);
    let me = peer("127.0.0.1:40000");
    let with = |h: &str, v: &str| guard.check(&head(Some("localhost"), "/", &[(h, v)]), me);

    let bearer = format!("Bearer {}", session.expose_secret());
    assert!(matches!(
        with("authorization", &bearer),
        Decision::Allow(Caller::Session)
    ));
    match with("x-api-key", key.expose_secret()) {
        Decision::Allow(Caller::Key(p)) => {
            assert_eq!(p.key_id, record.id);
            assert_eq!(p.role, Role::Curator);
        }
        other => panic!("{other:?}"),
    }
    let mut wrong = session.expose_secret().to_owned();
    wrong.pop();
    wrong.push('x');
    assert_eq!(
        reason(with("authorization", &format!("Bearer {wrong}"))),
        Some(DenyReason::InvalidCredentials)
    );
    assert_eq!(
        reason(with("authorization", "Basic dXNlcjpwYXNz")),
        Some(DenyReason::InvalidCredentials)
    );
    // The guard's Debug shows neither the session token nor anything of the key.
    let debug = format!("{guard:?}");
    assert!(!debug.contains(session.expose_secret()), "{debug}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn per_path_limits_apply_the_longest_prefix() {
    let guard = open_guard()
        .rate_limit(
            "/",
            Limit::sliding_window(60, Duration::from_secs(60)).unwrap(),
        )
        .unwrap()
        .rate_limit(
            "/keys",
            Limit::sliding_window(5, Duration::from_secs(60)).unwrap(),
        )
        .unwrap();
    let me = peer("127.0.0.1:40000");
    let keys = head(Some("localhost"), "/keys/new", &[]);
    for _ in 0..5 {
        assert_eq!(reason(guard.check(&keys, me)), None);
    }
    let Decision::Deny(d) = guard.check(&keys, me) else {
        panic!("the 6th key creation in a minute was admitted");
    };
    assert_eq!(d.status(), 429);
    assert!(d.retry_after().unwrap().duration() <= Duration::from_secs(60));
    // The general budget is separate.
    assert_eq!(
        reason(guard.check(&head(Some("localhost"), "/api", &[]), me)),
        None
    );
    // Each peer has its own.
    assert_eq!(reason(guard.check(&keys, peer("127.0.0.2:1"))), None);
    // `/keystore` is not under `/keys`: the general budget applies.
    let store = head(Some("localhost"), "/keystore", &[]);
    assert_eq!(reason(guard.check(&store, me)), None);
}

#[test]
fn content_length_over_the_cap_or_malformed_is_refused() {
    let guard = open_guard().max_body(10);
    let me = peer("127.0.0.1:40000");
    let cl =
        |v: &str| reason(guard.check(&head(Some("localhost"), "/", &[("content-length", v)]), me));
    assert_eq!(cl("10"), None);
    assert_eq!(cl("11"), Some(DenyReason::BodyTooLarge));
    assert_eq!(cl("-1"), Some(DenyReason::BodyTooLarge));
    assert_eq!(
        cl("99999999999999999999999"),
        Some(DenyReason::BodyTooLarge)
    );
}

#[test]
fn the_layer_caps_a_streamed_body_and_fails_closed_without_a_peer() {
    use http_body_util::{BodyExt, Full, Limited};
    use tower_layer::Layer;
    use tower_service::Service;

    #[derive(Clone)]
    struct Echo;
    impl Service<Request<Limited<Full<bytes::Bytes>>>> for Echo {
        type Response = http::Response<String>;
        type Error = std::convert::Infallible;
        type Future = std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
        >;
        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn call(&mut self, r: Request<Limited<Full<bytes::Bytes>>>) -> Self::Future {
            Box::pin(async move {
                Ok(match r.into_body().collect().await {
                    Ok(b) => http::Response::new(format!("{}", b.to_bytes().len())),
                    Err(_) => {
                        let mut resp = http::Response::new("too large".to_owned());
                        *resp.status_mut() = http::StatusCode::PAYLOAD_TOO_LARGE;
                        resp
                    }
                })
            })
        }
    }
    let guard = Arc::new(open_guard().max_body(8));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let request = |len: usize| {
        Request::builder()
            .uri("/")
            .header("host", "localhost")
            .body(Full::new(bytes::Bytes::from(vec![0u8; len])))
            .unwrap()
    };
    let mut service = LocalGuardLayer::new(Arc::clone(&guard))
        .for_peer(peer("127.0.0.1:1"))
        .layer(Echo);
    assert_eq!(rt.block_on(service.call(request(8))).unwrap().body(), "8");
    assert_eq!(rt.block_on(service.call(request(9))).unwrap().status(), 413);
    let mut no_peer = LocalGuardLayer::new(guard).layer(Echo);
    assert_eq!(rt.block_on(no_peer.call(request(1))).unwrap().status(), 403);
}

#[test]
fn preflights_are_answered_for_allowed_origins_only() {
    let guard = LocalGuard::new()
        .allow_origin("tauri://localhost")
        .unwrap()
        .rate_limit(
            "/",
            Limit::sliding_window(2, Duration::from_secs(60)).unwrap(),
        )
        .unwrap();
    let me = peer("127.0.0.1:40000");
    let preflight = |host: &str, origin: &str| {
        let mut r = Request::builder()
            .method("OPTIONS")
            .uri("/api/items")
            .header("host", host)
            .header("access-control-request-method", "POST");
        if !origin.is_empty() {
            r = r.header("origin", origin);
        }
        r.body(()).unwrap().into_parts().0
    };
    match guard.check(&preflight("localhost:8096", "tauri://localhost"), me) {
        Decision::Preflight(p) => {
            let r: http::Response<String> = p.to_response();
            assert_eq!(r.status(), 204);
            assert_eq!(
                r.headers()["access-control-allow-origin"],
                "tauri://localhost"
            );
            assert!(
                r.headers()["access-control-allow-headers"]
                    .to_str()
                    .unwrap()
                    .contains("x-api-key")
            );
            assert_eq!(r.headers()["vary"], "origin");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        reason(guard.check(&preflight("localhost:8096", "https://evil.example"), me)),
        Some(DenyReason::OriginNotAllowed)
    );
    assert_eq!(
        reason(guard.check(&preflight("evil.example:8096", "tauri://localhost"), me)),
        Some(DenyReason::HostNotAllowed)
    );
    // Preflights are answered by the guard and count against no budget (2 per minute
    // here): a filled table must not refuse the UI's preflight.
    for _ in 0..10 {
        assert!(matches!(
            guard.check(&preflight("localhost:8096", "tauri://localhost"), me),
            Decision::Preflight(_)
        ));
    }
    // OPTIONS without Access-Control-Request-Method is an ordinary request: credentials.
    let plain = head(
        Some("localhost"),
        "/api/items",
        &[("origin", "tauri://localhost")],
    );
    assert_eq!(
        guard.cors_origin(&plain.headers).unwrap(),
        "tauri://localhost"
    );
    assert!(
        guard
            .cors_origin(&head(Some("localhost"), "/", &[("origin", "null")]).headers)
            .is_none()
    );
}

#[test]
fn a_path_rule_cannot_be_escaped_by_another_spelling_of_its_path() {
    let dir = std::env::temp_dir().join(format!("hearth-guard-canon-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = KeyRegistry::open(dir.join("keys"));
    let (key, _) = registry.create(Role::Consumer, "ui", None).unwrap();
    let guard = LocalGuard::new()
        .key_registry(registry)
        .exempt("/system/status")
        .require("/keys", "keys:create")
        .unwrap();
    let with_key = |path: &str| keyed(&guard, path, key.expose_secret());
    assert_eq!(with_key("/keys/new"), Some(DenyReason::Forbidden));
    assert_eq!(with_key("/items"), None);
    assert_eq!(with_key("/caf%C3%A9/"), None);
    for path in [
        "//keys/new",
        "/keys//new",
        "/%6Beys/new",
        "/%6beys/new",
        "/./keys/new",
        "/items/../keys/new",
        "/keys/new/..",
        "/keys%2Fnew",
        "/%2E%2E/keys",
        "/keys%5Cnew",
        "/keys%00",
    ] {
        assert_eq!(with_key(path), Some(DenyReason::NonCanonicalPath), "{path}");
    }
    // An exempt path in another spelling is not exempt, and is refused before anything
    // path-based happens.
    let open =
        |path: &str| reason(guard.check(&head(Some("127.0.0.1"), path, &[]), peer("127.0.0.1:1")));
    assert_eq!(open("/system/status"), None);
    assert_eq!(open("/system//status"), Some(DenyReason::NonCanonicalPath));
    assert_eq!(open("/system/%73tatus"), Some(DenyReason::NonCanonicalPath));
    assert_eq!(
        DenyReason::NonCanonicalPath.status(),
        http::StatusCode::BAD_REQUEST
    );
    // A rule written in a non-canonical spelling could never match: refused up front.
    assert!(LocalGuard::new().require("//keys", "keys:create").is_err());
    assert!(
        LocalGuard::new()
            .rate_limit(
                "/%6Beys",
                Limit::sliding_window(1, Duration::from_secs(1)).unwrap()
            )
            .is_err()
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn forged_keys_are_counted_per_peer_before_their_lookup() {
    let dir = std::env::temp_dir().join(format!("hearth-guard-forged-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = KeyRegistry::open(dir.join("keys"));
    let (real, _) = registry.create(Role::Consumer, "ui", None).unwrap();
    let session = SessionToken::generate().unwrap();
    let bearer = format!("Bearer {}", session.expose_secret());
    let guard = LocalGuard::new()
        .key_registry(registry)
        .session_token(session)
        .failed_auth_limit(Limit::sliding_window(10, Duration::from_secs(3600)).unwrap())
        .unwrap();
    let attacker = peer("127.0.0.9:1");
    let ask = |credential: (&str, &str), from: SocketAddr| {
        reason(guard.check(&head(Some("127.0.0.1"), "/items", &[credential]), from))
    };
    let (mut looked_up, mut refused_first) = (0, 0);
    for _ in 0..1000 {
        // A key with a valid checksum that the registry never issued.
        let (forged, _) = hearth_token_guard::apikey::generate("hth").unwrap();
        match ask(("x-api-key", forged.expose_secret()), attacker) {
            Some(DenyReason::InvalidCredentials) => looked_up += 1,
            Some(DenyReason::TooManyFailedAttempts) => refused_first += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((looked_up, refused_first), (10, 990));
    // The real key from another peer is admitted; from the attacker's address it waits
    // like any other key; the session token is never counted, from anywhere.
    assert_eq!(
        ask(("x-api-key", real.expose_secret()), peer("127.0.0.10:1")),
        None
    );
    assert_eq!(
        ask(("x-api-key", real.expose_secret()), attacker),
        Some(DenyReason::TooManyFailedAttempts)
    );
    assert_eq!(ask(("authorization", &bearer), attacker), None);
    // Good keys do not use up a peer's budget: 50 in a row from one peer are all admitted.
    let honest = peer("127.0.0.11:1");
    for _ in 0..50 {
        assert_eq!(ask(("x-api-key", real.expose_secret()), honest), None);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unauthenticated_peers_filling_the_limiter_do_not_lock_out_credential_holders() {
    let session = SessionToken::generate().unwrap();
    let bearer = format!("Bearer {}", session.expose_secret());
    let guard = LocalGuard::new()
        .session_token(session)
        .exempt("/system/status")
        .rate_limit(
            "/",
            Limit::sliding_window(5, Duration::from_secs(3600)).unwrap(),
        )
        .unwrap();
    let status = head(Some("127.0.0.1"), "/system/status", &[]);
    // More peers than a limiter table holds (100,000), all from loopback.
    let mut refused = 0;
    for i in 0..120_000u32 {
        let ip = std::net::Ipv4Addr::from(0x7f00_0000 | (i + 1));
        if reason(guard.check(&status, SocketAddr::from((ip, 1)))).is_some() {
            refused += 1;
        }
    }
    assert!(refused > 0, "the peers' table filled and refused new peers");
    let api = head(Some("127.0.0.1"), "/items", &[("authorization", &bearer)]);
    for _ in 0..5 {
        assert_eq!(reason(guard.check(&api, peer("127.0.0.1:1"))), None);
    }
    assert_eq!(
        reason(guard.check(&api, peer("127.0.0.1:1"))),
        Some(DenyReason::RateLimited),
        "the session holder has its own budget, and it is still enforced"
    );
    // An IPv6 peer's addresses in one /64 share one budget.
    let v6 =
        |last: u16| SocketAddr::from((std::net::Ipv6Addr::new(0xfd00, 0, 0, 1, 0, 0, 0, last), 1));
    let lan = LocalGuard::new()
        .network(Network::Lan)
        .allow_host("media.local")
        .unwrap()
        .exempt("/system/status")
        .rate_limit(
            "/",
            Limit::sliding_window(3, Duration::from_secs(3600)).unwrap(),
        )
        .unwrap();
    let status = head(Some("media.local"), "/system/status", &[]);
    for last in 1..=3 {
        assert_eq!(reason(lan.check(&status, v6(last))), None);
    }
    assert_eq!(
        reason(lan.check(&status, v6(4))),
        Some(DenyReason::RateLimited)
    );
}

#[test]
fn a_sealed_registry_edited_outside_hearth_admits_no_key() {
    let dir = std::env::temp_dir().join(format!("hearth-guard-sealed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let seal = hearth_token_guard::SecretBytes::generate(32).unwrap();
    let registry = KeyRegistry::open(dir.join("keys"))
        .with_seal_key(&seal)
        .unwrap();
    let (key, _) = registry.create(Role::Consumer, "tv", None).unwrap();
    let guard = LocalGuard::new()
        .key_registry(
            KeyRegistry::open(dir.join("keys"))
                .with_seal_key(&seal)
                .unwrap(),
        )
        .require("/keys", "keys:create")
        .unwrap();
    let ask = |path: &str| keyed(&guard, path, key.expose_secret());
    assert_eq!(ask("/keys/new"), Some(DenyReason::Forbidden));
    // Raise the consumer to administrator in the file: refused, not promoted.
    let file = dir.join("keys");
    let edited = std::fs::read_to_string(&file)
        .unwrap()
        .replace(" consumer ", " administrator ");
    std::fs::write(&file, edited).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ask("/keys/new") == Some(DenyReason::Forbidden) {
        assert!(
            std::time::Instant::now() < deadline,
            "the edit was never seen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ask("/keys/new"), Some(DenyReason::Unavailable));
    assert_eq!(ask("/items"), Some(DenyReason::Unavailable));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn forged_keys_from_more_peers_than_the_table_holds_lock_nobody_out() {
    let dir = std::env::temp_dir().join(format!("hearth-guard-flood-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = KeyRegistry::open(dir.join("keys"));
    let (real, _) = registry.create(Role::Consumer, "ui", None).unwrap();
    let guard = LocalGuard::new()
        .key_registry(registry)
        .allow_origin("tauri://localhost")
        .unwrap()
        .rate_limit(
            "/",
            Limit::sliding_window(1000, Duration::from_secs(3600)).unwrap(),
        )
        .unwrap();
    let (forged, _) = hearth_token_guard::apikey::generate("hth").unwrap();
    // More peers than the failed-key table holds (100,000), one forged key each.
    for i in 0..120_000u32 {
        let ip = std::net::Ipv4Addr::from(0x7f10_0000 | (i + 1));
        let r = reason(guard.check(
            &head(
                Some("127.0.0.1"),
                "/items",
                &[("x-api-key", forged.expose_secret())],
            ),
            SocketAddr::from((ip, 1)),
        ));
        assert_eq!(r, Some(DenyReason::InvalidCredentials), "peer {i}");
    }
    // The real key, from an address never seen and from 127.0.0.1: admitted.
    for from in ["127.200.0.1:1", "127.0.0.1:1"] {
        let request = head(
            Some("127.0.0.1"),
            "/items",
            &[("x-api-key", real.expose_secret())],
        );
        assert_eq!(reason(guard.check(&request, peer(from))), None, "{from}");
    }
    // The UI's preflight from a new peer is answered.
    let preflight = head(
        Some("127.0.0.1"),
        "/items",
        &[
            ("origin", "tauri://localhost"),
            ("access-control-request-method", "POST"),
        ],
    );
    let mut r = http::Request::options("/items")
        .body(())
        .unwrap()
        .into_parts()
        .0;
    r.headers = preflight.headers;
    assert!(matches!(
        guard.check(&r, peer("127.201.0.1:1")),
        Decision::Preflight(_)
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn only_an_opened_path_admits_cross_site_navigations() {
    let guard = LocalGuard::new()
        .exempt("/callback")
        .exempt("/other")
        .allow_navigation("/callback");
    let ask = |method: &str, path: &str, mode: &str| {
        let mut r = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "127.0.0.1:9")
            .header("sec-fetch-site", "cross-site")
            .header("sec-fetch-mode", mode)
            .body(())
            .unwrap()
            .into_parts()
            .0;
        r.headers
            .insert("sec-fetch-dest", "document".parse().unwrap());
        reason(guard.check(&r, peer("127.0.0.1:1")))
    };
    assert_eq!(ask("GET", "/callback", "navigate"), None);
    assert_eq!(ask("GET", "/callback?code=x", "navigate"), None);
    for (method, path, mode) in [
        ("GET", "/other", "navigate"),
        ("POST", "/callback", "navigate"),
        ("GET", "/callback", "no-cors"),
        ("GET", "/callback", "cors"),
        ("GET", "/callback/", "navigate"),
    ] {
        assert_eq!(
            ask(method, path, mode),
            Some(DenyReason::CrossSite),
            "{method} {path} {mode}"
        );
    }
}
