//! `redact` throughput on clean and on token-dense log text, against a peer: the
//! regex-based scrubber an app would otherwise write (one `regex` alternation of the same
//! shapes, `replace_all`). Prints MB/s for both and the ratio peer/hearth.
//!
//! Run: `cargo bench -p hearth-token-guard --bench redact`

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use regex::Regex;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

const PEER_PATTERN: &str = concat!(
    r"(?i:\bbearer)[ \t]+[A-Za-z0-9\-._~+/]{8,}=*",
    r#"|(?i:\b(?:proxy-)?authorization\b)["']?\s*[=:]\s*["']?(?:[A-Za-z]+[ \t]+)?[^\s&"',;<>]+"#,
    r"|eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]*)+",
    r#"|(?i:\b(?:access_token|refresh_token|id_token|client_secret|code_verifier|password|api_key|apikey|x-api-key)\b)["']?\s*[=:]\s*["']?[^\s&"',;<>]+"#,
    r#"|(?i:\b(?:code|token|secret)\b)["']?\s*[=:]\s*["']?[^\s&"',;<>]{8,}"#,
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|\z)",
);

fn peer_redact<'a>(re: &Regex, text: &'a str) -> Cow<'a, str> {
    re.replace_all(text, "[REDACTED]")
}

/// About 64 KiB of ordinary service log lines with no secret in them.
fn clean_text() -> String {
    let lines = [
        "2026-11-22T20:41:49.123Z INFO  http: GET /api/v1/items?limit=50&offset=100 status=200 elapsed_ms=12",
        "2026-11-22T20:41:49.456Z DEBUG sync: fetched 128 items from server jellyfin.home.arpa (cache hit ratio 0.93)",
        "2026-11-22T20:41:50.001Z WARN  player: buffer underrun at position 01:23:45, retrying with bitrate 4000 kbps",
        "2026-11-22T20:41:50.777Z INFO  auth: session refreshed for user 7c9e6679 on device living-room, expires in 3600 s",
        "2026-11-22T20:41:51.010Z ERROR db: query took 1520 ms: SELECT id, name FROM library WHERE parent = ? ORDER BY name",
    ];
    let mut s = String::new();
    while s.len() < 64 * 1024 {
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
    }
    s
}

/// About 64 KiB where every line carries a secret of one of the shapes.
fn dense_text() -> String {
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4iLCJpYXQiOjE1MTYyMzkwMjJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let lines = [
        "INFO  http: GET /me Authorization: Bearer ya29.a0AfH6SMBx3k9Jq7Lw-Zt2QpV8nR4uY1oE5cT6",
        "DEBUG oauth: POST /token grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        r#"DEBUG oauth: response {"access_token":"2YotnFZFEjr1zCsicMWpAA","refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","expires_in":3600}"#,
        "INFO  oidc: id_token verified",
        "DEBUG login: password=hunter2-correct-horse user=alice",
    ];
    let mut s = String::new();
    while s.len() < 64 * 1024 {
        for l in lines {
            s.push_str(l);
            if l.ends_with("verified") {
                s.push(' ');
                s.push_str(jwt);
            }
            s.push('\n');
        }
    }
    s
}

fn main() {
    let re = Regex::new(PEER_PATTERN).expect("peer pattern compiles");
    let inputs = [
        ("redact_clean", clean_text()),
        ("redact_dense", dense_text()),
    ];
    // The peer must be a fair one: it must mask what we mask on the dense input.
    let ours = hearth_token_guard::redact(&inputs[1].1);
    assert!(
        !ours.contains("SplxlOBeZQQYbYS6WxSbIA")
            && !peer_redact(&re, &inputs[1].1).contains("SplxlOBeZQQYbYS6WxSbIA")
    );

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50)
        .configure_from_args();
    for (name, text) in &inputs {
        let mut g = c.benchmark_group(*name);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_function("hearth", |b| {
            b.iter(|| hearth_token_guard::redact(black_box(text)))
        });
        g.bench_function("regex-peer", |b| {
            b.iter(|| peer_redact(&re, black_box(text)))
        });
        g.finish();
    }
    c.final_summary();

    for (name, text) in &inputs {
        if let (Some(ours), Some(peer)) = (
            median_ns(&format!("{name}/hearth")),
            median_ns(&format!("{name}/regex-peer")),
        ) {
            let mbps = |ns: f64| text.len() as f64 / ns * 1e3;
            println!(
                "{name}: hearth {:.1} MB/s ({:.1} µs), regex-peer {:.1} MB/s ({:.1} µs), ratio peer/hearth = {:.2}x",
                mbps(ours),
                ours / 1e3,
                mbps(peer),
                peer / 1e3,
                peer / ours
            );
        }
    }
}
