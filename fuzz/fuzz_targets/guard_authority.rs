//! `Host` and `Origin` parsing and the loopback allowlist on arbitrary header values:
//! never panics; whatever is admitted really names a loopback host; a parsed value prints
//! back to something that parses to the same thing.
#![no_main]

use hearth_guard::{Authority, HostAllowlist, Origin, OriginAllowlist};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(a) = Authority::parse_host(text) {
        assert!(!a.host().is_empty());
        assert_eq!(Authority::parse_host(&a.to_string()), Some(a.clone()));
        if HostAllowlist::loopback().admits(text) {
            let loopback = a
                .host()
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
            assert!(loopback || a.host() == "localhost", "admitted {text:?}");
        }
    } else {
        assert!(!HostAllowlist::loopback().admits(text));
    }
    let origins = OriginAllowlist::empty()
        .allow("tauri://localhost")
        .unwrap()
        .allow("http://127.0.0.1:*")
        .unwrap();
    if origins.admits(text) {
        let o = Origin::parse(text).expect("admitted origins parse");
        assert!(
            (o.scheme() == "tauri" && o.host() == "localhost")
                || (o.scheme() == "http" && o.host() == "127.0.0.1"),
            "admitted {text:?}"
        );
    }
});
