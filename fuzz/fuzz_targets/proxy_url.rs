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
        // The oracle is differential: the same URL with every character of the password
        // changed must give the same Debug text. A substring test is fooled whenever the
        // rest of the input (or its Debug escaping) happens to hold the password too.
        if let Some((userinfo, at_host)) =
            url.strip_prefix("http://").and_then(|r| r.rsplit_once('@'))
            && let Some((user, password)) = userinfo.split_once(':')
            && !user.contains(['/', '?', '#'])
            && !password.is_empty()
            && password.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            let other: String = password
                .chars()
                .map(|c| if c == 'x' { 'y' } else { 'x' })
                .collect();
            let changed = format!("http://{user}:{other}@{at_host}");
            let twin = Proxy::new(&changed)
                .expect("only the password differs")
                .no_proxy(no_proxy);
            assert_eq!(
                format!("{proxy:?}"),
                format!("{twin:?}"),
                "credentials in Debug"
            );
        }
    }
});
