//! The redirect `Location` resolver on arbitrary input: never panics; what it returns is
//! an absolute http(s) URL with a host, without a fragment, that resolves again, and
//! resolving is a fixpoint after one more round (an absolute URL with its dot segments
//! removed resolves to itself; RFC 3986 keeps a base's own path as is for a `?q` or
//! empty reference).
#![no_main]

use hearth_net_policy::resolve_location;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (base, location) = text
        .split_once('\n')
        .unwrap_or(("https://a.example/dir/page?x=1", text));
    let Ok(base) = base.parse::<http::Uri>() else {
        return;
    };
    if let Ok(target) = resolve_location(&base, location) {
        assert!(target.scheme().is_some() && target.host().is_some_and(|h| !h.is_empty()));
        let printed = target.to_string();
        assert!(!printed.contains('#'), "{printed}");
        let again = resolve_location(&base, &printed).expect("an absolute URL resolves");
        let thrice = resolve_location(&base, &again.to_string()).expect("it resolves");
        assert_eq!(thrice, again);
    }
});
