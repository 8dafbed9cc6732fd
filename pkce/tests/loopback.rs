//! The loopback receiver with a real HTTP client playing the browser.
#![cfg(feature = "loopback")]

use std::time::{Duration, Instant};

use hearth_pkce::{AuthorizationRequest, Error, LoopbackReceiver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long a flow waits for its callback: far more than the few loopback requests of a
/// test take, even on a loaded machine.
const FLOW: Duration = Duration::from_secs(60);

/// Sends one raw HTTP/1.1 request; returns (status, body).
async fn browser(addr: &str, method: &str, target: &str, host: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let req = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
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

    assert_eq!(
        browser(&addr, "GET", "/favicon.ico", &addr)
            .await
            .unwrap()
            .0,
        404
    );
    assert_eq!(
        browser(&addr, "POST", "/callback?code=x", &addr)
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
        400
    );
    assert_eq!(browser(&addr, "GET", "/callback", "").await.unwrap().0, 400);

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

#[tokio::test]
async fn a_forged_callback_ends_the_flow_with_the_state_error() {
    let receiver = LoopbackReceiver::bind("/cb").await.unwrap();
    let redirect = receiver.redirect_uri();
    let addr = redirect
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (_, pending) = AuthorizationRequest::new("https://as.example/authorize", "c", &redirect)
        .build()
        .unwrap();
    let flow = tokio::spawn(receiver.wait(pending, FLOW));
    let (status, body) = browser(&addr, "GET", "/cb?error=access_denied&state=forged", &addr)
        .await
        .unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("did not complete"));
    assert!(matches!(flow.await.unwrap(), Err(Error::StateMismatch)));
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
}
