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
use hearth_guard::{Caller, Limit, LocalGuard, ServeBody, ServeOptions, serve_until};
use hearth_token_guard::apikey::{KeyRegistry, Role};
use http_body_util::{BodyExt, Full};

const SERVER_ENV: &str = "HEARTH_GUARD_SERVER";
const MAX_CONNECTIONS: usize = 8;
/// Connections from one peer at once: fewer than the global cap, so both can be seen.
const PER_PEER: usize = 6;
/// Failed keys a peer may present per hour before it is refused without a lookup.
const FAILED_MAX: u32 = 10;
const IDLE: Duration = Duration::from_millis(1500);
/// A path whose window (an hour) outlasts any run, however slow: exactly `EXACT_MAX`
/// requests per key are admitted there, then 429, whatever the machine's speed.
const EXACT_PATH: &str = "/rate/hour";
const EXACT_MAX: u32 = 100;
const EXACT_WINDOW: Duration = Duration::from_secs(3600);
/// A path with a short window, to see a client admitted again once it has passed.
const SHORT_PATH: &str = "/rate/second";
const SHORT_MAX: u32 = 3;
const SHORT_WINDOW: Duration = Duration::from_secs(1);
/// How long the server lets requests finish after its shutdown signal.
const DRAIN: Duration = Duration::from_secs(20);
/// How long `/api/slow` takes to answer (under IDLE: a connection silent that long closes).
const SLOW: Duration = Duration::from_millis(800);
/// How many chunks `/api/stream` sends.
const CHUNKS: u32 = 50;
/// How long the client waits for an answer (or a close) before calling the server hung.
const PATIENCE: Duration = Duration::from_secs(30);

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
        child: std::sync::Mutex::new(child),
    };

    #[cfg_attr(
        not(feature = "websocket"),
        allow(unused_mut, reason = "only the websocket feature adds a check")
    )]
    let mut tests: Vec<libtest::Check<'_, Target>> = vec![
        ("a_streamed_response_arrives_whole", streamed),
        (
            "every_answer_carries_the_security_headers",
            security_headers,
        ),
        (
            "non_canonical_paths_get_400_and_no_rule_is_escaped",
            non_canonical,
        ),
        (
            "forged_keys_reach_the_lookup_at_most_the_limit_and_the_real_key_still_works",
            forged_keys,
        ),
        (
            "ten_thousand_loopback_peers_do_not_lock_out_a_key_holder",
            many_peers,
        ),
        (
            "one_peer_cannot_hold_more_than_its_connections",
            per_peer_connections,
        ),
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
            "the_101st_request_in_the_window_gets_429_and_the_window_passes",
            rate_limited,
        ),
        (
            "silent_connections_give_their_places_to_a_key_holder",
            silent_connections,
        ),
        (
            "connections_beyond_the_cap_are_closed_and_idle_ones_time_out",
            connections,
        ),
        (
            "a_handler_slower_than_the_idle_timeout_answers_and_a_stalled_body_is_cut",
            slow_handler,
        ),
        // Last: the server stops.
        (
            "graceful_shutdown_drains_open_requests_then_stops",
            graceful_shutdown,
        ),
    ];
    #[cfg(feature = "websocket")]
    tests.insert(
        0,
        (
            "a_websocket_upgrade_is_admitted_with_a_key_and_refused_without",
            websocket,
        ),
    );
    let failed = libtest::run(&tests, &t);
    stop(&mut t.child.lock().unwrap());
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
/// an open status endpoint, 100 requests per second per client, admin paths for admins),
/// plus two paths with their own limits for the rate-limit check.
fn server(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("{}", listener.local_addr().unwrap().port());
        // A clone shares the registry's memory: the handler reports how often it read
        // its file.
        let registry = KeyRegistry::open(dir.join("keys"));
        let reads = registry.clone();
        let guard = LocalGuard::new()
            .key_registry(registry)
            .allow_origin("tauri://localhost")
            .unwrap()
            .exempt("/system/status")
            .require("/keys", "keys:create")
            .unwrap()
            .failed_auth_limit(Limit::sliding_window(FAILED_MAX, EXACT_WINDOW).unwrap())
            .unwrap()
            .rate_limit(
                "/",
                Limit::sliding_window(100, Duration::from_secs(1)).unwrap(),
            )
            .unwrap()
            .rate_limit(
                EXACT_PATH,
                Limit::sliding_window(EXACT_MAX, EXACT_WINDOW).unwrap(),
            )
            .unwrap()
            .rate_limit(
                SHORT_PATH,
                Limit::sliding_window(SHORT_MAX, SHORT_WINDOW).unwrap(),
            )
            .unwrap();
        let options = ServeOptions {
            max_connections: MAX_CONNECTIONS,
            max_connections_per_peer: PER_PEER,
            idle_timeout: IDLE,
            header_timeout: IDLE,
            drain_timeout: DRAIN,
            keep_alive: true,
        };
        let stop = Arc::new(tokio::sync::Notify::new());
        let stop_signal = Arc::clone(&stop);
        // Slow requests being handled: the shutdown waits for one, so that it really
        // comes while a request is in flight, however loaded the machine.
        let slow_in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let handler = move |request: hearth_guard::GuardedRequest| {
            let reads = reads.file_reads();
            let stop = Arc::clone(&stop);
            let slow = Arc::clone(&slow_in_flight);
            async move {
                let full = |text: String| ServeBody::new(Full::new(Bytes::from(text)));
                match request.uri().path() {
                    "/api/reads" => return http::Response::new(full(reads.to_string())),
                    #[cfg(feature = "websocket")]
                    "/ws" => return echo_websocket(request),
                    "/api/stream" => return http::Response::new(ServeBody::new(Chunks(CHUNKS))),
                    "/api/slow" => {
                        slow.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        tokio::time::sleep(SLOW).await;
                        slow.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                        return http::Response::new(full("slow done\n".into()));
                    }
                    "/api/slower" => {
                        // Longer than the idle timeout, with nothing sent meanwhile.
                        tokio::time::sleep(IDLE * 2).await;
                        return http::Response::new(full("slower done\n".into()));
                    }
                    "/api/shutdown" => {
                        let deadline = tokio::time::Instant::now() + PATIENCE;
                        while slow.load(std::sync::atomic::Ordering::SeqCst) == 0
                            && tokio::time::Instant::now() < deadline
                        {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                        stop.notify_one();
                        return http::Response::new(full("stopping\n".into()));
                    }
                    _ => {}
                }
                let caller = request.extensions().get::<Caller>().cloned();
                let uri = request.uri().to_string();
                let (status, text) = match request.into_body().collect().await {
                    Ok(body) => (
                        200,
                        format!("{caller:?} {uri} read {}\n", body.to_bytes().len()),
                    ),
                    Err(_) => (413, "body too large\n".to_owned()),
                };
                let mut response = http::Response::new(full(text));
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                response
            }
        };
        serve_until(listener, Arc::new(guard), options, handler, async move {
            stop_signal.notified().await
        })
        .await
        .unwrap();
    });
}

/// Takes a WebSocket handshake the guard admitted and echoes every text message back.
#[cfg(feature = "websocket")]
fn echo_websocket(mut request: hearth_guard::GuardedRequest) -> http::Response<ServeBody> {
    use futures_util::{SinkExt as _, StreamExt as _};
    let limits = hearth_guard::WebSocketLimits {
        max_message: WS_MAX,
        max_frame: WS_MAX,
    };
    let mut shutdown = request
        .extensions()
        .get::<hearth_guard::Shutdown>()
        .cloned()
        .expect("serve_until adds the Shutdown extension");
    match hearth_guard::accept_websocket(&mut request, limits) {
        Ok((response, socket)) => {
            tokio::spawn(async move {
                let Ok(mut socket) = socket.await else { return };
                loop {
                    let message = tokio::select! {
                        m = socket.next() => m,
                        () = shutdown.signalled() => break,
                    };
                    match message {
                        Some(Ok(m)) if m.is_text() => {
                            if socket.send(m).await.is_err() {
                                break;
                            }
                        }
                        Some(Ok(_)) => {}
                        _ => break,
                    }
                }
                let _ = socket.close(None).await;
            });
            response
        }
        Err(e) => {
            let mut r = http::Response::new(ServeBody::from(format!("{e}\n")));
            *r.status_mut() = http::StatusCode::BAD_REQUEST;
            r
        }
    }
}

/// The WebSocket test's per-message cap.
#[cfg(feature = "websocket")]
const WS_MAX: usize = 64 << 10;

/// A response body of `n` chunks, produced one at a time (chunked on the wire).
struct Chunks(u32);

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        if self.0 == 0 {
            return std::task::Poll::Ready(None);
        }
        self.0 -= 1;
        let chunk = Bytes::from(format!("chunk {}\n", self.0));
        std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(chunk))))
    }
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
    /// The server process (its stdout was read up to the port line).
    child: std::sync::Mutex<Child>,
}

struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Target {
    fn connect(&self) -> TcpStream {
        self.connect_from(std::net::Ipv4Addr::LOCALHOST)
    }

    /// A connection from the loopback source address `from` (all of 127/8 is local).
    fn connect_from(&self, from: std::net::Ipv4Addr) -> TcpStream {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&std::net::SocketAddr::from((from, 0)).into())
            .unwrap();
        let server = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        socket.connect_timeout(&server.into(), PATIENCE).unwrap();
        let s = TcpStream::from(socket);
        s.set_read_timeout(Some(PATIENCE)).unwrap();
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
    // Revoked from this process, refused by the server process within a second (its
    // registry compares the file's metadata at most once a second).
    assert_eq!(t.with_key("/api/items", &t.keys.doomed).status, 200);
    let id = hearth_token_guard::apikey::parse(&t.keys.doomed, "hth").unwrap();
    assert!(t.registry.revoke(&id).unwrap());
    let revoked = Instant::now();
    let reply = loop {
        let reply = t.with_key("/api/items", &t.keys.doomed);
        if reply.status != 200 {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        revoked.elapsed() < PATIENCE,
        "seen after {:?}",
        revoked.elapsed()
    );
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
        &format!("/events?access_token={}", t.keys.consumer),
        &[format!("Host: {}", t.host())],
    );
    assert_eq!(query.status, 200, "{}", query.body);
    // The handler saw the URI without the credential.
    assert!(query.body.contains(" /events read"), "{}", query.body);
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
    // Exact counting under a window no run outlasts: the 101st is refused however long
    // the first 100 took.
    let mut s = t.connect();
    let headers = [
        format!("Host: {}", t.host()),
        format!("X-Api-Key: {}", t.keys.rate),
    ];
    let start = Instant::now();
    for i in 0..EXACT_MAX {
        let reply = send(&mut s, EXACT_PATH, &headers);
        assert_eq!(reply.status, 200, "request {} of {EXACT_MAX}", i + 1);
    }
    let reply = send(&mut s, EXACT_PATH, &headers);
    let elapsed = start.elapsed();
    assert_eq!(reply.status, 429, "{}", reply.body);
    // Retry-After: until the first request leaves the window, in whole seconds rounded up.
    let retry = retry_after(&reply);
    let earliest = EXACT_WINDOW
        .saturating_sub(elapsed)
        .as_secs()
        .saturating_sub(1);
    assert!(
        (earliest..=EXACT_WINDOW.as_secs()).contains(&retry),
        "Retry-After {retry} after {elapsed:?} of a {EXACT_WINDOW:?} window"
    );
    // Still refused: a refusal does not free a place.
    assert_eq!(send(&mut s, EXACT_PATH, &headers).status, 429);
    // Another client is not affected.
    assert_eq!(t.with_key(EXACT_PATH, &t.keys.consumer).status, 200);

    // A short window: fill it until refused (however slow the requests, SHORT_MAX + 1 of
    // them fit in a second eventually), wait the window out, and be admitted again.
    let mut refused = None;
    for _ in 0..1000 {
        let reply = send(&mut s, SHORT_PATH, &headers);
        match reply.status {
            200 => {}
            429 => {
                refused = Some(reply);
                break;
            }
            other => panic!("{other}: {}", reply.body),
        }
    }
    let refused = refused.expect("the short window never filled");
    assert_eq!(retry_after(&refused), 1, "{}", refused.head);
    // Every admitted request was logged before the refusal was sent, so all have left
    // the window one window after it arrived.
    std::thread::sleep(SHORT_WINDOW + Duration::from_millis(50));
    let reply = t.with_key(SHORT_PATH, &t.keys.rate);
    assert_eq!(reply.status, 200, "{}", reply.body);
}

fn retry_after(reply: &Reply) -> u64 {
    reply
        .head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("retry-after: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or_else(|| panic!("no Retry-After: {}", reply.head))
}

/// What a connection did with one request.
enum Outcome {
    Answered(Reply),
    /// Closed (or reset) before a whole answer.
    Closed,
    /// Neither answered nor closed within `PATIENCE`.
    Silent,
}

/// `GET /system/status` on `s`, without panicking on a closed connection.
/// One request on `s` as a credential holder (which protects the connection from being
/// pushed out when the server is full).
fn status(t: &Target, s: &mut TcpStream) -> Outcome {
    let raw = format!(
        "GET /api/items HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\n\r\n",
        t.host(),
        t.keys.consumer
    );
    if s.write_all(raw.as_bytes()).is_err() {
        return Outcome::Closed;
    }
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Outcome::Closed,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push_str(&line),
            Err(e) if is_timeout(&e) => return Outcome::Silent,
            Err(_) => return Outcome::Closed,
        }
    }
    let status = head[9..12].parse().unwrap();
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return Outcome::Closed;
    }
    Outcome::Answered(Reply {
        status,
        head,
        body: String::from_utf8(body).unwrap(),
    })
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Holds every place: `MAX_CONNECTIONS` connections, each answered once, then checks that
/// one more is closed without an answer and that ours are all still being served. `None`
/// when the attempt proves nothing: a place was still held by an earlier connection the
/// server had not finished closing, or one of ours timed out meanwhile. On success, the
/// connections and when the last request on each was sent.
fn hold_every_place(t: &Target) -> Option<(Vec<TcpStream>, Vec<Instant>)> {
    let mut open = Vec::new();
    for i in 0..MAX_CONNECTIONS {
        // From two peers: one alone may hold only PER_PEER places.
        let mut s = t.connect_from(std::net::Ipv4Addr::new(
            127,
            0,
            0,
            20 + (i / PER_PEER) as u8,
        ));
        match status(t, &mut s) {
            Outcome::Answered(r) if r.status == 200 => open.push(s),
            Outcome::Answered(r) => panic!("{}: {}", r.status, r.body),
            Outcome::Closed => return None,
            Outcome::Silent => panic!("a connection was neither served nor closed"),
        }
    }
    let mut extra = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 29));
    let beyond = status(t, &mut extra);
    // Ours are served after the extra one was tried, so they held every place while it
    // was: whatever happened to it happened at the cap.
    let mut sent = Vec::new();
    for s in &mut open {
        sent.push(Instant::now());
        match status(t, s) {
            Outcome::Answered(r) if r.status == 200 => {}
            Outcome::Answered(r) => panic!("{}: {}", r.status, r.body),
            Outcome::Closed => return None,
            Outcome::Silent => panic!("a held connection was neither served nor closed"),
        }
    }
    match beyond {
        Outcome::Closed => Some((open, sent)),
        Outcome::Answered(r) => panic!("a connection beyond the cap was served: {}", r.status),
        Outcome::Silent => panic!("a connection beyond the cap was neither served nor closed"),
    }
}

fn connections(t: &Target) {
    // Earlier tests' connections may still hold places until the server has seen them
    // close: try again until every place is ours.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut open, sent) = loop {
        if let Some(held) = hold_every_place(t) {
            break held;
        }
        assert!(
            Instant::now() < deadline,
            "never held all {MAX_CONNECTIONS} places at once"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // The open ones are idle now: the server closes each once the idle timeout has passed
    // since our last request on it, not before, and does close it.
    for (s, sent) in open.iter_mut().zip(sent) {
        let mut buf = [0u8; 1];
        let read = s.read(&mut buf);
        let waited = sent.elapsed();
        match read {
            Ok(0) => {}
            Ok(_) => panic!("unexpected bytes on an idle connection"),
            Err(e) if is_timeout(&e) => panic!("still open after {waited:?}"),
            Err(_) => {} // reset
        }
        // (Timers never fire early; a few ms for the clock's millisecond steps.)
        assert!(
            waited + Duration::from_millis(10) >= IDLE,
            "closed after only {waited:?}"
        );
        assert!(waited < IDLE * 10, "closed after {waited:?}");
    }
    drop(open);
    // And the server serves again.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut s = t.connect();
        match status(t, &mut s) {
            Outcome::Answered(r) => {
                assert_eq!(r.status, 200, "{}", r.body);
                break;
            }
            Outcome::Closed => {}
            Outcome::Silent => panic!("the server neither served nor closed"),
        }
        assert!(Instant::now() < deadline, "the server did not recover");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Sends `path` on `s` with the consumer's key; the status, or `None` if closed.
fn keyed_status(t: &Target, s: &mut TcpStream, path: &str, key: &str) -> Option<u16> {
    let raw = format!(
        "GET {path} HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {key}\r\n\r\n",
        t.host()
    );
    s.write_all(raw.as_bytes()).ok()?;
    Some(read_reply(s).status)
}

fn non_canonical(t: &Target) {
    let key = &t.keys.consumer;
    let mut s = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 30));
    // The consumer lacks keys:create: in its one spelling the rule holds.
    assert_eq!(keyed_status(t, &mut s, "/keys/new", key), Some(403));
    assert_eq!(keyed_status(t, &mut s, "/api/caf%C3%A9", key), Some(200));
    for path in [
        "//keys/new",
        "/keys//new",
        "/%6Beys/new",
        "/%6beys/new",
        "/./keys/new",
        "/api/../keys/new",
        "/keys/new/.",
        "/keys%2Fnew",
        "/%2E%2E/keys/new",
        "/keys%5Cnew",
        "/keys%00new",
        "/keys%",
    ] {
        // A 400 from the guard, or from hyper's parser before it: never 200 or 403.
        let mut s = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 31));
        let status = keyed_status(t, &mut s, path, key);
        assert_eq!(status, Some(400), "{path}");
    }
    // A raw backslash: hyper refuses it before the guard sees it, or the guard does.
    let mut s = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 32));
    let raw = format!(
        "GET /keys\\new HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {key}\r\n\r\n",
        t.host()
    );
    s.write_all(raw.as_bytes()).unwrap();
    let mut reply = String::new();
    let _ = BufReader::new(&mut s).read_line(&mut reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 400"),
        "{reply:?}"
    );
}

/// How many times the server's registry has read its file.
fn registry_reads(t: &Target) -> u64 {
    let mut s = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 42));
    let raw = format!(
        "GET /api/reads HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\n\r\n",
        t.host(),
        t.keys.consumer
    );
    s.write_all(raw.as_bytes()).unwrap();
    let reply = read_reply(&mut s);
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body.trim().parse().unwrap()
}

fn forged_keys(t: &Target) {
    let reads = registry_reads(t);
    let started = Instant::now();
    // One keep-alive connection from one peer: 1,000 keys with valid checksums that the
    // registry never issued.
    let mut s = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 40));
    let (mut looked_up, mut refused_first) = (0, 0);
    for _ in 0..1000 {
        let (forged, _) = hearth_token_guard::apikey::generate("hth").unwrap();
        match keyed_status(t, &mut s, "/api/items", forged.expose_secret()) {
            Some(401) => looked_up += 1,
            Some(429) => refused_first += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((looked_up, refused_first), (FAILED_MAX, 1000 - FAILED_MAX));
    // The real key: admitted from another peer, and from this one refused before its
    // lookup (so with Retry-After) like every other key until the budget recovers.
    let mut other = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 41));
    assert_eq!(
        keyed_status(t, &mut other, "/api/items", &t.keys.consumer),
        Some(200)
    );
    let raw = format!(
        "GET /api/items HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\n\r\n",
        t.host(),
        t.keys.consumer
    );
    s.write_all(raw.as_bytes()).unwrap();
    let reply = read_reply(&mut s);
    assert_eq!(reply.status, 429, "{}", reply.body);
    assert!(
        reply.head.to_ascii_lowercase().contains("retry-after:"),
        "{}",
        reply.head
    );
    // The 1,001 lookups did not read the registry file per request: at most once per
    // second (the registry rechecks its file that often, and rereads it only while a
    // write is under two seconds old). The count does move: the first lookup read it.
    let allowed = started.elapsed().as_secs() + 1;
    let new_reads = registry_reads(t) - reads;
    assert!(new_reads <= allowed, "{new_reads} reads for 1,001 lookups");
    assert!(reads >= 1);
}

fn many_peers(t: &Target) {
    // 10,000 loopback addresses, each asking for the open status page and presenting a
    // forged key: every table a peer can reach gets 10,000 entries.
    let (forged, _) = hearth_token_guard::apikey::generate("hth").unwrap();
    for i in 0..10_000u32 {
        let ip = std::net::Ipv4Addr::from(0x7f02_0000 | (i + 1));
        let mut s = t.connect_from(ip);
        let raw = format!(
            "GET /system/status HTTP/1.1\r\nHost: {host}\r\n\r\n\
             GET /api/items HTTP/1.1\r\nHost: {host}\r\nX-Api-Key: {key}\r\n\r\n",
            host = t.host(),
            key = forged.expose_secret()
        );
        // Beyond the connection cap (earlier connections not yet seen closed) a
        // connection is closed: that is fine, the others fill the tables.
        if s.write_all(raw.as_bytes()).is_err() {
            continue;
        }
        let mut sink = Vec::new();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let _ = s.read_to_end(&mut sink);
    }
    // The key holder, from the address the attackers share a /8 with.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut s = t.connect();
        if let Some(status) = keyed_status(t, &mut s, "/api/items", &t.keys.consumer) {
            assert_eq!(status, 200);
            break;
        }
        assert!(Instant::now() < deadline, "the key holder was never served");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn per_peer_connections(t: &Target) {
    let peer = std::net::Ipv4Addr::new(127, 0, 0, 50);
    let deadline = Instant::now() + Duration::from_secs(60);
    let open = loop {
        let mut open = Vec::new();
        for _ in 0..PER_PEER {
            let mut s = t.connect_from(peer);
            if let Outcome::Answered(r) = status(t, &mut s) {
                assert_eq!(r.status, 200, "{}", r.body);
                open.push(s);
            }
        }
        if open.len() == PER_PEER {
            break open;
        }
        assert!(
            Instant::now() < deadline,
            "never held {PER_PEER} connections"
        );
        drop(open);
        std::thread::sleep(Duration::from_millis(500));
    };
    // One more from the same peer is closed; another peer is still served.
    let mut extra = t.connect_from(peer);
    assert!(matches!(status(t, &mut extra), Outcome::Closed));
    let mut other = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 51));
    match status(t, &mut other) {
        Outcome::Answered(r) => assert_eq!(r.status, 200),
        _ => panic!("another peer was not served"),
    }
    drop(open);
}

fn security_headers(t: &Target) {
    let admitted = t.with_key("/api/items", &t.keys.consumer);
    let refused = t.request("/api/items", &[format!("Host: {}", t.host())]);
    assert_eq!((admitted.status, refused.status), (200, 401));
    for reply in [admitted, refused] {
        let head = reply.head.to_ascii_lowercase();
        for header in [
            "x-content-type-options: nosniff",
            "x-frame-options: deny",
            "referrer-policy: no-referrer",
            "content-security-policy: default-src 'none'",
        ] {
            assert!(head.contains(header), "{header} missing: {head}");
        }
        assert!(
            !head.contains("strict-transport-security"),
            "HSTS on plain HTTP: {head}"
        );
    }
}

fn streamed(t: &Target) {
    let raw = format!(
        "GET /api/stream HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\nConnection: close\r\n\r\n",
        t.host(),
        t.keys.consumer
    );
    // An earlier test's connections may still hold every place until the server has seen
    // them close: a connection closed at once is tried again.
    let deadline = Instant::now() + PATIENCE;
    let all = loop {
        let mut s = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 60));
        let mut all = String::new();
        let sent = s.write_all(raw.as_bytes()).is_ok();
        if sent && s.read_to_string(&mut all).is_ok() && !all.is_empty() {
            break all;
        }
        assert!(Instant::now() < deadline, "never served");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(all.starts_with("HTTP/1.1 200"), "{all}");
    assert!(
        all.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{all}"
    );
    for i in 0..CHUNKS {
        assert!(all.contains(&format!("chunk {i}\n")), "chunk {i} missing");
    }
}

fn graceful_shutdown(t: &Target) {
    // A slow request in flight when the signal comes.
    let mut slow = t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 70));
    let raw = format!(
        "GET /api/slow HTTP/1.1\r\nHost: {}\r\nX-Api-Key: {}\r\n\r\n",
        t.host(),
        t.keys.admin
    );
    slow.write_all(raw.as_bytes()).unwrap();
    // The server takes the signal only once the slow request is in its handler.
    let started = Instant::now();
    let stop = t.with_key("/api/shutdown", &t.keys.admin);
    assert_eq!(stop.status, 200, "{}", stop.body);
    // The request in flight finishes with its answer...
    let reply = read_reply(&mut slow);
    assert_eq!((reply.status, reply.body.as_str()), (200, "slow done\n"));
    // ...then the server stops by itself, well before the drain timeout: the listener is
    // closed and the process exits.
    let deadline = Instant::now() + DRAIN;
    let status = loop {
        if let Some(status) = t.child.lock().unwrap().try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    assert!(started.elapsed() < DRAIN, "waited {:?}", started.elapsed());
    assert!(
        TcpStream::connect(("127.0.0.1", t.port)).is_err(),
        "still accepting after the shutdown"
    );
}

#[cfg(feature = "websocket")]
fn websocket(t: &Target) {
    use tungstenite::Message;
    use tungstenite::client::IntoClientRequest as _;
    let url = format!("ws://{}/ws", t.host());
    let from = |last| t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, last));
    // Without a credential: refused by the guard before any upgrade.
    match tungstenite::client(url.as_str().into_client_request().unwrap(), from(80)) {
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            assert_eq!(r.status(), 401)
        }
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("upgraded without a key"),
    }
    // With a key in the header: upgraded, and messages flow both ways.
    let mut request = url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("x-api-key", t.keys.consumer.parse().unwrap());
    let (mut ws, response) = tungstenite::client(request, from(81)).unwrap();
    assert_eq!(response.status(), 101);
    ws.send(Message::text("hello")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("hello"));
    // A message over the server's cap ends the connection instead of being buffered:
    // the next read is a close or an error, never an echo.
    ws.send(Message::text("x".repeat(WS_MAX + 1))).unwrap();
    let after = ws.read();
    assert!(
        matches!(&after, Err(_) | Ok(Message::Close(_))),
        "{after:?}"
    );
    // A browser (no headers on a WebSocket): the key in the access_token query.
    let browser = format!("{url}?access_token={}", t.keys.consumer);
    let (mut ws, _) =
        tungstenite::client(browser.as_str().into_client_request().unwrap(), from(82)).unwrap();
    ws.send(Message::text("again")).unwrap();
    assert_eq!(ws.read().unwrap(), Message::text("again"));
    // An admitted request that is not a handshake gets 400 from the helper.
    let reply = t.with_key("/ws", &t.keys.consumer);
    assert_eq!(reply.status, 400, "{}", reply.body);
    // Upgraded connections still hold their places: PER_PEER WebSockets from one peer,
    // and its next connection is closed while another peer is served.
    let peer = 83;
    let mut held = Vec::new();
    for _ in 0..PER_PEER {
        let mut request = url.as_str().into_client_request().unwrap();
        request
            .headers_mut()
            .insert("x-api-key", t.keys.consumer.parse().unwrap());
        let deadline = Instant::now() + PATIENCE;
        let ws = loop {
            match tungstenite::client(request.clone(), from(peer)) {
                Ok((ws, _)) => break ws,
                // Earlier connections of this peer not yet seen closed: try again.
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100))
                }
                Err(e) => panic!("{e}"),
            }
        };
        held.push(ws);
    }
    let mut extra = from(peer);
    assert!(
        matches!(status(t, &mut extra), Outcome::Closed),
        "a 7th connection was served"
    );
    let mut other = from(84);
    assert!(matches!(status(t, &mut other), Outcome::Answered(_)));
    // Close them properly, so that the server gives their places back for the next test.
    for mut ws in held {
        let _ = ws.close(None);
        while ws.read().is_ok() {}
    }
}

fn silent_connections(t: &Target) {
    // Every place held by sockets that never send a byte, from several addresses (under
    // the per-peer cap each); the key holder must be served before the header timeout
    // could have freed any place (the server drops a silent socket after IDLE).
    let deadline = Instant::now() + PATIENCE;
    loop {
        let opened = Instant::now();
        let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS as u8)
            .map(|i| t.connect_from(std::net::Ipv4Addr::new(127, 0, 0, 90 + i % 3)))
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        let mut s = t.connect();
        let served = keyed_status(t, &mut s, "/api/items", &t.keys.consumer);
        if served == Some(200) && opened.elapsed() < IDLE {
            // The oldest silent socket gave its place up.
            let closed = silent.into_iter().any(|mut s| {
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
                match s.read(&mut [0u8; 1]) {
                    Ok(0) => true,
                    Ok(_) => false,
                    Err(e) => !is_timeout(&e),
                }
            });
            assert!(closed, "no silent socket was pushed out");
            return;
        }
        // Refused, or too slow to tell (an earlier test's connections still held places):
        // let everything time out and try again.
        drop(silent);
        assert!(
            Instant::now() < deadline,
            "a key holder was kept out by silent sockets ({served:?})"
        );
        std::thread::sleep(IDLE * 2);
    }
}

fn slow_handler(t: &Target) {
    // The request is whole: the handler may take longer than IDLE to answer.
    let mut s = t.connect();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let reply = send(
        &mut s,
        "/api/slower",
        &[
            format!("Host: 127.0.0.1:{}", t.port),
            format!("X-Api-Key: {}", t.keys.admin),
        ],
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body, "slower done\n");
    // A client that promises a body and sends none is cut off after IDLE.
    let mut s = t.connect();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let head = format!(
        "POST /api/items HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-Api-Key: {}\r\n\
         Content-Length: 100\r\n\r\n",
        t.port, t.keys.admin
    );
    s.write_all(head.as_bytes()).unwrap();
    let started = Instant::now();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    let waited = started.elapsed();
    assert!(
        waited < PATIENCE,
        "a stalled body held the connection {waited:?}"
    );
    assert!(
        waited >= IDLE / 2,
        "closed after {waited:?}, before the idle timeout"
    );
}
