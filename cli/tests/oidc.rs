//! `hearth login --issuer` (discovery, PAR, PKCE, DPoP, the ID token validated), `hearth
//! login --device` and `hearth logout` as a user runs them, against a real, certified
//! provider (node oidc-provider, from hearth-testkit) over HTTPS with a pinned certificate;
//! this test plays the browser.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hearth_net_policy::{HttpsClient, PinPolicy, TlsPolicy};
use hearth_pkce::{DpopKey, Error, Provider};
use hearth_secure_storage::{EncryptedFileStore, KeySource, SecureStorage};
use hearth_testkit::oidc_provider::{Browser, CLIENT, OidcProvider};
use hearth_token_guard::RefreshToken;

/// `hearth ARGS… --backend vault …` in `dir`, trusting `op` by its pin; stderr piped.
fn hearth(op: &OidcProvider, dir: &Path, args: &[&str]) -> Child {
    let pin = op.pin.to_string();
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .args(["--issuer", &op.issuer(), "--pin", &pin, "--self-signed"])
        .args(["--backend", "vault", "--vault"])
        .arg(dir.join("vault.hearth"))
        .arg("--key-file")
        .arg(dir.join("vault.key"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The first stderr line `pick` accepts (within a minute), the rest collected for the end.
fn watch_stderr(
    child: &mut Child,
    pick: fn(&str) -> Option<String>,
) -> (mpsc::Receiver<String>, std::thread::JoinHandle<String>) {
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let all = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(found) = pick(&line) {
                let _ = tx.send(found);
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    (rx, all)
}

async fn line(rx: mpsc::Receiver<String>) -> String {
    tokio::task::spawn_blocking(move || rx.recv_timeout(Duration::from_secs(60)).unwrap())
        .await
        .unwrap()
}

async fn finish(child: Child, stderr: std::thread::JoinHandle<String>) -> (Output, String) {
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = stderr.join().unwrap();
    common::assert_sentences(&Output {
        stderr: stderr.clone().into_bytes(),
        ..out.clone()
    });
    (out, stderr)
}

fn vault(dir: &Path) -> EncryptedFileStore {
    EncryptedFileStore::open(
        dir.join("vault.hearth"),
        KeySource::KeyFile(dir.join("vault.key")),
    )
    .unwrap()
}

fn stored(dir: &Path, key: &str) -> Option<String> {
    vault(dir)
        .retrieve(&key.parse().unwrap())
        .unwrap()
        .map(|v| String::from_utf8_lossy(v.expose_secret()).into_owned())
}

/// Nothing `hearth` printed contains a token it stored.
fn assert_no_token(dir: &Path, ns: &str, printed: &[&str]) {
    for name in ["access_token", "refresh_token", "id_token"] {
        let token = stored(dir, &format!("{ns}::{name}")).unwrap();
        assert!(token.len() > 20);
        for text in printed {
            assert!(!text.contains(&token), "{name} printed: {text}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_discovery_then_logout_revokes_and_clears() {
    let op = OidcProvider::start("cli-login");
    let dir = op.dir.join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let store = ["--store", "app::alice", "--client-id", CLIENT];
    let mut child = hearth(
        &op,
        &dir,
        &[&["login", "--scope", "email", "--wait", "60"][..], &store].concat(),
    );
    let (url, stderr) = watch_stderr(&mut child, |l| {
        l.starts_with("https://").then(|| l.to_owned())
    });
    let url = line(url).await;
    assert!(url.contains("request_uri="), "PAR: {url}");
    assert!(
        !url.contains("code_challenge"),
        "only client_id and request_uri: {url}"
    );

    // The browser signs in at the provider and comes back to hearth's loopback receiver.
    let mut browser = Browser::new(op.client());
    let callback = browser.sign_in(&url, "alice", "http://127.0.0.1:").await;
    assert!(callback.contains("iss="), "RFC 9207: {callback}");
    let pins = PinPolicy::new()
        .self_signed("127.0.0.1", [op.pin.to_string()])
        .unwrap();
    let loopback = HttpsClient::new(
        &TlsPolicy::new()
            .pins(pins)
            .allow_loopback_http()
            .build()
            .unwrap(),
    );
    assert_eq!(loopback.get(&callback).await.unwrap().status, 200);

    let (out, stderr) = finish(child, stderr).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stderr}{stdout}");
    assert!(stdout.contains("sub: alice\n"), "{stdout}");
    assert!(
        stdout.contains(&format!("iss: {}\n", op.issuer())),
        "{stdout}"
    );
    assert!(stdout.contains(&format!("aud: {CLIENT}\n")), "{stdout}");
    assert!(stdout.contains("\nexp: "), "{stdout}");
    assert!(
        stdout.contains("token type: dpop"),
        "DPoP offered, so used: {stdout}"
    );
    assert_no_token(&dir, "app::alice", &[&stdout, &stderr]);
    assert_eq!(
        stored(&dir, "app::alice::token_type").as_deref(),
        Some("dpop"),
        "how to present the token is kept with it"
    );
    assert_eq!(
        stored(&dir, "app::alice::issuer").as_deref(),
        Some(op.issuer().as_str()),
        "where the tokens came from is kept: logout sends them nowhere else"
    );
    let refresh = RefreshToken::new(stored(&dir, "app::alice::refresh_token").unwrap());
    let dpop_pkcs8 = vault(&dir)
        .retrieve(&"app::alice::dpop_key".parse().unwrap())
        .unwrap()
        .expect("the DPoP key is kept beside the tokens");

    // Sign out: revoked at the provider, then nothing left here.
    let mut child = hearth(&op, &dir, &[&["logout"][..], &store].concat());
    let (_, stderr) = watch_stderr(&mut child, |_| None);
    let (out, stderr) = finish(child, stderr).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stderr}{stdout}");
    assert!(
        stdout.contains("signed out: 7 secret(s) removed"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "end the provider's session at: {}/session/end",
            op.issuer()
        )),
        "{stdout}"
    );
    assert!(
        vault(&dir)
            .list(&"app::alice".parse().unwrap())
            .unwrap()
            .is_empty()
    );
    // The refresh token is dead at the provider, even with the right DPoP key.
    let provider = Provider::discover(&op.client(), &op.issuer(), CLIENT)
        .await
        .unwrap()
        .with_dpop(DpopKey::from_pkcs8(dpop_pkcs8.expose_secret()).unwrap());
    let e = provider.refresh(&refresh, None).await.unwrap_err();
    assert!(matches!(e, Error::SignInRevoked { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_the_device_grant() {
    let op = OidcProvider::start("cli-device");
    let dir = op.dir.join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = hearth(
        &op,
        &dir,
        &[
            "login",
            "--device",
            "--store",
            "tv::bob",
            "--client-id",
            CLIENT,
        ],
    );
    let (page, stderr) = watch_stderr(&mut child, |l| {
        l.strip_prefix("Open https://")
            .map(|rest| format!("https://{rest}"))
    });
    let page = line(page).await;
    // The user approves on their phone.
    let mut phone = Browser::new(op.client());
    let end = phone.sign_in(&page, "bob", "http://never.example").await;
    assert!(end.to_lowercase().contains("success"), "{end}");

    let (out, stderr) = finish(child, stderr).await;
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success(), "{stderr}{stdout}");
    assert!(stdout.contains("sub: bob\n"), "{stdout}");
    assert!(
        stderr.contains("enter "),
        "the user code is shown: {stderr}"
    );
    assert_no_token(&dir, "tv::bob", &[&stdout, &stderr]);
}

#[test]
fn logout_without_a_provider_still_clears_and_a_bad_store_is_a_usage_error() {
    let dir = std::env::temp_dir().join(format!("hearth-cli-logout-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let backend = [
        "--backend",
        "vault",
        "--vault",
        dir.join("vault.hearth").to_str().unwrap(),
        "--key-file",
        dir.join("vault.key").to_str().unwrap(),
    ]
    .map(str::to_owned);
    let run_with = |args: &[&str], stdin: &[u8]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(backend.iter().map(String::as_str));
        common::run_hearth(&all, stdin, |_| {})
    };
    let run = |args: &[&str]| run_with(args, b"");
    let set = run_with(
        &["secret", "set", "app::carol::access_token"],
        b"at-carol\n",
    );
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let out = run(&["logout", "--store", "app::carol"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().next().unwrap(),
        "signed out: 1 secret(s) removed from vault"
    );
    assert!(
        vault(&dir)
            .list(&"app::carol".parse().unwrap())
            .unwrap()
            .is_empty()
    );
    // A provider that cannot be reached: the secrets go all the same, and the exit
    // code says the provider was not told.
    let set = run_with(&["secret", "set", "app::dan::refresh_token"], b"rt-dan\n");
    assert!(set.status.success());
    let unreachable = run(&[
        "logout",
        "--store",
        "app::dan",
        "--issuer",
        "https://127.0.0.1:9",
        "--client-id",
        "x",
    ]);
    assert_ne!(unreachable.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&unreachable.stdout).starts_with("signed out: 1 secret(s) removed"),
        "{}",
        String::from_utf8_lossy(&unreachable.stdout)
    );
    assert!(
        String::from_utf8_lossy(&unreachable.stderr).contains("the provider could not be told"),
        "{}",
        String::from_utf8_lossy(&unreachable.stderr)
    );
    assert!(
        vault(&dir)
            .list(&"app::dan".parse().unwrap())
            .unwrap()
            .is_empty()
    );
    let half = run(&[
        "logout",
        "--store",
        "app::dan",
        "--issuer",
        "https://id.example",
    ]);
    assert_eq!(half.status.code(), Some(2), "no issuer recorded");
    assert!(
        String::from_utf8_lossy(&half.stderr).contains("no issuer is recorded"),
        "{}",
        String::from_utf8_lossy(&half.stderr)
    );

    // Tokens recorded as another provider's are not sent to the one named: a server
    // listening there gets no connection; the local secrets go all the same.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let elsewhere = format!(
        "https://127.0.0.1:{}",
        listener.local_addr().unwrap().port()
    );
    for (key, value) in [
        ("app::erin::refresh_token", &b"rt-erin\n"[..]),
        ("app::erin::issuer", b"https://id.example\n"),
    ] {
        assert!(run_with(&["secret", "set", key], value).status.success());
    }
    let wrong = run(&[
        "logout",
        "--store",
        "app::erin",
        "--issuer",
        &elsewhere,
        "--client-id",
        "x",
    ]);
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("were issued by https://id.example, not https://127.0.0.1:"),
        "{stderr}"
    );
    assert!(!stderr.contains("rt-erin"));
    assert_eq!(
        listener.accept().unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "nothing was sent to the other provider"
    );
    assert!(
        vault(&dir)
            .list(&"app::erin".parse().unwrap())
            .unwrap()
            .is_empty()
    );
    // No --issuer: the recorded one is told (a connection arrives there), unless
    // --local-only says not to.
    for local_only in [true, false] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let recorded = format!(
            "https://127.0.0.1:{}\n",
            listener.local_addr().unwrap().port()
        );
        for (key, value) in [
            ("app::fay::refresh_token", &b"rt-fay\n"[..]),
            ("app::fay::client_id", b"cli\n"),
            ("app::fay::issuer", recorded.as_bytes()),
        ] {
            assert!(run_with(&["secret", "set", key], value).status.success());
        }
        let mut args = vec!["logout", "--store", "app::fay"];
        if local_only {
            args.push("--local-only");
        }
        let out = run(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with("signed out: 3 secret(s) removed"),
            "{stderr}"
        );
        let connected = listener.accept().is_ok();
        if local_only {
            assert!(out.status.success(), "{stderr}");
            assert!(!connected, "--local-only tells no one");
        } else {
            // Not a TLS server: the provider could not be told, and the exit code says so.
            assert_ne!(out.status.code(), Some(0));
            assert!(
                stderr.contains("the provider could not be told"),
                "{stderr}"
            );
            assert!(connected, "the recorded provider was asked");
        }
        assert!(!stderr.contains("rt-fay"));
    }
    let both = run(&[
        "logout",
        "--store",
        "app::fay",
        "--local-only",
        "--issuer",
        "https://id.example",
    ]);
    assert_eq!(
        both.status.code(),
        Some(2),
        "--local-only with --issuer is a usage error"
    );

    let bad = run(&["logout", "--store", "app::"]);
    assert_eq!(bad.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}
