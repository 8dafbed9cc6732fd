//! `redact` throughput, in one run:
//!
//! - clean log text (target ≥ 1 GB/s);
//! - token-dense log text against a peer: the `regex`-based scrubber an app would
//!   otherwise write, one alternation of the same rule set (vendor prefixes, JWTs, PEM
//!   blocks, the sensitive-name rule, Bearer/Authorization, URL userinfo, curl -u, cookies),
//!   `replace_all` (target: hearth ≥ 1.5× the peer);
//! - adversarial 1 MiB lines, each one trigger repeated (`eyJ.`, `password=`,
//!   `authorization=`, `-----BEGIN `, `ghp_`, `://a:b@`, `%3D`) (target ≥ 100 MB/s each:
//!   linear time).
//!
//! Prints MB/s for each and the ratios. Run: `cargo bench -p hearth-token-guard --bench redact`

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput};
use regex::Regex;

#[path = "../../benches-common/estimates.rs"]
mod estimates;
use estimates::median_ns;

/// The peer: the same rules as one regex (what `regex` can express: no look-behind, so word
/// starts are approximated with ASCII `\b`; Unicode `\b` would force regex's slowest
/// engine).
fn peer_pattern() -> String {
    let vendors = [
        r"gh[pousr]_[0-9A-Za-z]{36,}",
        r"github_pat_[0-9A-Za-z_]{82,}",
        r"gl(?:pat|dt|rt|soat)-[0-9A-Za-z_-]{20,}",
        r"glptt-[0-9a-fA-F]{40,}",
        r"xox[bpearso]-[0-9A-Za-z-]{20,}",
        r"xapp-[0-9A-Za-z-]{20,}",
        r"hooks\.slack\.com/services/[A-Za-z0-9+/=_-]{20,}",
        r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16,}",
        r"AIza[0-9A-Za-z_-]{35,}",
        r"sk-(?:proj|svcacct|admin|ant)-[0-9A-Za-z_-]{40,}",
        r"sk-[0-9A-Za-z]{40,}",
        r"[sr]k_(?:live|test|prod)_[0-9A-Za-z]{10,}",
        r"whsec_[0-9A-Za-z]{32,}",
        r"npm_[0-9A-Za-z]{36,}",
        r"pypi-AgEIcHlwaS5vcmc[0-9A-Za-z_-]{50,}",
        r"hf_[A-Za-z]{34,}",
        r"api_org_[A-Za-z]{34,}",
        r"shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32,}",
        r"SG\.[0-9A-Za-z_=.-]{66,}",
        r"do[por]_v1_[0-9a-fA-F]{64,}",
        r"dp\.pt\.[0-9A-Za-z]{43,}",
        r"dapi[0-9a-fA-F]{32,}",
        r"glc_[A-Za-z0-9+/=_-]{32,}",
        r"glsa_[0-9A-Za-z_]{32,}",
        r"PMAK-[0-9A-Za-z-]{59,}",
        r"lin_api_[0-9A-Za-z]{40,}",
        r"AGE-SECRET-KEY-1[0-9A-Za-z]{58,}",
        r"hv[sb]\.[0-9A-Za-z_-]{24,}",
        r"pul-[0-9a-fA-F]{40,}",
        r"sntrys_[A-Za-z0-9+/=_-]{32,}",
        r"sntryu_[0-9a-fA-F]{64,}",
        r"sq0(?:atp|csp)-[0-9A-Za-z_-]{22,}",
        r"figd_[0-9A-Za-z_-]{40,}",
        r"NRAK-[0-9A-Za-z]{27,}",
        r"LTAI[0-9A-Za-z]{20,}",
        r"ops_eyJ[A-Za-z0-9+/=_-]{100,}",
        r"hth_[0-9A-Za-z]{46}",
    ];
    let names = r"(?i:token|secret|password|passwd|passphrase|pwd|key|apikey|credentials?|auth|session|cookie|code|code_verifier)";
    let rules = [
        format!(r"(?-u:\b)(?:{})", vendors.join("|")),
        r"(?-u:\b)eyJ[0-9A-Za-z_-]*\.[0-9A-Za-z_-]+(?:\.[0-9A-Za-z_-]*)+".to_owned(),
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\r\n ]|\\[nr])+?-----END [A-Z0-9 ]*-----".to_owned(),
        r"(?i:(?-u:\b)bearer)[ \t]+[0-9A-Za-z_\-.~+/]{8,}=*".to_owned(),
        r#"(?i:(?-u:\b)(?:proxy-)?authorization)["']?[ \t]*[=:][ \t]*["']?(?:[A-Za-z-]+[ \t]+)?[^\s&"',;<>}\]]+"#.to_owned(),
        format!(r#"{names}(?:\\?["'])?[ \t]*(?:=>|[=:]|%3[dD])[ \t]*(?:\\?["'])?[^\s&"',;<>}}\]]+"#),
        r"://[^\s/?#@]*:[^\s/?#@]+@".to_owned(),
        r#"curl(?-u:\b)[^\n]*?(?:-u|--user|--proxy-user)[ =]["']?[^\s:"']+:[^\s"']+"#.to_owned(),
        r"(?i:(?-u:\b)(?:set-)?cookie)[ \t]*:[ \t]*[^\s=;,]+=[^\s;,]+".to_owned(),
    ];
    rules.join("|")
}

fn peer_redact<'a>(re: &Regex, text: &'a str) -> Cow<'a, str> {
    re.replace_all(text, "[REDACTED]")
}

fn fill(lines: &[String], size: usize) -> String {
    let mut s = String::new();
    while s.len() < size {
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
    }
    s
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
    fill(&lines.map(String::from), 64 * 1024)
}

/// About 64 KiB where every line carries a secret of one of the shapes.
fn dense_text() -> String {
    let jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4iLCJpYXQiOjE1MTYyMzkwMjJ9.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    let lines = [
        "INFO  http: GET /me Authorization: Bearer ya29.a0AfH6SMBx3k9Jq7Lw-Zt2QpV8nR4uY1oE5cT6".to_owned(),
        "DEBUG oauth: POST /token grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".to_owned(),
        r#"DEBUG oauth: response {"access_token":"2YotnFZFEjr1zCsicMWpAA","refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","expires_in":3600}"#.to_owned(),
        format!("INFO  oidc: id_token verified {jwt}"),
        "DEBUG login: DB_PASSWORD=hunter2-correct-horse user=alice".to_owned(),
        "INFO  ci: pushed with ghp_0123456789abcdefghijABCDEFGHIJ012345 to origin".to_owned(),
        "WARN  aws: using AKIAIOSFODNN7EXAMPLE in us-east-1".to_owned(),
        "DEBUG db: connecting to postgres://app:s3cr3t-pw@db.internal:5432/app".to_owned(),
        "DEBUG http: Cookie: sessionid=9f86d081884c7d659a2feaa0c55ad015; csrftoken=a3f5b2c1".to_owned(),
        "INFO  slack: posted via xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx".to_owned(),
    ];
    fill(&lines, 64 * 1024)
}

/// 1 MiB of one trigger repeated: a hostile log line.
fn adversarial(trigger: &str) -> String {
    trigger.repeat((1 << 20) / trigger.len())
}

const ADVERSARIAL: &[&str] = &[
    "eyJ.",
    "password=",
    "authorization=",
    "-----BEGIN ",
    "ghp_",
    "://a:b@",
    "%3D",
];

fn main() {
    let re = regex::RegexBuilder::new(&peer_pattern())
        .size_limit(1 << 26)
        .build()
        .expect("peer pattern compiles");
    let dense = dense_text();
    // The peer must be a fair one: it must mask what we mask on the dense input.
    for secret in [
        "SplxlOBeZQQYbYS6WxSbIA",
        "hunter2-correct-horse",
        "ghp_0123456789",
        "AKIAIOSFODNN7EXAMPLE",
        "s3cr3t-pw",
        "9f86d081884c",
        "xoxb-1234",
        "SflKxwRJSMeKKF2QT4fw",
        "ya29.a0AfH6",
    ] {
        assert!(
            !hearth_token_guard::redact(&dense).contains(secret),
            "{secret}"
        );
        assert!(!peer_redact(&re, &dense).contains(secret), "peer: {secret}");
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let inputs = [("redact_clean", clean_text()), ("redact_dense", dense)];
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
    let hostile: Vec<(String, String)> = ADVERSARIAL
        .iter()
        .map(|t| (format!("redact_adversarial/{}", id(t)), adversarial(t)))
        .collect();
    {
        let mut g = c.benchmark_group("redact_adversarial");
        for (name, text) in &hostile {
            g.throughput(Throughput::Bytes(text.len() as u64));
            let id = name.trim_start_matches("redact_adversarial/");
            g.bench_function(id, |b| {
                b.iter(|| hearth_token_guard::redact(black_box(text)))
            });
        }
        g.finish();
    }
    c.final_summary();

    let mbps = |len: usize, ns: f64| len as f64 / ns * 1e3;
    for (name, text) in &inputs {
        if let (Some(ours), Some(peer)) = (
            median_ns(&format!("{name}/hearth")),
            median_ns(&format!("{name}/regex-peer")),
        ) {
            println!(
                "{name}: hearth {:.1} MB/s ({:.1} µs), regex-peer {:.1} MB/s ({:.1} µs), hearth is {:.2}x the peer",
                mbps(text.len(), ours),
                ours / 1e3,
                mbps(text.len(), peer),
                peer / 1e3,
                peer / ours
            );
        }
    }
    for (name, text) in &hostile {
        if let Some(ours) = median_ns(name) {
            println!(
                "{name}: hearth {:.1} MB/s on 1 MiB (target >= 100 MB/s)",
                mbps(text.len(), ours)
            );
        }
    }
}

/// A criterion id for a trigger: its letters and digits, or `pct3D` for `%3D`.
fn id(trigger: &str) -> String {
    let s: String = trigger
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let s = s.trim_matches('_').to_owned();
    if s == "3D" { "pct3D".into() } else { s }
}
