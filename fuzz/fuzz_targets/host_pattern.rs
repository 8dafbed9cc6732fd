//! Host patterns on arbitrary input: parsing and matching never panic; a pattern matches
//! its own base name when it has no wildcard, and `**.` patterns match their base.
#![no_main]

use hearth_net_policy::HostPattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (pattern, host) = text.split_once('\n').unwrap_or((text, text));
    if let Ok(p) = pattern.parse::<HostPattern>() {
        let _ = p.matches(host);
        let printed = p.to_string();
        let again: HostPattern = printed.parse().expect("printed patterns parse");
        assert_eq!(again, p);
        if let Some(base) = printed.strip_prefix("**.") {
            assert!(p.matches(base));
        } else if !printed.starts_with("*.") {
            assert!(p.matches(&printed));
        }
    }
});
