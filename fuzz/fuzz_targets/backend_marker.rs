//! The fallback chain's backend marker: arbitrary bytes never panic, and whatever parses
//! is exactly the one encoding a writer produces (so a marker can only mean one backend).
#![no_main]

use hearth_secure_storage::parse_backend_marker;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(name) = parse_backend_marker(data) {
        assert_eq!(format!("hearth-backend 1\n{name}\n").as_bytes(), data);
        assert!(!name.is_empty() && name.len() <= 32);
    }
});
