//! `hearth gate` as a user runs it: the `hearth` process in front of a real upstream (a
//! hyper server in this test that records every request it gets, with a WebSocket echo),
//! driven by raw HTTP/1.1 clients, so that every header is the test's choice.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt as _, StreamExt as _};
use hearth_token_guard::SessionTokenFile;
use hearth_token_guard::apikey::{KeyRegistry, Role};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;

/// What the upstream got: method, path and query, headers (lower-case names).
#[derive(Debug, Clone)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The upstream: answers `upstream saw TARGET`, echoes WebSocket messages on `/ws`.
struct Upstream {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    _runtime: tokio::runtime::Runtime,
}

impl Upstream {
    fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let recorded = Arc::clone(&seen);
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let recorded = Arc::clone(&recorded);
                        async move { Ok::<_, std::convert::Infallible>(answer(req, &recorded).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        Self {
            port,
            seen,
            _runtime: runtime,
        }
    }

    fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the upstream got a request")
    }

    fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn answer(
    mut req: hyper::Request<hyper::body::Incoming>,
    recorded: &Mutex<Vec<Seen>>,
) -> hyper::Response<Full<Bytes>> {
    recorded.lock().unwrap().push(Seen {
        target: req.uri().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into(),
                )
            })
            .collect(),
    });
    if req.uri().path() == "/slow" {
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    if req.uri().path() == "/switch" {
        // Switches protocols whatever was asked.
        return hyper::Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "h2c")
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    if req.uri().path() == "/ws" {
        let key = req
            .headers()
            .get("sec-websocket-key")
            .unwrap()
            .as_bytes()
            .to_vec();
        let upgrade = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            let io = TokioIo::new(upgrade.await.unwrap());
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                io,
                tungstenite::protocol::Role::Server,
                None,
            )
            .await;
            while let Some(Ok(message)) = ws.next().await {
                if message.is_text() || message.is_binary() {
                    let _ = ws.send(message).await;
                }
            }
        });
        return hyper::Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .header(
                "sec-websocket-accept",
                tungstenite::handshake::derive_accept_key(&key),
            )
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    let Ok(body) = req.into_body().collect().await.map(|b| b.to_bytes().len()) else {
        return hyper::Response::builder()
            .status(500)
            .body(Full::new(Bytes::from_static(b"the body broke off\n")))
            .unwrap();
    };
    let text = format!("upstream saw {} bytes\n", body);
    hyper::Response::new(Full::new(Bytes::from(text)))
}

/// A `hearth gate` process; killed when dropped.
struct GateProcess {
    child: Child,
    port: u16,
}

impl GateProcess {
    fn start(dir: &Path, upstream: u16, config: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hearth"));
        command
            .args(["gate", "--listen", "127.0.0.1:0", "--upstream"])
            .arg(format!("http://127.0.0.1:{upstream}"));
        if let Some(text) = config {
            let path = dir.join("gate.toml");
            std::fs::write(&path, text).unwrap();
            command.arg("--config").arg(path);
        }
        command
            .args(common::vault_args(dir))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        // The gate says where it listens once it does (or why it cannot, and exits).
        stderr.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("hearth gate: listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("the gate did not start: {line}"))
            .parse()
            .unwrap();
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Self { child, port }
    }
}

impl GateProcess {
    /// Stops it as a service manager does (SIGTERM) and waits: it lets requests in flight
    /// finish and writes the audit records it was handed.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = self.child.wait().unwrap();
        assert!(exit.success(), "the gate stops cleanly on SIGTERM: {exit}");
    }
}

impl Drop for GateProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hearth-gate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A response: status, headers (lower-case names), body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request on its own connection: `head` is the request line and headers (CRLF
/// added, `Connection: close` and `Content-Length` too).
fn send(port: u16, head: &str, body: &[u8]) -> Reply {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut request = head.replace('\n', "\r\n");
    request.push_str(&format!(
        "\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    tcp.write_all(request.as_bytes()).unwrap();
    tcp.write_all(body).unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// Sends `raw` as it is and reads the answer's status line.
fn send_raw(port: u16, raw: &[u8]) -> u16 {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = tcp.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"))
}

fn get(port: u16, path: &str, extra: &str) -> Reply {
    let mut head = format!("GET {path} HTTP/1.1\nHost: 127.0.0.1:{port}");
    if !extra.is_empty() {
        head.push('\n');
        head.push_str(extra);
    }
    send(port, &head, b"")
}

#[test]
fn without_a_config_every_request_is_refused() {
    let dir = temp_dir("closed");
    let upstream = Upstream::start();
    let gate = GateProcess::start(&dir, upstream.port, None);
    assert_eq!(get(gate.port, "/", "").status, 401);
    assert_eq!(
        get(gate.port, "/api/tags", "Authorization: Bearer anything").status,
        401
    );
    // DNS rebinding: a page on evil.example that resolves to 127.0.0.1.
    let rebound = send(gate.port, "GET / HTTP/1.1\nHost: evil.example", b"");
    assert_eq!(rebound.status, 403);
    assert_eq!(upstream.count(), 0, "nothing reached the upstream");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_rule_holds_end_to_end_and_the_upstream_sees_no_credential() {
    let dir = temp_dir("rules");
    let upstream = Upstream::start();
    let registry = KeyRegistry::open(dir.join("api-keys"));
    let (consumer, consumer_record) = registry.create(Role::Consumer, "tablet", None).unwrap();
    let (admin, _) = registry.create(Role::Administrator, "desk", None).unwrap();
    let (revoked, revoked_record) = registry.create(Role::Consumer, "old", None).unwrap();
    registry.revoke(&revoked_record.id).unwrap();
    let session = SessionTokenFile::generate(dir.join("session-token")).unwrap();
    let session_token = session.token().expose_secret().to_owned();
    let config = format!(
        r#"
origins = ["https://app.example"]
exempt = ["/health"]

[credentials]
api_keys = "{keys}"
session_token_file = "{session}"

[[require]]
path = "/admin"
permission = "settings:write"

[[limit]]
path = "/limited"
requests = 3
per_seconds = 3600

[limits]
max_body_bytes = 1024

[audit]
file = "{audit}"
"#,
        keys = dir.join("api-keys").display(),
        session = dir.join("session-token").display(),
        audit = dir.join("audit.jsonl").display(),
    );
    let gate = GateProcess::start(&dir, upstream.port, Some(&config));
    let port = gate.port;
    let consumer_key = consumer.expose_secret().to_owned();
    let admin_key = admin.expose_secret().to_owned();
    let bearer = |key: &str| format!("Authorization: Bearer {key}");

    // An API key: admitted, the key gone, the caller named, a forged caller replaced.
    let ok = get(
        port,
        "/api/tags?x=1",
        &format!(
            "{}\nX-Hearth-Caller: key=forged; role=administrator\nX-Forwarded-For: 6.6.6.6",
            bearer(&consumer_key)
        ),
    );
    assert_eq!(ok.status, 200, "{}", ok.body);
    let seen = upstream.last();
    assert_eq!(seen.target, "/api/tags?x=1");
    assert_eq!(
        seen.header("x-hearth-caller"),
        Some(format!("key={}; role=consumer", consumer_record.id).as_str())
    );
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(
        seen.header("host"),
        Some(format!("127.0.0.1:{}", upstream.port).as_str())
    );
    assert!(
        ok.header("x-content-type-options").is_some(),
        "security headers"
    );

    // X-Api-Key, and a key in the query (a browser's WebSocket): admitted, never forwarded.
    assert_eq!(
        get(port, "/a", &format!("X-Api-Key: {consumer_key}")).status,
        200
    );
    assert_eq!(
        get(port, &format!("/q?access_token={consumer_key}&y=2"), "").status,
        200
    );
    assert_eq!(upstream.last().target, "/q?y=2");
    // The session token holder.
    assert_eq!(get(port, "/s", &bearer(&session_token)).status, 200);
    assert_eq!(upstream.last().header("x-hearth-caller"), Some("session"));
    // An exempt path needs nothing; a cross-site one is still refused.
    assert_eq!(get(port, "/health", "").status, 200);
    assert_eq!(upstream.last().header("x-hearth-caller"), Some("anonymous"));
    assert_eq!(
        get(port, "/health", "Sec-Fetch-Site: cross-site").status,
        403
    );

    // Refusals, none of which reaches the upstream.
    let before = upstream.count();
    for (path, extra, status) in [
        ("/a", String::new(), 401),
        ("/a", bearer("hth_notakey"), 401),
        ("/a", bearer(revoked.expose_secret()), 401),
        ("/admin/settings", bearer(&consumer_key), 403),
        (
            "/a",
            format!("{}\nOrigin: https://evil.example", bearer(&consumer_key)),
            403,
        ),
        ("//admin/settings", bearer(&consumer_key), 400),
        ("/a/../admin", bearer(&consumer_key), 400),
    ] {
        let reply = get(port, path, &extra);
        assert_eq!(reply.status, status, "{path} {extra}: {}", reply.body);
        assert!(!reply.body.contains(&consumer_key));
    }
    let wrong_host = send(
        port,
        &format!(
            "GET /a HTTP/1.1\nHost: evil.example\n{}",
            bearer(&consumer_key)
        ),
        b"",
    );
    assert_eq!(wrong_host.status, 403);
    let too_big = send(
        port,
        &format!(
            "POST /a HTTP/1.1\nHost: 127.0.0.1:{port}\n{}",
            bearer(&consumer_key)
        ),
        &[b'x'; 2048],
    );
    assert_eq!(too_big.status, 413);
    assert_eq!(
        upstream.count(),
        before,
        "no refused request reached the upstream"
    );

    // The administrator may; an allowed Origin is answered with CORS.
    let admin_ok = get(
        port,
        "/admin/settings",
        &format!("{}\nOrigin: https://app.example", bearer(&admin_key)),
    );
    assert_eq!(admin_ok.status, 200);
    assert_eq!(
        admin_ok.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    // A body under the cap goes through whole.
    let posted = send(
        port,
        &format!(
            "POST /a HTTP/1.1\nHost: 127.0.0.1:{port}\n{}",
            bearer(&consumer_key)
        ),
        &[b'x'; 1000],
    );
    assert_eq!(posted.body, "upstream saw 1000 bytes\n");

    // The rate limit: 3, then 429 with Retry-After.
    for _ in 0..3 {
        assert_eq!(get(port, "/limited", &bearer(&consumer_key)).status, 200);
    }
    let limited = get(port, "/limited", &bearer(&consumer_key));
    assert_eq!(limited.status, 429);
    assert!(
        limited
            .header("retry-after")
            .is_some_and(|s| s.parse::<u64>().unwrap() > 0)
    );

    // No credential ever reached the upstream.
    for seen in upstream.seen.lock().unwrap().iter() {
        assert!(
            seen.header("authorization").is_none() && seen.header("x-api-key").is_none(),
            "{seen:?}"
        );
        for (_, value) in &seen.headers {
            assert!(!value.contains(&consumer_key) && !value.contains(&session_token));
        }
        assert!(!seen.target.contains("access_token"));
    }

    // Every refusal is in the audit log, which verifies, and holds no key.
    gate.stop();
    let log = std::fs::read_to_string(dir.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"FAILED_AUTH_ATTEMPT\""), "{log}");
    assert!(
        log.contains("revoked_key") && log.contains("rate_limited"),
        "{log}"
    );
    assert!(
        log.contains("\"SUSPICIOUS_ACTIVITY\"") && log.contains("host_not_allowed"),
        "{log}"
    );
    for secret in [
        &consumer_key,
        &admin_key,
        &session_token,
        &revoked.expose_secret().to_owned(),
    ] {
        assert!(
            !log.contains(secret.as_str()),
            "a credential in the audit log"
        );
    }
    let mut args = vec![
        "audit".to_owned(),
        "verify".into(),
        dir.join("audit.jsonl").display().to_string(),
    ];
    args.extend(["--store".into(), "hearth-gate::audit".into()]);
    args.extend(common::vault_args(&dir));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let verified = common::run_hearth(&args, b"", |_| {});
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_websocket_echoes_through_the_gate() {
    let dir = temp_dir("ws");
    let upstream = Upstream::start();
    let registry = KeyRegistry::open(dir.join("api-keys"));
    let (key, _) = registry.create(Role::Consumer, "ws", None).unwrap();
    let config = format!(
        "[credentials]\napi_keys = \"{}\"\n",
        dir.join("api-keys").display()
    );
    let gate = GateProcess::start(&dir, upstream.port, Some(&config));
    let tcp = TcpStream::connect(("127.0.0.1", gate.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let url = format!(
        "ws://127.0.0.1:{}/ws?access_token={}",
        gate.port,
        key.expose_secret()
    );
    let (mut ws, response) = tungstenite::client(url.as_str(), tcp).unwrap();
    assert_eq!(response.status(), 101);
    for text in ["hello", "through the gate"] {
        ws.send(tungstenite::Message::text(text)).unwrap();
        assert_eq!(ws.read().unwrap().into_text().unwrap().as_str(), text);
    }
    ws.close(None).unwrap();
    let seen = upstream.last();
    assert_eq!(seen.target, "/ws");
    assert!(seen.header("x-hearth-caller").unwrap().starts_with("key="));
    // Without the key: no upgrade.
    let tcp = TcpStream::connect(("127.0.0.1", gate.port)).unwrap();
    let refused = tungstenite::client(format!("ws://127.0.0.1:{}/ws", gate.port).as_str(), tcp);
    assert!(
        matches!(refused, Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) if r.status() == 401)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_config_error_names_its_line_and_nothing_listens() {
    let dir = temp_dir("badconfig");
    let path = dir.join("gate.toml");
    std::fs::write(
        &path,
        "exempt = [\"/ok\"]\n\n[[limit]]\npath = \"/a\"\nrequests = 0\nper_seconds = 1\n",
    )
    .unwrap();
    let out = common::run_hearth(
        &[
            "gate",
            "--check",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            "http://127.0.0.1:9",
            "--config",
            path.to_str().unwrap(),
        ],
        b"",
        |_| {},
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("gate.toml:5:"), "{stderr}");
    assert!(stderr.contains("requests must be at least 1"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_upstream_that_is_down_is_a_502() {
    let dir = temp_dir("down");
    let registry = KeyRegistry::open(dir.join("api-keys"));
    let (key, _) = registry.create(Role::Consumer, "x", None).unwrap();
    let config = format!(
        "[credentials]\napi_keys = \"{}\"\n",
        dir.join("api-keys").display()
    );
    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let gate = GateProcess::start(&dir, free, Some(&config));
    let reply = get(
        gate.port,
        "/",
        &format!("Authorization: Bearer {}", key.expose_secret()),
    );
    assert_eq!(reply.status, 502);
    assert_eq!(reply.body, "the upstream cannot be reached\n");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_tls_listener_serves_https_only() {
    use hearth_net_policy::{HttpsClient, Pin, PinPolicy, TlsPolicy};
    let dir = temp_dir("tls");
    let upstream = Upstream::start();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    std::fs::write(dir.join("gate.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("gate.key"), key.serialize_pem()).unwrap();
    let registry = KeyRegistry::open(dir.join("api-keys"));
    let (api_key, _) = registry.create(Role::Consumer, "tls", None).unwrap();
    let config = format!(
        "[credentials]\napi_keys = \"{}\"\n\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        dir.join("api-keys").display(),
        dir.join("gate.pem").display(),
        dir.join("gate.key").display(),
    );
    let gate = GateProcess::start(&dir, upstream.port, Some(&config));
    let pin = Pin::of_certificate(cert.der()).unwrap();
    let policy = TlsPolicy::new()
        .pins(
            PinPolicy::new()
                .self_signed("127.0.0.1", [pin.to_string()])
                .unwrap(),
        )
        .build()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let response = runtime.block_on(async {
        let client = HttpsClient::new(&policy).without_proxy();
        let request = http::Request::get(format!("https://127.0.0.1:{}/over-tls", gate.port))
            .header(
                "authorization",
                format!("Bearer {}", api_key.expose_secret()),
            )
            .body(Bytes::new())
            .unwrap();
        client.send(request).await.unwrap()
    });
    assert_eq!(response.status, 200);
    let seen = upstream.last();
    assert_eq!(seen.target, "/over-tls");
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    // Plain HTTP to the TLS port is no request at all.
    let mut tcp = TcpStream::connect(("127.0.0.1", gate.port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    tcp.write_all(
        format!(
            "GET /plain HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {}\r\n\r\n",
            gate.port,
            api_key.expose_secret()
        )
        .as_bytes(),
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw);
    assert!(!String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200"));
    assert_eq!(upstream.count(), 1, "only the TLS request arrived");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A JWT access token from a real, certified provider (node oidc-provider), checked by the
/// gate against the issuer's keys (its self-signed certificate trusted by pin).
#[test]
fn a_jwt_from_the_issuer_is_admitted_with_its_subject() {
    use hearth_pkce::Provider;
    use hearth_testkit::oidc_provider::{Browser, CLIENT, OidcProvider};
    const API: &str = "https://api.hearth.test";
    const REDIRECT: &str = "http://127.0.0.1/callback";
    let dir = temp_dir("jwt");
    let upstream = Upstream::start();
    let op = OidcProvider::start("gate-jwt");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let token = runtime.block_on(async {
        let provider = Provider::discover(&op.client(), &op.issuer(), CLIENT)
            .await
            .unwrap();
        let request = provider
            .authorization_request(REDIRECT)
            .unwrap()
            .scope("api:read")
            .param("resource", API);
        let (url, pending) = provider.start(request).await.unwrap();
        let mut browser = Browser::new(op.client());
        let callback = browser.sign_in(&url, "gina", REDIRECT).await;
        let signed = provider
            .exchange(pending.complete(&callback).unwrap())
            .await
            .unwrap();
        signed.tokens.access_token.expose_secret().to_owned()
    });
    assert_eq!(token.split('.').count(), 3, "a JWT access token");
    let config = format!(
        "[credentials.jwt]\nissuer = \"{}\"\naudience = \"{API}\"\npins = [\"{}\"]\n\n[[require]]\npath = \"/items\"\npermission = \"api:read\"\n\n[[require]]\npath = \"/admin\"\npermission = \"api:write\"\n",
        op.issuer(),
        op.pin
    );
    let gate = GateProcess::start(&dir, upstream.port, Some(&config));
    let bearer = format!("Authorization: Bearer {token}");
    let ok = get(gate.port, "/items", &bearer);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let seen = upstream.last();
    assert_eq!(seen.header("x-hearth-caller"), Some("sub=gina"));
    assert!(seen.header("authorization").is_none());
    // The token grants api:read only; a tampered one is no token.
    assert_eq!(get(gate.port, "/admin", &bearer).status, 403);
    // (A character well inside the signature: the last one has bits base64 leaves unused.)
    let mut forged = token.clone().into_bytes();
    let at = forged.len() - 10;
    forged[at] = if forged[at] == b'A' { b'B' } else { b'A' };
    let forged = String::from_utf8(forged).unwrap();
    assert_eq!(
        get(
            gate.port,
            "/items",
            &format!("Authorization: Bearer {forged}")
        )
        .status,
        401
    );
    assert_eq!(upstream.count(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_spelling_of_a_header_the_gate_sets_reaches_the_upstream() {
    let dir = temp_dir("spellings");
    let upstream = Upstream::start();
    let registry = KeyRegistry::open(dir.join("api-keys"));
    let (key, record) = registry.create(Role::Consumer, "x", None).unwrap();
    let key = key.expose_secret().to_owned();
    for caller_header in [true, false] {
        let config = format!(
            "[credentials]\napi_keys = \"{}\"\n[limits]\nupstream_timeout_seconds = 1\n[forward]\ncaller_header = {caller_header}\n",
            dir.join("api-keys").display()
        );
        let gate = GateProcess::start(&dir, upstream.port, Some(&config));
        let forged = [
            "X-Hearth-Caller: key=forged; role=administrator",
            "X_Hearth_Caller: key=forged; role=administrator",
            "x_forwarded_for: 6.6.6.6",
            "X-Real-IP: 6.6.6.6",
            "X-Original-URL: /admin",
            "X_Api_Key: hth_forged",
            "Connection: keep-alive, x-hearth-caller",
        ]
        .join("\n");
        let reply = get(
            gate.port,
            "/p",
            &format!("Authorization: Bearer {key}\n{forged}"),
        );
        assert_eq!(reply.status, 200, "{}", reply.body);
        let seen = upstream.last();
        for (name, value) in &seen.headers {
            let name = name.replace('_', "-");
            assert!(
                !value.contains("forged") && !value.contains("6.6.6.6") && name != "x-original-url",
                "{name}: {value}"
            );
        }
        let expected = format!("key={}; role=consumer", record.id);
        assert_eq!(
            seen.header("x-hearth-caller"),
            caller_header.then_some(expected.as_str()),
            "caller_header = {caller_header}"
        );

        // An upgrade to anything but a WebSocket is forwarded as a plain request.
        let h2c = get(
            gate.port,
            "/h2",
            &format!(
                "Authorization: Bearer {key}\nConnection: Upgrade, HTTP2-Settings\nUpgrade: h2c\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA"
            ),
        );
        assert_eq!(h2c.status, 200);
        assert!(
            upstream.last().header("upgrade").is_none(),
            "h2c not asked of the upstream"
        );
        // An upstream that switches protocols unasked gets no tunnel.
        assert_eq!(
            get(
                gate.port,
                "/switch",
                &format!("Authorization: Bearer {key}")
            )
            .status,
            502
        );
        // One that does not answer in time: 504.
        assert_eq!(
            get(gate.port, "/slow", &format!("Authorization: Bearer {key}")).status,
            504
        );
        // A chunked body over the cap (1 MiB by default) is cut off: 413.
        let mut raw = format!(
            "POST /big HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {key}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            gate.port
        )
        .into_bytes();
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..20 {
            raw.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            raw.extend_from_slice(&chunk);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(send_raw(gate.port, &raw), 413);
        gate.stop();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Two `hearth gate` processes in front of one upstream, sharing one Redis.
#[test]
fn two_gates_share_limits_and_revocations_through_redis() {
    use hearth_testkit::redis::RedisServer;
    let mut redis = RedisServer::start();
    let dir = temp_dir("redis");
    let upstream = Upstream::start();
    // Each gate has its own copy of the registry (as on two hosts).
    let registry_a = KeyRegistry::open(dir.join("keys-a"));
    let (key, _) = registry_a.create(Role::Consumer, "shared", None).unwrap();
    let (other, _) = registry_a.create(Role::Consumer, "other", None).unwrap();
    std::fs::copy(dir.join("keys-a"), dir.join("keys-b")).unwrap();
    let url = redis.url();
    let config = |registry: &str, extra: &str| {
        format!(
            "state = \"{url}\"\n[credentials]\napi_keys = \"{}\"\n[[limit]]\npath = \"/api\"\nrequests = 100\nper_seconds = 3600\n{extra}",
            dir.join(registry).display()
        )
    };
    let dir_a = dir.join("a");
    let dir_b = dir.join("b");
    std::fs::create_dir_all(&dir_a).unwrap();
    std::fs::create_dir_all(&dir_b).unwrap();
    let a = GateProcess::start(&dir_a, upstream.port, Some(&config("keys-a", "")));
    let b = GateProcess::start(&dir_b, upstream.port, Some(&config("keys-b", "")));
    let bearer = format!("Authorization: Bearer {}", key.expose_secret());

    // 200 requests spread over both: exactly the limit admitted.
    let mut admitted = 0;
    for i in 0..200 {
        let port = if i % 2 == 0 { a.port } else { b.port };
        let reply = get(port, "/api/x", &bearer);
        match reply.status {
            200 => admitted += 1,
            429 => assert!(reply.header("retry-after").is_some()),
            other => panic!("{other}: {}", reply.body),
        }
    }
    assert_eq!(admitted, 100, "one limit for both gates");

    // Revoked through gate A's state: gate B, whose registry still lists the key, refuses
    // it within a second.
    let other_bearer = format!("Authorization: Bearer {}", other.expose_secret());
    assert_eq!(get(b.port, "/free", &other_bearer).status, 200);
    let other_id = registry_a
        .list()
        .unwrap()
        .into_iter()
        .find(|r| r.label == "other")
        .unwrap()
        .id
        .to_string();
    let keys_a = dir.join("keys-a").display().to_string();
    let args_ref = [
        "apikey",
        "revoke",
        &other_id,
        "--registry",
        &keys_a,
        "--state",
        &url,
    ];
    let revoked = common::run_hearth(&args_ref, b"", |_| {});
    assert!(
        revoked.status.success(),
        "{}",
        String::from_utf8_lossy(&revoked.stderr)
    );
    let start = std::time::Instant::now();
    loop {
        let status = get(b.port, "/free", &other_bearer).status;
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "gate B refused it within a second"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        get(a.port, "/free", &other_bearer).status,
        401,
        "and gate A"
    );

    // Redis killed: limited paths get 503 with Retry-After (fail closed); unlimited ones
    // go on. Back: served again.
    redis.kill();
    let down = get(
        a.port,
        "/api/y",
        &format!("Authorization: Bearer {}", key.expose_secret()),
    );
    assert_eq!(down.status, 503, "{}", down.body);
    assert!(down.header("retry-after").is_some());
    // Unlimited paths too, once the revocations can no longer be confirmed (a second):
    // a key revoked elsewhere meanwhile would not be known here.
    let start = std::time::Instant::now();
    while get(a.port, "/free", &bearer).status != 503 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "keys wait while Redis is away"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    redis.restart();
    let start = std::time::Instant::now();
    loop {
        // A fresh Redis has forgotten the spent budget.
        let status = get(a.port, "/api/y", &bearer).status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(start.elapsed() < Duration::from_secs(20), "recovered");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Redis came back empty: once gate B confirms its revocations with it again (a
    // valid key is served), the revoked one is still refused: not forgotten (the gates
    // gave it back to Redis).
    let start = std::time::Instant::now();
    while get(b.port, "/free", &bearer).status != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "gate B recovered"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        get(b.port, "/free", &other_bearer).status,
        401,
        "a revoked key stays revoked after Redis restarted empty"
    );
    drop((a, b));

    // on_outage = "local": counted in the gate while Redis is away, and recorded.
    let dir_c = dir.join("c");
    std::fs::create_dir_all(&dir_c).unwrap();
    let audit = dir_c.join("audit.jsonl");
    let local = config(
        "keys-b",
        &format!(
            "[redis]\non_outage = \"local\"\n[audit]\nfile = \"{}\"\n",
            audit.display()
        ),
    );
    let c = GateProcess::start(&dir_c, upstream.port, Some(&local));
    redis.kill();
    assert_eq!(get(c.port, "/api/z", &bearer).status, 200);
    c.stop();
    let log = std::fs::read_to_string(&audit).unwrap();
    assert!(
        log.contains("GATE_STATE") && log.contains("counted in this gate only"),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `[audit] anchor = "redis"`: the log's head lives in the shared Redis, and
/// `hearth audit verify --gate-config` checks the file against it.
#[test]
fn an_audit_head_anchored_in_redis_is_checked_by_audit_verify() {
    use hearth_testkit::redis::RedisServer;
    let redis = RedisServer::start();
    let dir = temp_dir("anchor");
    let upstream = Upstream::start();
    let audit = dir.join("audit.jsonl");
    let config = format!(
        "state = \"{}\"\n[audit]\nfile = \"{}\"\nanchor = \"redis\"\n",
        redis.url(),
        audit.display()
    );
    let gate = GateProcess::start(&dir, upstream.port, Some(&config));
    for _ in 0..3 {
        assert_eq!(get(gate.port, "/x", "").status, 401);
    }
    gate.stop();
    let verify = |extra: &[&str]| {
        let mut args = vec![
            "audit".to_owned(),
            "verify".into(),
            audit.display().to_string(),
            "--store".into(),
            "hearth-gate::audit".into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.extend(common::vault_args(&dir));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_hearth(&args, b"", |_| {})
    };
    let config_path = dir.join("gate.toml").display().to_string();
    let ok = verify(&["--gate-config", &config_path]);
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("3 record(s)") && stdout.contains("as anchored"),
        "{stdout}"
    );
    // The last record cut off: found against the head in Redis.
    let text = std::fs::read_to_string(&audit).unwrap();
    let kept: Vec<&str> = text.lines().take(2).collect();
    std::fs::write(&audit, kept.join("\n") + "\n").unwrap();
    let cut = verify(&["--gate-config", &config_path]);
    assert_eq!(
        cut.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&cut.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
