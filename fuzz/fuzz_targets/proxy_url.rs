//! Proxy URLs and `NO_PROXY` lists (read from the environment) on arbitrary input: never
//! panic, and a parsed proxy's `Debug` never shows its credentials.
#![no_main]

use hearth_net_policy::Proxy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (url, rest) = text.split_once('\n').unwrap_or((text, ""));
    let (no_proxy, host) = rest.split_once('\n').unwrap_or((rest, "example.com"));
    if let Ok(proxy) = Proxy::new(url) {
        let proxy = proxy.no_proxy(no_proxy);
        let _ = proxy.applies_to(host);
        if let Some((userinfo, _)) = url.strip_prefix("http://").and_then(|r| r.rsplit_once('@'))
            && let Some((_, password)) = userinfo.split_once(':')
            && password.len() >= 8
            && password.bytes().all(|b| b.is_ascii_alphanumeric())
            // (unless the host or the bypass list, which Debug does show, hold it too)
            && !no_proxy.to_ascii_lowercase().contains(&password.to_ascii_lowercase())
            // (Debug escapes the list: `\0` then `0…` reads as a run of zeros)
            && !format!("{no_proxy:?}").to_ascii_lowercase().contains(&password.to_ascii_lowercase())
            && !url.rsplit_once('@').is_some_and(|(_, h)| h.contains(password))
        {
            assert!(!format!("{proxy:?}").contains(password), "credentials in Debug");
        }
    }
});
