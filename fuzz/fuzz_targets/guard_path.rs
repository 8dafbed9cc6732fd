//! `check_canonical_path` against a slow, obviously correct reference (split into segments,
//! then each segment's escapes decoded one by one), on arbitrary paths: the two agree,
//! nothing panics, and an accepted path is its own normal form (collapsing `//`, resolving
//! dot segments and decoding needless escapes change nothing).
#![no_main]

use hearth_guard::check_canonical_path;
use libfuzzer_sys::fuzz_target;

fn unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn reference(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = rest.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if segment.is_empty() && i != last {
            return false;
        }
        if *segment == "." || *segment == ".." {
            return false;
        }
        if segment.ends_with('.') || segment.ends_with("%20") || segment.contains(';') {
            return false;
        }
        let b = segment.as_bytes();
        let mut j = 0;
        while j < b.len() {
            match b[j] {
                b'\\' | 0 => return false,
                b'%' => {
                    let Some(hex) = b.get(j + 1..j + 3) else {
                        return false;
                    };
                    let upper = |c: &u8| c.is_ascii_digit() || (b'A'..=b'F').contains(c);
                    if !hex.iter().all(upper) {
                        return false;
                    }
                    let text = std::str::from_utf8(hex).unwrap();
                    let decoded = u8::from_str_radix(text, 16).unwrap();
                    if decoded == b'/' || decoded == b'\\' || decoded == 0 || unreserved(decoded) {
                        return false;
                    }
                    j += 3;
                }
                _ => j += 1,
            }
        }
    }
    true
}

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let ok = check_canonical_path(path).is_ok();
    assert_eq!(ok, reference(path), "{path:?}");
    if ok {
        assert!(!path.contains("//") && !path.contains("/./") && !path.contains("/../"));
    }
});
