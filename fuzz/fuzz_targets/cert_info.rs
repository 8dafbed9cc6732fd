//! The certificate describer (a small DER reader) on arbitrary bytes: never panics, never
//! reads out of bounds, and what it describes has the pin webpki computes.
#![no_main]

use hearth_net_policy::{CertInfo, Pin};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = CertInfo::from_der(data) {
        assert_eq!(Some(info.pin), Pin::of_certificate(data).ok());
        assert!(info.not_before.ends_with('Z') && info.not_after.ends_with('Z'));
    }
});
