//! `Pin` parsing on arbitrary text: never panics; what parses prints back identically.
#![no_main]

use hearth_net_policy::Pin;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(pin) = text.parse::<Pin>() {
        assert_eq!(pin.to_string(), text, "canonical form round-trips");
    }
    let _ = Pin::of_certificate(data);
});
