//! A real hyper server behind `LocalGuard` (via `serve`), in a child process, exercised
//! over loopback TCP by this process with hand-written HTTP/1.1 so every header is ours.
//!
//! This file has its own `main` (`harness = false`): with `HEARTH_GUARD_SERVER` set the
//! binary is the server (it prints its port), otherwise it is the client running the checks.
//! It prints libtest-style lines so the suite's totals include it.

#[path = "../../tests-common/libtest.rs"]
mod libtest;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hearth_net_policy::guard::{Caller, Limit, LocalGuard, ServeOptions, serve};
use hearth_token_guard::apikey::{KeyRegistry, Role};
use http_body_util::{BodyExt, Full};

const SERVER_ENV: &str = "HEARTH_GUARD_SERVER";
const MAX_CONNECTIONS: usize = 8;
const IDLE: Duration = Duration::from_millis(1500);

fn main() {
    if let Ok(dir) = std::env::var(SERVER_ENV) {
        server(Path::new(&dir));
        return;
    }
    let dir = std::env::temp_dir().join(format!("hearth-guard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = KeyRegistry::open(dir.join("keys"));
    let key = |role, label| registry.create(role, label, None).unwrap().0;
    let keys = Keys {
        consumer: key(Role::Consumer, "ui").expose_secret().to_owned(),
        admin: key(Role::Administrator, "admin").expose_secret().to_owned(),
        doomed: key(Role::Consumer, "doomed").expose_secret().to_owned(),
        rate: key(Role::Consumer, "rate").expose_secret().to_owned(),
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env(SERVER_ENV, &dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the server prints its port");
    let t = Target {
        port,
        keys,
        registry,
    };

    let tests: [libtest::Check<'_, Target>; 8] = [
        ("foreign_empty_and_odd_hosts_are_refused", hosts),
        (
            "foreign_origins_are_refused_and_allowed_ones_get_cors",
            origins,
        ),
        ("missing_wrong_and_revoked_keys_are_refused", credentials),
        ("a_valid_key_is_admitted_with_its_role", admitted),
        ("the_exempt_path_is_open_without_a_key", exempt),
        ("an_oversized_body_is_refused_with_413", oversized),
        (
            "the_101st_request_in_a_second_gets_429_then_recovers",
            rate_limited,
        ),
        (
            "connections_beyond_the_cap_are_closed_and_idle_ones_time_out",
            connections,
        ),
    ];
    let failed = libtest::run(&tests, &t);
    stop(&mut child);
    let _ = std::fs::remove_dir_all(&dir);
    if failed > 0 {
        std::process::exit(101);
    }
}

fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The server: the guard as an app would configure it (seed 004's API: keys with roles,
/// an open status endpoint, 100 requests per second per client, admin paths for admins).
fn server(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        let guard = LocalGuard::new()
            .key_registry(KeyRegistry::open(dir.join("keys")))
            .allow_origin("tauri://localhost")
            .unwrap()
            .exempt("/system/status")
            .require("/keys", "keys:create")
            .unwrap()
            .rate_limit(
                "/",
                Limit::sliding_window(100, Duration::from_secs(1)).unwrap(),
            )
            .unwrap();
        let options = ServeOptions {
            max_connections: MAX_CONNECTIONS,
            idle_timeout: IDLE,
            header_timeout: IDLE,
        };
        serve(listener, Arc::new(guard), options, |request| async move {
            let caller = request.extensions().get::<Caller>().cloned();
            let uri = request.uri().to_string();
            let (status, text) = match request.into_body().collect().await {
                Ok(body) => (
                    200,
                    format!("{caller:?} {uri} read {}\n", body.to_bytes().len()),
                ),
                Err(_) => (413, "body too large\n".to_owned()),
            };
            let mut response = http::Response::new(Full::new(Bytes::from(text)));
            *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
            response
        })
        .await
        .unwrap();
    });
}

struct Keys {
    consumer: String,
    admin: String,
    doomed: String,
    rate: String,
}

struct Target {
    port: u16,
    keys: Keys,
    registry: KeyRegistry,
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Target {
    fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// One request on a new connection; `headers` are complete lines without CRLF.
    fn request(&self, path: &str, headers: &[String]) -> Reply {
        let mut s = self.connect();
        send(&mut s, path, headers)
    }

    fn with_key(&self, path: &str, key: &str) -> Reply {
        self.request(
            path,
            &[
                format!("Host: {}", self.host()),
                format!("X-Api-Key: {key}"),
            ],
        )
    }
}

fn send(s: &mut TcpStream, path: &str, headers: &[String]) -> Reply {
    let mut raw = format!("GET {path} HTTP/1.1\r\n");
    for h in headers {
        raw.push_str(h);
        raw.push_str("\r\n");
    }
    raw.push_str("\r\n");
    s.write_all(raw.as_bytes()).unwrap();
    read_reply(s)
}

fn read_reply(s: &mut TcpStream) -> Reply {
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "connection closed"
        );
        if line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).unwrap();
    Reply {
        status,
        head,
        body: String::from_utf8(body).unwrap(),
    }
}

fn hosts(t: &Target) {
    let key = format!("X-Api-Key: {}", t.keys.consumer);
    for (host, want) in [
        (Some(format!("evil.example:{}", t.port)), 403),
        (Some("evil.example".to_owned()), 403),
        (Some(String::new()), 403),
        (Some(format!(":{}", t.port)), 403),
        (Some(format!("localhost.evil.example:{}", t.port)), 403),
        (Some(format!("::1:{}", t.port)), 403),
        (Some(format!("[::1:{}", t.port)), 403),
        (None, 403),
        (Some(format!("[::1]:{}", t.port)), 200),
        (Some(format!("localhost:{}", t.port)), 200),
        (Some(t.host()), 200),
    ] {
        let mut headers = vec![key.clone()];
        if let Some(h) = &host {
            headers.push(format!("Host: {h}"));
        }
        let reply = t.request("/api/items", &headers);
        assert_eq!(reply.status, want, "Host {host:?}: {}", reply.body);
    }
    // Two Host headers are refused too.
    let reply = t.request(
        "/api/items",
        &[
            key.clone(),
            format!("Host: {}", t.host()),
            "Host: evil.example".into(),
        ],
    );
    assert!(matches!(reply.status, 400 | 403), "{}", reply.status);
}

fn origins(t: &Target) {
    let base = [
        format!("Host: {}", t.host()),
        format!("X-Api-Key: {}", t.keys.consumer),
    ];
    for (extra, want) in [
        ("Origin: https://evil.example", 403),
        ("Origin: null", 403),
        ("Origin: http://localhost:3000", 403),
        ("Sec-Fetch-Site: cross-site", 403),
        ("Sec-Fetch-Site: same-site", 403),
        ("Origin: tauri://localhost", 200),
        ("Sec-Fetch-Site: same-origin", 200),
        ("Sec-Fetch-Site: none", 200),
    ] {
        let mut headers = base.to_vec();
        headers.push(extra.to_owned());
        let reply = t.request("/api/items", &headers);
        assert_eq!(reply.status, want, "{extra}: {}", reply.body);
        // Only an allowed origin is told it may read the answer.
        let cors = reply
            .head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin: tauri://localhost");
        assert_eq!(
            cors,
            extra == "Origin: tauri://localhost",
            "{extra}: {}",
            reply.head
        );
    }
    // The browser's CORS preflight (no credentials) is answered by the guard.
    let mut s = t.connect();
    let raw = format!(
        "OPTIONS /api/items HTTP/1.1\r\nHost: {}\r\nOrigin: tauri://localhost\r\n\
         Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: x-api-key\r\n\r\n",
        t.host()
    );
    s.write_all(raw.as_bytes()).unwrap();
    let reply = read_reply(&mut s);
    assert_eq!(reply.status, 204, "{}", reply.head);
    let head = reply.head.to_ascii_lowercase();
    assert!(
        head.contains("access-control-allow-origin: tauri://localhost"),
        "{head}"
    );
    assert!(
        head.contains("access-control-allow-headers: authorization, x-api-key"),
        "{head}"
    );
    // From a foreign origin: refused, and not allowed to read the refusal.
    let mut s = t.connect();
    s.write_all(
        raw.replace("tauri://localhost", "https://evil.example")
            .as_bytes(),
    )
    .unwrap();
    let reply = read_reply(&mut s);
    assert_eq!(reply.status, 403);
    assert!(
        !reply
            .head
            .to_ascii_lowercase()
            .contains("access-control-allow-origin")
    );
}

fn credentials(t: &Target) {
    let host = format!("Host: {}", t.host());
    let reply = t.request("/api/items", std::slice::from_ref(&host));
    assert_eq!(reply.status, 401);
    assert!(
        reply
            .head
            .to_ascii_lowercase()
            .contains("www-authenticate: bearer")
    );
    // A forged key with a valid checksum shape fails the same way as garbage.
    for bad in ["hth_nope", "Bearer", "not-a-key"] {
        assert_eq!(t.with_key("/api/items", bad).status, 401, "{bad}");
    }
    // Revoked from this process, refused by the server process on the next request.
    assert_eq!(t.with_key("/api/items", &t.keys.doomed).status, 200);
    let id = hearth_token_guard::apikey::parse(&t.keys.doomed, "hth").unwrap();
    assert!(t.registry.revoke(&id).unwrap());
    let reply = t.with_key("/api/items", &t.keys.doomed);
    assert_eq!(reply.status, 401);
    assert_eq!(reply.body, "API key revoked\n");
    // The other keys are untouched.
    assert_eq!(t.with_key("/api/items", &t.keys.consumer).status, 200);
    // A consumer may not use the admin path; an administrator may.
    assert_eq!(t.with_key("/keys/new", &t.keys.consumer).status, 403);
    assert_eq!(t.with_key("/keys/new", &t.keys.admin).status, 200);
}

fn admitted(t: &Target) {
    let reply = t.with_key("/api/items", &t.keys.consumer);
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("role: Consumer"), "{}", reply.body);
    // The same key as a bearer token and as an access_token query parameter.
    let bearer = t.request(
        "/api/items",
        &[
            format!("Host: {}", t.host()),
            format!("Authorization: Bearer {}", t.keys.admin),
        ],
    );
    assert!(
        bearer.body.contains("role: Administrator"),
        "{}",
        bearer.body
    );
    let query = t.request(
        &format!("/ws?access_token={}", t.keys.consumer),
        &[format!("Host: {}", t.host())],
    );
    assert_eq!(query.status, 200, "{}", query.body);
    // The handler saw the URI without the credential.
    assert!(query.body.contains(" /ws read"), "{}", query.body);
    assert!(!query.body.contains(&t.keys.consumer), "{}", query.body);
}

fn exempt(t: &Target) {
    let reply = t.request("/system/status", &[format!("Host: {}", t.host())]);
    assert_eq!(reply.status, 200);
    assert!(reply.body.starts_with("Some(Exempt)"), "{}", reply.body);
    // Exempt from credentials, not from the Host check.
    let rebound = t.request("/system/status", &["Host: evil.example".to_owned()]);
    assert_eq!(rebound.status, 403);
}

fn oversized(t: &Target) {
    let mut s = t.connect();
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\nContent-Length: {}\r\n\r\n",
        t.host(),
        t.keys.consumer,
        2 << 20
    );
    s.write_all(head.as_bytes()).unwrap();
    let reply = read_reply(&mut s);
    assert_eq!(reply.status, 413, "{}", reply.body);
    // At the cap exactly, it is read.
    let mut s = t.connect();
    let body = vec![b'x'; 1 << 20];
    let head = format!(
        "POST /api/upload HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\nContent-Length: {}\r\n\r\n",
        t.host(),
        t.keys.consumer,
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let reply = read_reply(&mut s);
    assert_eq!(reply.status, 200);
    assert!(
        reply.body.ends_with(&format!("read {}\n", 1 << 20)),
        "{}",
        reply.body
    );
}

fn rate_limited(t: &Target) {
    let mut s = t.connect();
    let headers = [
        format!("Host: {}", t.host()),
        format!("X-Api-Key: {}", t.keys.rate),
    ];
    let start = Instant::now();
    for i in 0..100 {
        let reply = send(&mut s, "/api/items", &headers);
        assert_eq!(reply.status, 200, "request {} of 100", i + 1);
    }
    let reply = send(&mut s, "/api/items", &headers);
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_secs(1),
        "100 requests took {elapsed:?}"
    );
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply.head.to_ascii_lowercase().contains("retry-after: 1"),
        "{}",
        reply.head
    );
    // Another client is not affected.
    assert_eq!(t.with_key("/api/items", &t.keys.consumer).status, 200);
    // After the window, admitted again.
    std::thread::sleep(
        Duration::from_secs(1).saturating_sub(start.elapsed()) + Duration::from_millis(50),
    );
    let reply = send(&mut s, "/api/items", &headers);
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn connections(t: &Target) {
    // Earlier connections are closed by now, or will be within the idle timeout.
    std::thread::sleep(IDLE + Duration::from_millis(500));
    let open: Vec<TcpStream> = (0..MAX_CONNECTIONS).map(|_| t.connect()).collect();
    let mut first = open[0].try_clone().unwrap();
    // The next one is accepted by the kernel and closed by the server at once.
    let mut extra = t.connect();
    let mut buf = [0u8; 1];
    let closed = matches!(extra.read(&mut buf), Ok(0) | Err(_));
    assert!(closed, "a connection beyond the cap was served");
    // The open ones are idle: the server closes them after the idle timeout.
    let started = Instant::now();
    let n = first.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    let waited = started.elapsed();
    assert!(waited < IDLE * 3, "closed after {waited:?}");
    drop(open);
    // And the server serves again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut s = t.connect();
        let _ = s.write_all(
            format!("GET /system/status HTTP/1.1\r\nHost: {}\r\n\r\n", t.host()).as_bytes(),
        );
        let mut reader = BufReader::new(&mut s);
        let mut line = String::new();
        if reader.read_line(&mut line).is_ok() && line.starts_with("HTTP/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "the server did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
}
