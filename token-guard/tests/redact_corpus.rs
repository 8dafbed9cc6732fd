//! The redaction corpus (`tests/data/`): every secret line masked, by the detector it is
//! tagged with, and every benign line left byte for byte; also with each secret cut by a
//! chunk boundary of the search and by a piece boundary of the stream.

use hearth_token_guard::{Redactor, find_secrets, redact};

const SECRETS: &str = include_str!("data/secrets.txt");
const BENIGN: &str = include_str!("data/benign.txt");

/// A corpus line: its detector, its source, the text, and the secrets' byte ranges.
struct Case {
    detector: &'static str,
    source: &'static str,
    text: String,
    secrets: Vec<std::ops::Range<usize>>,
}

fn cases() -> Vec<Case> {
    SECRETS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let mut cols = l.splitn(3, '\t');
            let (detector, source, marked) = (
                cols.next().unwrap(),
                cols.next().unwrap(),
                cols.next().expect("three tab-separated columns"),
            );
            let mut text = String::new();
            let mut secrets = Vec::new();
            let mut rest = marked;
            while let Some(open) = rest.find('⟦') {
                text.push_str(&rest[..open]);
                let after = &rest[open + '⟦'.len_utf8()..];
                let close = after.find('⟧').expect("every ⟦ is closed");
                secrets.push(text.len()..text.len() + close);
                text.push_str(&after[..close]);
                rest = &after[close + '⟧'.len_utf8()..];
            }
            text.push_str(rest);
            assert!(!secrets.is_empty(), "no secret marked in: {l}");
            Case {
                detector,
                source,
                text,
                secrets,
            }
        })
        .collect()
}

/// The secret's text survives in `out` (a masked secret leaves none of it behind).
fn survives(out: &str, secret: &str) -> bool {
    out.contains(secret)
}

#[test]
fn at_least_150_secret_lines_and_none_survives() {
    let cases = cases();
    assert!(cases.len() >= 150, "{} secret lines", cases.len());
    let mut detectors = std::collections::BTreeSet::new();
    for case in &cases {
        assert!(!case.source.is_empty());
        let out = redact(&case.text);
        for s in &case.secrets {
            let secret = &case.text[s.clone()];
            assert!(
                !survives(&out, secret),
                "[{}] survived: {}\n  out: {out}",
                case.detector,
                case.text
            );
        }
        // Found by the detector the line is tagged with.
        let found = find_secrets(case.text.as_bytes());
        assert!(
            found.iter().any(|f| f.detector.name() == case.detector
                && case
                    .secrets
                    .iter()
                    .any(|s| f.range.start < s.end && s.start < f.range.end)),
            "[{}] not found by its detector: {}: {found:?}",
            case.detector,
            case.text
        );
        detectors.insert(case.detector);
    }
    for family in [
        "github",
        "gitlab",
        "slack",
        "aws",
        "google",
        "openai",
        "anthropic",
        "stripe",
        "npm",
        "pypi",
        "huggingface",
        "hearth",
        "jwt",
        "private-key",
        "name",
        "bearer",
        "authorization",
        "url-userinfo",
        "curl-user",
        "cookie",
    ] {
        assert!(detectors.contains(family), "no corpus line for {family}");
    }
}

#[test]
fn at_least_100_benign_lines_pass_byte_for_byte() {
    let lines: Vec<&str> = BENIGN
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(lines.len() >= 100, "{} benign lines", lines.len());
    for line in lines {
        assert_eq!(redact(line), line);
    }
    let mut out = Vec::new();
    let tally = Redactor::new()
        .redact_stream(BENIGN.as_bytes(), &mut out)
        .unwrap();
    assert_eq!(tally.total(), 0, "{tally}");
    assert_eq!(out, BENIGN.as_bytes());
}

/// Every secret line placed so that its secret straddles a 4 KiB chunk of the search, at
/// each offset of a 64-byte window.
#[test]
fn secrets_cut_by_a_search_chunk_boundary_are_masked() {
    const CHUNK: usize = 4096;
    for case in cases() {
        for s in &case.secrets {
            for k in 0..64 {
                // Put byte `s.start + k - 32` of the line at the chunk boundary.
                let Some(pad) = (CHUNK + 32).checked_sub(s.start + k) else {
                    continue;
                };
                let text = format!("{}\n{}", "x".repeat(pad.saturating_sub(1)), case.text);
                let out = redact(&text);
                let secret = &case.text[s.clone()];
                assert!(
                    !survives(&out, secret),
                    "[{}] offset {k}: {}",
                    case.detector,
                    case.text
                );
            }
        }
    }
}

/// One secret of each detector straddling the stream's 1 MiB piece boundary at each
/// offset of a 64-byte window, in one long line.
#[test]
fn secrets_cut_by_a_stream_piece_boundary_are_masked() {
    const PIECE: usize = 1 << 20;
    let cases = cases();
    let mut seen = std::collections::BTreeSet::new();
    let samples: Vec<&Case> = cases
        .iter()
        .filter(|c| c.secrets.len() == 1 && seen.insert(c.detector))
        .collect();
    for case in samples {
        let s = &case.secrets[0];
        for k in 0..64 {
            let Some(pad) = (PIECE + 32).checked_sub(s.start + k) else {
                continue;
            };
            let mut input = vec![b'x'; pad - 1];
            input.push(b' ');
            input.extend_from_slice(case.text.as_bytes());
            input.extend_from_slice(b" end\n");
            let mut out = Vec::new();
            Redactor::new().redact_stream(&input[..], &mut out).unwrap();
            let out = String::from_utf8(out).unwrap();
            let secret = &case.text[s.clone()];
            assert!(
                !survives(&out, secret),
                "[{}] offset {k}: {}",
                case.detector,
                case.text
            );
            assert!(out.ends_with(" end\n"));
        }
    }
}
