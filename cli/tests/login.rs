//! `hearth pkce`, `hearth state` and a whole `hearth login` against the in-process test
//! authorization server, with this test playing the browser.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use hearth_examples::test_server::TestAuthServer;
use hearth_net_policy::{HttpsClient, PinPolicy, TlsPolicy};

fn hearth(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .output()
        .unwrap();
    common::assert_sentences(&out);
    out
}

#[test]
fn pkce_prints_the_rfc7636_challenge_and_state_is_fresh() {
    let out = hearth(&[
        "pkce",
        "--verifier",
        "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
    ]);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"code_verifier\":\"dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk\",\"code_challenge\":\"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM\",\"code_challenge_method\":\"S256\"}\n"
    );
    assert_eq!(
        hearth(&["pkce", "--verifier", "short"]).status.code(),
        Some(2)
    );
    let (a, b) = (hearth(&["state"]).stdout, hearth(&["state"]).stdout);
    assert_eq!(a.len(), 44);
    assert_ne!(a, b);
}

#[tokio::test]
async fn login_signs_in_through_the_loopback_redirect_and_stores_the_tokens() {
    let dir = std::env::temp_dir().join(format!("hearth-cli-login-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let server = TestAuthServer::start("cli-test", "http://127.0.0.1/callback")
        .await
        .unwrap();
    let vault = dir.join("vault");
    let key = dir.join("key");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args([
            "login",
            "--authorize-url",
            &server.authorize_url(),
            "--token-url",
            &server.token_url(),
        ])
        .args([
            "--client-id",
            "cli-test",
            "--scope",
            "openid",
            "--issuer",
            &server.issuer,
        ])
        .args([
            "--pin",
            &server.pin,
            "--self-signed",
            "--wait",
            "30",
            "--store",
            "demo::alice",
        ])
        .args([
            "--backend",
            "vault",
            "--vault",
            vault.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ])
        .env_remove("DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Read the URL hearth prints, then be the browser.
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let rest = std::thread::spawn(move || {
        // Keep reading to the end, so hearth never writes into a closed pipe.
        let mut other = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.starts_with("https://") {
                let _ = tx.send(line);
            } else {
                other.push(line);
            }
        }
        other
    });
    let url =
        tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(30)).unwrap())
            .await
            .unwrap();
    assert!(
        url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"),
        "{url}"
    );
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [server.pin.as_str()])
        .unwrap();
    let browser = HttpsClient::new(
        &TlsPolicy::new()
            .pins(pins)
            .allow_loopback_http()
            .build()
            .unwrap(),
    );
    let page = browser.get(&url).await;
    let page = match page {
        Ok(p) => p,
        Err(e) => {
            let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
                .await
                .unwrap();
            panic!(
                "{e}: hearth exited {:?}, said {:?}",
                out.status,
                rest.join().unwrap()
            );
        }
    };
    assert_eq!(page.status, 200);

    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout,
        "signed in; stored in vault:\n  demo::alice::access_token\n  demo::alice::token_type\n  demo::alice::refresh_token\n"
    );
    assert!(!stdout.contains("at-"), "no token printed");

    let token = hearth(&[
        "secret",
        "get",
        "demo::alice::access_token",
        "--vault",
        vault.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ]);
    assert!(String::from_utf8(token.stdout).unwrap().starts_with("at-"));
    assert_eq!(server.token_requests(), 1);
    tokio::time::sleep(Duration::from_millis(10)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn login_refuses_a_plain_http_token_endpoint() {
    let out = login_with(
        "https://as.example/authorize",
        "http://as.example/token",
        "1",
    );
    assert_ne!(out.status.code(), Some(0));
}

/// `hearth login` with these endpoints, a vault store that cannot exist, and `--wait`.
fn login_with(authorize: &str, token: &str, wait: &str) -> std::process::Output {
    hearth(&[
        "login",
        "--authorize-url",
        authorize,
        "--token-url",
        token,
        "--client-id",
        "c",
        "--store",
        "demo::x",
        "--backend",
        "vault",
        "--vault",
        "/nonexistent/v",
        "--key-file",
        "/nonexistent/k",
        "--wait",
        wait,
    ])
}

/// Bad URLs are refused before anything is printed or waited for.
#[test]
fn login_checks_every_url_before_printing_or_waiting() {
    let base = |authorize: &'static str, token: &'static str| {
        let start = std::time::Instant::now();
        let out = login_with(authorize, token, "300");
        (out, start.elapsed())
    };
    for (authorize, token, needle) in [
        ("https://as.example/authorize", "htp://x", "--token-url"),
        ("https://as.example/authorize", "not a url", "--token-url"),
        (
            "https://as.example/authorize?client_id=other",
            "https://as.example/token",
            "client_id",
        ),
        (
            "https://as.example/authorize?redirect_uri=https%3A%2F%2Fevil",
            "https://as.example/token",
            "redirect_uri",
        ),
    ] {
        let (out, took) = base(authorize, token);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{authorize} {token}: {stderr}");
        assert!(stderr.contains(needle), "{stderr}");
        assert!(
            !stderr.contains("Open this URL"),
            "printed before checking: {stderr}"
        );
        // It did not wait for the browser (the wait is 300 s).
        assert!(took < std::time::Duration::from_secs(60), "{took:?}");
    }
}
