//! Audit log lines and anchored heads on arbitrary input: never panics; a line that is
//! accepted is exactly its record's canonical text, and no record made without the key
//! carries a valid MAC.
#![no_main]

use hearth_audit::{AuditKey, Head, Record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(record) = Record::parse(text) {
        assert_eq!(record.line().strip_suffix('\n'), Some(text));
        let key = AuditKey::from_bytes(&[0x5a; 32]).unwrap();
        assert!(!record.verify_mac(&key), "a forged MAC verified: {text}");
    }
    if let Some(head) = Head::parse(text) {
        assert_eq!(head.to_string(), text);
    }
});
