//! JWTs (RFC 7519) as JWS compact (RFC 7515 §7.1, three segments) or JWE compact (RFC 7516
//! §7.1, five): the header of each is base64url of `{"`, which always begins `eyJ`. The
//! whole dot-separated run is masked, however long.

use super::Detector;
use super::scan::{Scan, run};

fn is_b64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Checks the `eyJ` hit at `start`: at least three segments, the second not empty.
pub(super) fn check(scan: &mut Scan<'_>, start: usize) -> Option<usize> {
    let bytes = scan.bytes;
    // Case-sensitive, and not inside another base64url run.
    if &bytes[start..start + 3] != b"eyJ" || (start > 0 && is_b64url(bytes[start - 1])) {
        return None;
    }
    let mut end = run(bytes, start, is_b64url);
    let mut segments = 1;
    while end < bytes.len() && bytes[end] == b'.' {
        let next = run(bytes, end + 1, is_b64url);
        if segments == 1 && next == end + 1 {
            // An empty second segment: not a JWS payload; too weak a signal to mask.
            return None;
        }
        end = next;
        segments += 1;
    }
    if segments < 3 {
        return None;
    }
    scan.mask(start..end, Detector::Jwt);
    Some(end)
}

#[cfg(test)]
mod tests {
    fn masked(text: &str) -> String {
        crate::redact(text).into_owned()
    }

    #[test]
    fn jws_and_jwe_need_three_segments() {
        // RFC 7519 §3.1's example JWT.
        let jwt = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert_eq!(masked(&format!("id={jwt} next")), "id=[REDACTED] next");
        assert_eq!(masked("eyJhbGciOiJub25lIn0.eyJ4IjoxfQ."), "[REDACTED]");
        for clean in [
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0",
            "keyJane.smith.example",
            "EYJ.abc.def",
            "eyJ..x",
        ] {
            assert_eq!(masked(clean), clean);
        }
    }
}
