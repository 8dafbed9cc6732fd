//! `hearth pin` and `hearth fetch` against the system's `openssl s_server`, and the pin
//! compared with the one the openssl command line computes.

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn scratch(name: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("hearth-cli-net-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn sh(script: &str, dir: &Path) -> String {
    let out = Command::new("sh")
        .args(["-c", script])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A self-signed P-256 certificate for 127.0.0.1 made by openssl: (cert.pem, key.pem).
fn openssl_cert(dir: &Path) -> (PathBuf, PathBuf) {
    sh(
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -keyout key.pem -out cert.pem \
         -days 2 -nodes -subj /CN=hearth-test -addext subjectAltName=IP:127.0.0.1 2>/dev/null",
        dir,
    );
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// The pin as the openssl command line computes it.
fn openssl_pin(dir: &Path) -> String {
    let b64 = sh(
        "openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64",
        dir,
    );
    format!("sha256/{b64}")
}

struct SServer(Child, u16);

impl Drop for SServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `openssl s_server -www` on a free loopback port with the given protocol flags.
///
/// s_server picks the port itself (`-accept 127.0.0.1:0`), so no other process can take it
/// between our choosing it and s_server binding it, and says which one on stdout only once
/// it listens: from then on connections wait in its backlog, so no probe connection (which
/// s_server, serving one connection at a time, would still be busy with) is needed.
fn s_server(dir: &Path, flags: &[&str]) -> SServer {
    let mut child = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-cert",
            "cert.pem",
            "-key",
            "key.pem",
            "-www",
        ])
        .args(flags)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read on a thread: a bounded wait for the line, then keep draining so s_server
    // never blocks on a full pipe.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let (mut tx, mut reader, mut line) = (Some(tx), BufReader::new(stdout), Vec::new());
        while reader.read_until(b'\n', &mut line).is_ok_and(|n| n > 0) {
            if let Some(port) = String::from_utf8_lossy(&line)
                .strip_prefix("ACCEPT 127.0.0.1:")
                .and_then(|p| p.trim().parse::<u16>().ok())
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(port);
            }
            line.clear();
        }
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(port) => SServer(child, port),
        Err(e) => {
            let _ = child.kill();
            let status = child.wait();
            panic!("s_server did not say where it listens ({e}): {status:?}");
        }
    }
}

/// Runs `hearth`; every error message it prints must be sentences, never Rust Debug text.
fn hearth(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(args)
        .output()
        .unwrap();
    common::assert_sentences(&out);
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// An `openssl req -x509` server fetched without `--self-signed`: exit 4, one line that
/// says why, gives the server's pin and the command that trusts it.
#[test]
fn an_untrusted_self_signed_server_gets_its_pin_and_the_command_that_trusts_it() {
    let dir = scratch("untrusted");
    openssl_cert(&dir);
    let expected = openssl_pin(&dir);
    let server = s_server(&dir, &["-tls1_3"]);
    let url = format!("https://127.0.0.1:{}/?access_token=SECRET-TOKEN", server.1);
    let out = hearth(&["fetch", &url]);
    assert_eq!(out.status.code(), Some(4), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("is self-signed"), "{err}");
    assert!(
        err.contains(&format!("--self-signed --pin {expected}")),
        "{err}"
    );
    assert!(!err.contains("SECRET-TOKEN"), "{err}");
    // And the command it gives works.
    let trusted = hearth(&["fetch", "--self-signed", "--pin", &expected, &url]);
    assert!(trusted.status.success(), "{}", text(&trusted.stderr));
    // s_server's status page is a few KiB: over a 100-byte cap.
    let capped = hearth(&[
        "fetch",
        "--max-body",
        "100",
        "--self-signed",
        "--pin",
        &expected,
        &url,
    ]);
    assert_eq!(capped.status.code(), Some(4), "{}", text(&capped.stderr));
    assert!(
        text(&capped.stderr).contains("100-byte limit"),
        "{}",
        text(&capped.stderr)
    );
}

#[test]
fn a_zero_timeout_is_a_usage_error() {
    let out = hearth(&["fetch", "--timeout", "0", "https://127.0.0.1:9/"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

#[test]
fn the_pin_of_a_certificate_equals_openssls() {
    let dir = scratch("pin");
    let (cert, _) = openssl_cert(&dir);
    let expected = openssl_pin(&dir);
    let out = hearth(&["pin", "--cert", cert.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{expected}  CN=hearth-test\n"));
    // DER too.
    sh("openssl x509 -in cert.pem -outform der -out cert.der", &dir);
    let der = hearth(&["pin", "--cert", dir.join("cert.der").to_str().unwrap()]);
    assert_eq!(text(&der.stdout), format!("{expected}  CN=hearth-test\n"));
    // And from the live server, without trusting it.
    let server = s_server(&dir, &["-tls1_3"]);
    let live = hearth(&["pin", &format!("127.0.0.1:{}", server.1)]);
    assert_eq!(
        text(&live.stdout),
        format!("{expected}  CN=hearth-test\n"),
        "{}",
        text(&live.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn tls_versions_against_openssl_s_server() {
    let dir = scratch("versions");
    openssl_cert(&dir);
    let pin = openssl_pin(&dir);
    let fetch = |port: u16, extra: &[&str]| {
        let url = format!("https://127.0.0.1:{port}/");
        let mut args = vec!["fetch", "--self-signed", "--pin", &pin, &url];
        args.extend_from_slice(extra);
        hearth(&args)
    };

    let tls12 = s_server(&dir, &["-tls1_2"]);
    let ok = fetch(tls12.1, &[]);
    assert!(
        ok.status.success(),
        "TLS 1.2 accepted by default: {}",
        text(&ok.stderr)
    );
    assert!(text(&ok.stdout).contains("<HTML>"), "{}", text(&ok.stdout));
    let refused = fetch(tls12.1, &["--tls13"]);
    assert_eq!(refused.status.code(), Some(4), "{}", text(&refused.stderr));

    let tls11 = s_server(&dir, &["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    let old = fetch(tls11.1, &[]);
    assert_eq!(
        old.status.code(),
        Some(4),
        "TLS 1.1 refused: {}",
        text(&old.stderr)
    );
    assert_eq!(text(&old.stderr).lines().count(), 1, "one line saying why");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn pin_mismatch_and_plain_http_are_policy_refusals() {
    let dir = scratch("refusals");
    openssl_cert(&dir);
    let server = s_server(&dir, &["-tls1_3"]);
    let wrong = "sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let out = hearth(&[
        "fetch",
        "--self-signed",
        "--pin",
        wrong,
        &format!("https://127.0.0.1:{}/", server.1),
    ]);
    assert_eq!(out.status.code(), Some(4));
    let err = text(&out.stderr);
    assert!(
        err.contains(&openssl_pin(&dir)) && err.contains(wrong),
        "the chain's pins are listed: {err}"
    );

    let out = hearth(&["fetch", "http://192.0.2.1/"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("plain HTTP refused"),
        "{}",
        text(&out.stderr)
    );
    let out = hearth(&["fetch", "--pin", "sha1/abc", "https://example.com/"]);
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}
