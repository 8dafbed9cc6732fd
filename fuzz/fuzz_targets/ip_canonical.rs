//! The IP canonicalizer behind host patterns, on arbitrary text: never panics; whatever
//! it reads as an address reads back the same from its canonical spelling, agrees with
//! the standard library where that parses, and is matched by the pattern of that address.
#![no_main]

use std::net::IpAddr;

use hearth_net_policy::HostPattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(ip) = HostPattern::canonical_ip(text) else {
        return;
    };
    let canonical = ip.to_string();
    assert_eq!(HostPattern::canonical_ip(&canonical), Some(ip));
    if let Ok(strict) = text.parse::<IpAddr>() {
        assert_eq!(strict.to_canonical(), ip);
    }
    let pattern: HostPattern = canonical.parse().expect("an address is a pattern");
    assert!(pattern.matches(text), "{canonical} does not match {text:?}");
    assert!(!matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()));
});
