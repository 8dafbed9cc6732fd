//! The URL policy on arbitrary URLs: never panics, and never allows plain HTTP to
//! anything but a loopback IP literal or (when allowed) localhost.
#![no_main]

use hearth_net_policy::UrlPolicy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(uri) = http::Uri::try_from(data) else {
        return;
    };
    let policy = UrlPolicy::default().allow_localhost_http();
    if policy.check(&uri).is_ok() && uri.scheme_str() == Some("http") {
        let host = uri.host().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        assert!(
            loopback || bare.eq_ignore_ascii_case("localhost"),
            "allowed plain HTTP to {host}"
        );
    }
    assert!(UrlPolicy::default().check(&uri).is_err() || uri.scheme_str() == Some("https"));
});
