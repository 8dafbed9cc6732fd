//! The loopback receiver with a real HTTP client playing the browser.
#![cfg(feature = "loopback")]

use std::time::{Duration, Instant};

use hearth_pkce::{AuthorizationRequest, Error, LoopbackReceiver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a flow waits for its callback: far more than the few loopback requests of a
/// test take, even on a loaded machine.
const FLOW: Duration = Duration::from_secs(60);

/// Sends one raw HTTP/1.1 request with the fetch metadata a browser sends when the
/// authorization server redirects it here (a cross-site top-level navigation); returns
/// (status, body).
async fn browser(addr: &str, method: &str, target: &str, host: &str) -> Option<(u16, String)> {
    raw(addr, method, target, host, "navigate", "cross-site").await
}

/// [`browser`] with other fetch metadata: `mode` (`cors`, `no-cors`: a page's `fetch`) and
/// `site` (`same-origin`: the receiver's own page).
async fn raw(
    addr: &str,
    method: &str,
    target: &str,
    host: &str,
    mode: &str,
    site: &str,
) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nSec-Fetch-Site: {site}\r\n\
         Sec-Fetch-Mode: {mode}\r\nSec-Fetch-Dest: document\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).await.ok()?;
    let status = out.get(9..12)?.parse().ok()?;
    Some((
        status,
        out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned(),
    ))
}

fn param<'a>(url: &'a str, name: &str) -> &'a str {
    url.split(['?', '&'])
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap()
}

#[tokio::test]
async fn stray_requests_do_not_end_the_flow_and_the_code_is_never_echoed() {
    let receiver = LoopbackReceiver::bind("/callback").await.unwrap();
    let redirect = receiver.redirect_uri();
    assert!(redirect.starts_with("http://127.0.0.1:"), "{redirect}");
    let addr = redirect
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (url, pending) = AuthorizationRequest::new("https://as.example/authorize", "c", &redirect)
        .build()
        .unwrap();
    let state = param(&url, "state").to_owned();
    let flow = tokio::spawn(receiver.wait(pending, FLOW));

    // Stray requests: the page's own favicon (same-origin) is not found; a cross-site
    // navigation anywhere but the callback, or a cross-site POST to it, is refused.
    assert_eq!(
        raw(
            &addr,
            "GET",
            "/favicon.ico",
            &addr,
            "no-cors",
            "same-origin"
        )
        .await
        .unwrap()
        .0,
        404
    );
    assert_eq!(
        browser(&addr, "GET", "/favicon.ico", &addr)
            .await
            .unwrap()
            .0,
        403
    );
    assert_eq!(
        browser(&addr, "POST", "/callback?code=x", &addr)
            .await
            .unwrap()
            .0,
        403
    );
    assert_eq!(
        raw(
            &addr,
            "POST",
            "/callback?code=x",
            &addr,
            "navigate",
            "same-origin"
        )
        .await
        .unwrap()
        .0,
        404
    );
    // DNS rebinding: the right path under another Host name.
    assert_eq!(
        browser(
            &addr,
            "GET",
            &format!("/callback?code=x&state={state}"),
            "evil.example"
        )
        .await
        .unwrap()
        .0,
        403
    );
    assert_eq!(browser(&addr, "GET", "/callback", "").await.unwrap().0, 403);
    // Another site's page fetching the callback (not a navigation) is refused.
    let fetched = raw(
        &addr,
        "GET",
        &format!("/callback?code=x&state={state}"),
        &addr,
        "no-cors",
        "cross-site",
    )
    .await
    .unwrap();
    assert_eq!(fetched.0, 403);

    let (status, body) = browser(
        &addr,
        "GET",
        &format!("/callback?code=SECRETCODE123&state={state}"),
        &addr,
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    assert!(
        body.contains("signed in") && !body.contains("SECRETCODE123"),
        "{body}"
    );
    let grant = flow.await.unwrap().unwrap();
    assert_eq!(grant.code.expose_secret(), "SECRETCODE123");
    // The flow is over: a replayed callback finds nothing to complete.
    let replay = browser(
        &addr,
        "GET",
        &format!("/callback?code=SECRETCODE123&state={state}"),
        &addr,
    )
    .await;
    assert!(replay.is_none() || replay.is_some_and(|(s, _)| s == 410));
}

/// A receiver, its `host:port`, the state the URL carries, and the flow waiting on it.
async fn flow(
    receiver: LoopbackReceiver,
) -> (
    String,
    String,
    tokio::task::JoinHandle<Result<hearth_pkce::AuthorizationCodeGrant, Error>>,
) {
    let redirect = receiver.redirect_uri();
    let addr = redirect
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (url, pending) = AuthorizationRequest::new("https://as.example/authorize", "c", &redirect)
        .build()
        .unwrap();
    let state = param(&url, "state").to_owned();
    (addr, state, tokio::spawn(receiver.wait(pending, FLOW)))
}

#[tokio::test]
async fn a_forged_callback_is_refused_and_the_real_one_still_signs_in() {
    let (addr, state, flow) = flow(LoopbackReceiver::bind("/cb").await.unwrap()).await;
    for forged in [
        "/cb?error=access_denied&state=forged".to_owned(),
        "/cb?code=evil&state=forged".to_owned(),
        "/cb?code=evil".to_owned(),
        "/cb?error=access_denied".to_owned(),
        format!("/cb?code=evil&state={state}&state=x"),
        "/cb?code=%zz".to_owned(),
    ] {
        let (status, body) = browser(&addr, "GET", &forged, &addr).await.unwrap();
        assert_eq!(status, 400, "{forged}");
        assert!(body.contains("did not complete"), "{forged}");
        assert!(!flow.is_finished(), "{forged} ended the sign-in");
    }
    let (status, _) = browser(&addr, "GET", &format!("/cb?code=real&state={state}"), &addr)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(flow.await.unwrap().unwrap().code.expose_secret(), "real");
}

#[tokio::test]
async fn a_denial_with_the_right_state_ends_the_flow() {
    let (addr, state, flow) = flow(LoopbackReceiver::bind("/cb").await.unwrap()).await;
    let (status, _) = browser(
        &addr,
        "GET",
        &format!("/cb?error=access_denied&state={state}"),
        &addr,
    )
    .await
    .unwrap();
    assert_eq!(status, 400);
    assert!(matches!(
        flow.await.unwrap(),
        Err(Error::Denied { error, .. }) if error == "access_denied"
    ));
}

#[tokio::test]
async fn a_hundred_idle_connections_do_not_keep_the_callback_out() {
    let (addr, state, flow) = flow(LoopbackReceiver::bind("/cb").await.unwrap()).await;
    let mut idle = Vec::new();
    for _ in 0..100 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Half-open: a request line started and never finished.
    for s in idle.iter_mut().take(50) {
        s.write_all(b"GET /cb?code=x HTTP/1.1\r\n").await.unwrap();
    }
    let start = Instant::now();
    let (status, _) = browser(&addr, "GET", &format!("/cb?code=real&state={state}"), &addr)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(flow.await.unwrap().unwrap().code.expose_secret(), "real");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "the callback took {:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn a_slowloris_client_is_dropped_at_the_header_timeout() {
    let (addr, state, flow) = flow(LoopbackReceiver::bind("/cb").await.unwrap()).await;
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let start = Instant::now();
    // One byte every 200 ms: the head never completes; the server hangs up after its
    // 5 s header timeout (the write or the read then fails).
    let dropped = async {
        for b in b"GET /cb?code=slow HTTP/1.1\r\nHost: x\r\nX-Pad: "
            .iter()
            .cycle()
        {
            if slow.write_all(&[*b]).await.is_err() {
                return;
            }
            let mut buf = [0u8; 64];
            match tokio::time::timeout(Duration::from_millis(200), slow.read(&mut buf)).await {
                Ok(Ok(0) | Err(_)) => return,
                Ok(Ok(_)) => return, // an error response, then the close
                Err(_) => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), dropped)
        .await
        .expect("the slow client was never dropped");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(4),
        "dropped after {took:?}, before the timeout"
    );
    // The sign-in is still waiting, and completes.
    assert!(!flow.is_finished());
    let (status, _) = browser(&addr, "GET", &format!("/cb?code=ok&state={state}"), &addr)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(flow.await.unwrap().is_ok());
}

#[tokio::test]
async fn the_ipv6_loopback_receiver_accepts_its_own_host() {
    let receiver = match LoopbackReceiver::bind_ipv6("/cb").await {
        Ok(r) => r,
        // A host without IPv6 loopback (some containers) cannot run this test.
        Err(Error::Bind { .. }) if std::net::TcpListener::bind("[::1]:0").is_err() => return,
        Err(e) => panic!("{e}"),
    };
    assert!(receiver.redirect_uri().starts_with("http://[::1]:"));
    let (addr, state, flow) = flow(receiver).await;
    // The IPv4 Host of the same port is refused (DNS rebinding check), the [::1] one works.
    let port = addr.rsplit(':').next().unwrap();
    let (status, _) = browser(
        &addr,
        "GET",
        &format!("/cb?code=c&state={state}"),
        &format!("127.0.0.1:{port}"),
    )
    .await
    .unwrap();
    assert_eq!(status, 403);
    let (status, _) = browser(&addr, "GET", &format!("/cb?code=c&state={state}"), &addr)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(flow.await.unwrap().is_ok());
}

#[tokio::test]
async fn timeout_and_cancel_end_the_wait() {
    let receiver = LoopbackReceiver::bind("/cb").await.unwrap();
    let (_, pending) = AuthorizationRequest::new(
        "https://as.example/authorize",
        "c",
        &receiver.redirect_uri(),
    )
    .build()
    .unwrap();
    let start = Instant::now();
    let err = receiver
        .wait(pending, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { after } if after == Duration::from_millis(200)),
        "{err:?}"
    );
    // Not before the timeout; and it did not hang (the margin is for a loaded machine).
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(200) && waited < Duration::from_secs(4),
        "{waited:?}"
    );

    let receiver = LoopbackReceiver::bind("/cb").await.unwrap();
    let cancel = receiver.cancel_handle();
    let (_, pending) = AuthorizationRequest::new(
        "https://as.example/authorize",
        "c",
        &receiver.redirect_uri(),
    )
    .build()
    .unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.cancel();
    });
    assert!(matches!(
        receiver.wait(pending, FLOW).await,
        Err(Error::Cancelled)
    ));
}

#[tokio::test]
async fn the_path_must_be_a_plain_path() {
    assert!(LoopbackReceiver::bind("callback").await.is_err());
    assert!(LoopbackReceiver::bind("/cb?x=1").await.is_err());
    // A path the guard would never let through (not canonical) is refused up front.
    for path in ["/a//b", "/cb;x", "/%7Ecb", "/cb."] {
        assert!(LoopbackReceiver::bind(path).await.is_err(), "{path}");
    }
}

#[tokio::test]
async fn chatty_connections_cannot_hold_the_places_open() {
    let (addr, state, flow) = flow(LoopbackReceiver::bind("/cb").await.unwrap()).await;
    // Every place taken by connections that ask for something cheap and try to keep the
    // connection: each is answered and closed (one request per connection).
    let mut chatty = Vec::new();
    for _ in 0..40 {
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let req = format!("GET /x HTTP/1.1\r\nHost: {addr}\r\nConnection: keep-alive\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        chatty.push(s);
    }
    for s in &mut chatty {
        let mut out = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        assert!(read.is_ok(), "a connection was kept open after its answer");
    }
    let (status, _) = browser(&addr, "GET", &format!("/cb?code=real&state={state}"), &addr)
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(flow.await.unwrap().unwrap().code.expose_secret(), "real");
}
