//! The vault parser on arbitrary bytes: `inspect` (no key) and `decrypt_all` (a fixed raw
//! key) never panic and never allocate beyond the input. Built with `--cfg fuzzing`, the
//! vault skips its checksum and MAC comparisons so the fuzzer reaches the entry parser
//! behind them (VAULT-FORMAT.md); decryption still has to succeed for an entry to count.
#![no_main]

use hearth_secure_storage::{KeySource, vault};
use hearth_token_guard::SecretBytes;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(info) = vault::inspect(data) {
        assert!(info.version == 1 || info.version == 2);
        assert!((info.entries as usize) * 63 <= data.len());
    }
    let key = KeySource::RawKey(SecretBytes::from_slice(&[0x42; 32]));
    if let Ok(entries) = vault::decrypt_all(data, &key) {
        assert!(
            entries.windows(2).all(|w| w[0].0 < w[1].0),
            "entries sorted, unique"
        );
    }
});
